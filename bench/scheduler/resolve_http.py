"""``GET /v1/resolve`` over HTTP: a running meshfed API against a bare aiohttp handler that
returns a body of the same size, both measured in the same run by the same client.

Each server runs in its own process (so the client does not share its event loop); the client
keeps ``concurrency`` requests in flight on loopback for ``seconds``. On a small machine the
client itself can limit the request rate, so the server's CPU time per request is reported
too: that ratio is the cost of meshfed's work (auth, locating the client, the resolve) over
plain aiohttp serving the same bytes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "bench-token-viewer"
QUERY = "/v1/resolve?service=payments.prod&client_region=aws:eu-west-2"
CONFIG = """
federation: {name: bench, trust_domain: bench.mesh}
store: memory://
api: {listen: 127.0.0.1:0}
clusters:
  - {name: aws-euw2, cloud: aws, region: eu-west-2}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1}
  - {name: aws-use1, cloud: aws, region: us-east-1}
providers:
  - name: local
    kind: static
    endpoints:
%s
services:
  - {name: payments.prod, port: 8080, routing: {mode: geo}}
"""


def _config_text() -> str:
    rows = [
        f"      - {{cluster: {cluster}, service: payments.prod, address: 127.0.{c}.{i}, "
        f"port: 9443, health: healthy}}"
        for c, cluster in enumerate(("aws-euw2", "gcp-euw1", "aws-use1"))
        for i in range(1, 5)
    ]
    return CONFIG % "\n".join(rows)


async def _meshfed(pipe: Connection) -> None:
    from federation.config import parse_config
    from federation.model import Role, TokenSpec
    from federation.service import running_service
    from federation.tokens import token_hash

    config = parse_config(_config_text())
    token = TokenSpec(name="bench", role=Role.VIEWER, sha256=token_hash(TOKEN))
    config = config.model_copy(update={"api": config.api.model_copy(update={"tokens": [token]})})
    async with running_service(config) as running:
        pipe.send(running.url)
        await _answer_until_stopped(pipe)


async def _bare(pipe: Connection, body: bytes) -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/resolve", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    pipe.send(f"http://127.0.0.1:{runner.addresses[0][1]}")
    await _answer_until_stopped(pipe)
    await runner.cleanup()


async def _answer_until_stopped(pipe: Connection) -> None:
    # The parent asks for this process's CPU time around the load, so the cost per request is
    # known even when the client, not the server, limits the request rate.
    while await asyncio.to_thread(pipe.recv) == "cpu":
        pipe.send(time.process_time())


def _serve(kind: str, pipe: Connection, body: bytes) -> None:
    asyncio.run(_meshfed(pipe) if kind == "meshfed" else _bare(pipe, body))


async def _ready_body(url: str, session: aiohttp.ClientSession) -> bytes:
    # Discovery writes the endpoints just after start: wait until all twelve are routed.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        async with session.get(url + QUERY, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            body = await r.read()
            if r.status == 200 and body.count(b'"address"') >= 13:
                return body
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} did not route all endpoints within 10s")


async def _load(url: str, seconds: float, concurrency: int, pipe: Connection) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while (started := time.perf_counter()) < deadline:
                async with session.get(url + QUERY, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        pipe.send("cpu")
        cpu_before = pipe.recv()
        began = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
        elapsed = time.perf_counter() - began
        pipe.send("cpu")
        server_cpu = pipe.recv() - cpu_before
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(cuts[49] * 1e3, 2),
        "p99_ms": round(cuts[98] * 1e3, 2),
        "server_cpu_us_per_request": round(server_cpu / len(latencies) * 1e6, 1),
    }


def _measure(
    kind: str, body: bytes, seconds: float, concurrency: int
) -> tuple[dict[str, Any], bytes]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(kind, child, body), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise TimeoutError(f"the {kind} server did not start within 30s")
        url = parent.recv()

        async def run() -> tuple[dict[str, Any], bytes]:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                sample = await _ready_body(url, session)
            return await _load(url, seconds, concurrency, parent), sample

        return asyncio.run(run())
    finally:
        parent.send("stop")
        process.join(15)
        if process.is_alive():
            process.terminate()


def bench_resolve_http(seconds: float, concurrency: int) -> dict[str, Any]:
    meshfed, body = _measure("meshfed", b"", seconds, concurrency)
    bare, same = _measure("bare", body, seconds, concurrency)
    assert same == body
    return {
        "seconds_per_side": seconds,
        "concurrency": concurrency,
        "body_bytes": len(body),
        "meshfed": meshfed,
        "baseline_bare_aiohttp": bare,
        "meshfed_vs_bare_requests_per_s_ratio": round(
            meshfed["requests_per_s"] / bare["requests_per_s"], 3
        ),
        "meshfed_vs_bare_server_cpu_ratio": round(
            meshfed["server_cpu_us_per_request"] / bare["server_cpu_us_per_request"], 2
        ),
    }
