"""Soak: a control plane (``meshfed serve``) and ``meshfed gateway --mode passthrough`` in front
of a TLS echo backend, under progressive load steps and then steady traffic, while the config
churns through the API and the CA rotates; RSS and open file descriptors of both processes are
sampled from /proc, and growth over the steady half decides pass or fail.

    .venv/bin/python -m bench.soak.run [--duration 10m] [--steps 100,1000,5000] [--steady-rps 500]

Everything listens on 127.0.0.1. Samples go to stderr as they are taken; one JSON document
goes to stdout at the end. Exit 1 when memory or descriptors keep growing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.soak.load import StepResult, run_step
from bench.soak.processes import TOKEN, SoakProcesses, sample, soak_processes
from federation.durations import parse_duration

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHURN_INTERVAL = 1.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=5)


@dataclass
class Observations:
    samples: list[dict[str, float]] = field(default_factory=list)
    churn: Counter[str] = field(default_factory=Counter)
    rotation: dict[str, Any] = field(default_factory=dict)


async def _sampler(
    procs: SoakProcesses, started: float, interval: float, into: Observations
) -> None:
    while True:
        serve, gateway = sample(procs.serve_pid), sample(procs.gateway_pid)
        row = {
            "t": round(time.monotonic() - started, 1),
            "serve_rss_kib": serve.rss_kib,
            "serve_fds": serve.open_fds,
            "gateway_rss_kib": gateway.rss_kib,
            "gateway_fds": gateway.open_fds,
        }
        into.samples.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)
        await asyncio.sleep(interval)


async def _churn(http: aiohttp.ClientSession, api: str, into: Observations) -> None:
    """Config writes one a second: a service created then deleted, and a cluster whose gateway
    port moves, so routes, the scheduler and the gateway's long-poll all see changes."""
    n = 0
    while True:
        n += 1
        try:
            await _churn_once(http, api, n)
            into.churn["ok"] += 1
        except (aiohttp.ClientError, TimeoutError, ChurnError) as exc:
            into.churn[type(exc).__name__ + (f" {exc}" if isinstance(exc, ChurnError) else "")] += 1
        await asyncio.sleep(CHURN_INTERVAL)


class ChurnError(Exception):
    pass


async def _checked(response: aiohttp.ClientResponse, *ok: int) -> dict[str, Any]:
    async with response:
        if response.status not in ok:
            raise ChurnError(f"{response.method} {response.url.path}: {response.status}")
        body: dict[str, Any] = await response.json() if response.status != 204 else {}
        return body


async def _churn_once(http: aiohttp.ClientSession, api: str, n: int) -> None:
    url = f"{api}/v1/services/churn.prod"
    created = await _checked(await http.put(url, json={"name": "churn.prod", "port": 9000}), 201)
    revision = {"If-Match": f'"{created["revision"]}"'}
    await _checked(await http.delete(url, headers=revision), 200, 204)
    cluster_url = f"{api}/v1/clusters/gcp-euw1"
    current = await _checked(await http.get(cluster_url), 200)
    body = {
        "name": "gcp-euw1",
        "cloud": "gcp",
        "region": "europe-west1",
        "gateway": {"address": "127.0.0.1", "port": 20000 + n % 1000},
    }
    await _checked(
        await http.put(cluster_url, json=body, headers={"If-Match": f'"{current["revision"]}"'}),
        200,
    )


async def _rotate_at(
    http: aiohttp.ClientSession, api: str, delay: float, into: Observations
) -> None:
    await asyncio.sleep(delay)
    async with http.post(f"{api}/v1/trust/rotate", json={}) as response:
        into.rotation = {
            "at_s": round(delay, 1),
            "status": response.status,
            **await response.json(),
        }


async def _wait_for_route(procs: SoakProcesses, context: ssl.SSLContext) -> None:
    # The gateway learns its routes by long-poll; the first request may beat them.
    deadline = time.monotonic() + 30
    while (await run_step(procs.gateway, context, 10, 0.2)).success_percent < 100:
        if time.monotonic() > deadline:
            raise SystemExit("the gateway never routed the echo backend; see processes.log")


def growth(samples: list[dict[str, float]], process: str) -> dict[str, float]:
    """RSS slope (KiB/min, least squares) and descriptor growth over the second half."""
    half = samples[len(samples) // 2 :]
    minutes = [row["t"] / 60 for row in half]
    rss = [row[f"{process}_rss_kib"] for row in half]
    fds = [row[f"{process}_fds"] for row in half]
    slope = statistics.linear_regression(minutes, rss).slope if len(half) > 1 else 0.0
    return {
        "rss_start_kib": rss[0],
        "rss_end_kib": rss[-1],
        "rss_slope_kib_per_min": round(slope, 1),
        "fd_growth": max(fds) - fds[0],
    }


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    duration = parse_duration(args.duration).total_seconds()
    steps = [int(s) for s in args.steps.split(",")]
    step_seconds = duration / 2 / len(steps)
    seen = Observations()
    with tempfile.TemporaryDirectory(prefix="meshfed-soak-") as directory:
        async with (
            soak_processes(Path(directory)) as procs,
            aiohttp.ClientSession(headers=AUTH, timeout=HTTP_TIMEOUT) as http,
        ):
            context = ssl.create_default_context(cafile=procs.backend_cert)
            await _wait_for_route(procs, context)
            started = time.monotonic()
            interval = max(1.0, min(10.0, duration / 60))
            async with asyncio.TaskGroup() as group:
                background = [
                    group.create_task(_sampler(procs, started, interval, seen)),
                    group.create_task(_churn(http, procs.api_url, seen)),
                    group.create_task(_rotate_at(http, procs.api_url, duration * 0.6, seen)),
                ]
                results: list[StepResult] = []
                for target in steps:
                    results.append(await run_step(procs.gateway, context, target, step_seconds))
                    print(json.dumps(results[-1].to_json()), file=sys.stderr, flush=True)
                steady_seconds = duration - step_seconds * len(steps)
                steady = await run_step(procs.gateway, context, args.steady_rps, steady_seconds)
                for task in background:
                    task.cancel()
    verdict = {name: growth(seen.samples, name) for name in ("serve", "gateway")}
    passed = all(
        g["rss_slope_kib_per_min"] < args.max_rss_slope and g["fd_growth"] <= args.max_fd_growth
        for g in verdict.values()
    )
    return {
        "benchmark": "soak",
        "duration_s": duration,
        "steps": [r.to_json() for r in results],
        "steady": steady.to_json(),
        "churn": dict(seen.churn),
        "rotation": seen.rotation,
        "growth": verdict,
        "bounds": {"rss_slope_kib_per_min": args.max_rss_slope, "fd_growth": args.max_fd_growth},
        "pass": passed,
        "samples": seen.samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="10m", help="whole run, e.g. 90s or 10m")
    parser.add_argument("--steps", default="100,1000,5000", help="request rates of the steps")
    parser.add_argument("--steady-rps", type=int, default=500, help="rate in the steady half")
    parser.add_argument(
        "--max-rss-slope", type=float, default=1024.0, help="KiB/min allowed in the steady half"
    )
    parser.add_argument("--max-fd-growth", type=int, default=16, help="descriptors allowed")
    report = asyncio.run(soak(parser.parse_args()))
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["pass"] else 1)


if __name__ == "__main__":
    main()
