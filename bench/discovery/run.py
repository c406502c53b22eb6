"""Discovery benchmark: 10,000 endpoints across moto, the Compute fake and the ARM fake (HTTPS,
a CA made for the run), synced through the discovery loop and registry into sqlite, against the
bare SDK listing of the same pages in the same run. Prints one JSON object.

    .venv/bin/python -m bench.discovery.run [--scale F] [--aws-page-size N]   (from the repo root)

Passes, in order: both sides list once untimed (clients built, connections open, the servers'
first-call costs paid), then for the full set and again after ~1% churn, the SDK listing and
the meshfed sync. Each side runs in a worker process of its own, so
the peak RSS reported is that side's alone. Everything listens on 127.0.0.1 and is stopped at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from bench.discovery.seed import (
    PROJECT,
    REGION,
    SUBSCRIPTION,
    Layout,
    churn_aws,
    churn_azure,
    churn_gcp,
    seed_aws,
    seed_azure,
    seed_gcp,
)
from bench.discovery.worker import Targets, peak_rss_mb
from tests.support.azure_fake import AzureFake
from tests.support.fake_http import serving
from tests.support.gcp_fake import GcpFake
from tests.support.moto_server import FAKE_ENV, UNSET
from tests.support.test_ca import make_test_ca

PASS_TIMEOUT = 300.0  # one pass of one worker; the whole run takes well under that
CLOUDS = ("aws", "gcp", "azure")


class Worker:
    """A worker process (``bench.discovery.<module>``) driven one pass at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.ready: dict[str, Any] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, module: str, targets: Targets) -> AsyncIterator[Worker]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"bench.discovery.{module}",
            targets.to_json(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(process)
        try:
            worker.ready = await worker._answer()
            yield worker
        finally:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def one_pass(self, command: str = "pass") -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(command.encode() + b"\n")
        await self._process.stdin.drain()
        return await self._answer()

    async def _answer(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), PASS_TIMEOUT)
        if not line:
            code = await self._process.wait()
            raise RuntimeError(f"benchmark worker exited with status {code}: see its stderr")
        answer: dict[str, Any] = json.loads(line)
        return answer


@contextlib.contextmanager
def fake_aws_environment() -> Iterator[None]:
    """Only the fake credentials, and no proxy between boto3 and moto; the workers inherit it."""
    saved = dict(os.environ)
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ.update(FAKE_ENV)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def ratio(measured: float, baseline: float) -> float:
    return round(measured / baseline, 2) if baseline else 0.0


def compare(raw: dict[str, Any], synced: dict[str, Any]) -> dict[str, Any]:
    """One phase: the listing, the sync, and the sync's cost over the listing, overall and for
    each cloud."""
    return {
        "raw_listing": raw,
        "meshfed_sync": synced,
        "overhead_ratio": ratio(synced["wall_seconds"], raw["wall_seconds"]),
        "overhead_ratio_by_cloud": {
            cloud: ratio(synced["clouds"][cloud]["seconds"], raw["clouds"][cloud]["seconds"])
            for cloud in CLOUDS
        },
    }


async def measure(targets: Targets, layout: Layout, churn: Callable[[], None]) -> dict[str, Any]:
    async with (
        Worker.started("raw_listing", targets) as raw,
        Worker.started("meshfed_sync", targets) as meshfed,
    ):
        warmups = await asyncio.gather(raw.one_pass("warmup"), meshfed.one_pass("warmup"))
        full_raw = await raw.one_pass()
        full = await meshfed.one_pass()
        churn()
        incremental_raw = await raw.one_pass()
        incremental = await meshfed.one_pass()
    found = {cloud: full["clouds"][cloud]["endpoints"] for cloud in CLOUDS}
    if found != layout.by_cloud:
        raise RuntimeError(f"the full sync found {found} endpoints, expected {layout.by_cloud}")
    return {
        "warmup_seconds": {
            "raw_listing": warmups[0]["wall_seconds"],
            "meshfed_discover": warmups[1]["wall_seconds"],
        },
        "full_sync": compare(full_raw, full),
        "incremental_sync": compare(incremental_raw, incremental),
        "peak_rss_mb": {
            "raw_listing_worker": incremental_raw["peak_rss_mb"],
            "raw_listing_worker_after_imports": raw.ready["peak_rss_mb"],
            "meshfed_worker": incremental["peak_rss_mb"],
            "meshfed_worker_after_imports": meshfed.ready["peak_rss_mb"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every resource count by F"
    )
    parser.add_argument("--aws-page-size", type=int, default=100)
    parser.add_argument(
        "--store",
        choices=("sqlite", "memory"),
        default="sqlite",
        help="memory:// shows what the registry costs without sqlite's durable writes",
    )
    args = parser.parse_args()
    # moto's server logs every request to stderr.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    layout = Layout().scaled(args.scale)
    started = time.perf_counter()
    with (
        fake_aws_environment(),
        tempfile.TemporaryDirectory(prefix="meshfed-bench-") as work,
        moto_server() as aws_url,
    ):
        ca = make_test_ca(Path(work))
        gcp, azure = GcpFake(), AzureFake()
        with serving(gcp) as gcp_url, serving(azure, ca.server_context()) as azure_url:
            seeding = time.perf_counter()
            services = seed_aws(aws_url, layout)
            seed_gcp(gcp, layout)
            seed_azure(azure, layout)
            seed_seconds = time.perf_counter() - seeding
            targets = Targets(
                aws_url=aws_url,
                aws_region=REGION,
                aws_page_size=args.aws_page_size,
                gcp_url=gcp_url,
                gcp_project=PROJECT,
                azure_url=azure_url,
                azure_subscription=SUBSCRIPTION,
                azure_token=azure.token,
                azure_ca_file=str(ca.ca_file),
                call_timeout=30.0,
                store_url=(
                    f"sqlite:///{Path(work) / 'state.db'}"
                    if args.store == "sqlite"
                    else "memory://"
                ),
            )

            def churn() -> None:
                churn_aws(services, layout)
                churn_gcp(gcp, layout)
                churn_azure(azure, layout)

            results = asyncio.run(measure(targets, layout, churn))
    report = {
        "benchmark": "discovery",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "endpoints": layout.endpoints,
        "endpoints_by_cloud": layout.by_cloud,
        "churn_by_cloud": {
            "added": layout.churn_added,
            "removed": layout.churn_removed,
            "changed": layout.churn_changed,
        },
        "aws_page_size": args.aws_page_size,
        "store": args.store,
        "seed_seconds": round(seed_seconds, 2),
        **results,
        "fakes_process_peak_rss_mb": peak_rss_mb(),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
