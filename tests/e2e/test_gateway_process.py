"""``meshfed gateway`` as a real process: TLS through it by SNI, metrics, access log, drain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from federation.tokens import token_hash
from tests.e2e.serve_process import ServeProcess, free_port
from tests.federation.gateway.pki import Identity, issue_identity

SNI = "outbound_.8080_._.payments.prod.svc.cluster.local"
DEADLINE = 15.0
GATEWAY_TOKEN = "e2e-gateway-token"
REPORTS = "meshfed_gateway_outlier_reports_total"


@dataclass
class EchoBackend:
    identity: Identity
    port: int


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(b"echo: " + line)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[EchoBackend]:
    identity = issue_identity(tmp_path, "payments", [SNI, "payments.prod.svc.cluster.local"])
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, ssl=identity.server_context())
    yield EchoBackend(identity, server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


@dataclass
class GatewayProcess:
    process: asyncio.subprocess.Process
    address: tuple[str, int]
    metrics_url: str
    access_log: Path
    log: list[dict[str, Any]]


def _config(directory: Path, backend_port: int) -> Path:
    path = directory / "meshfed.yaml"
    path.write_text(
        f"""
federation: {{name: e2e, trust_domain: e2e.mesh}}
store: memory://
clusters:
  - {{name: aws-use1, cloud: aws, region: us-east-1}}
providers:
  - name: local
    kind: static
    endpoints:
      - {{cluster: aws-use1, service: payments.prod, address: 127.0.0.1, port: {backend_port}}}
services:
  - {{name: payments.prod, port: 8080}}
"""
    )
    return path


async def _read_log(stream: asyncio.StreamReader, into: list[dict[str, Any]]) -> None:
    # Read to the end, so a chatty gateway never blocks on a full stderr pipe.
    while line := await stream.readline():
        if line.startswith(b"{"):
            into.append(json.loads(line))


@asynccontextmanager
async def gateway_process(
    config: Path, access_log: Path, *flags: str, env: dict[str, str] | None = None
) -> AsyncIterator[GatewayProcess]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "federation.cli", "gateway", "--config", str(config)),
        *("--cluster", "aws-use1", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"),
        *("--access-log", str(access_log), "--drain-timeout", "10s", *flags),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert process.stderr is not None
    log: list[dict[str, Any]] = []
    reader = asyncio.create_task(_read_log(process.stderr, log))
    try:
        async with asyncio.timeout(DEADLINE):
            while not (listening := [e for e in log if e["message"] == "gateway listening"]):
                if reader.done():
                    raise AssertionError(f"the gateway exited: {log}")
                await asyncio.sleep(0.02)
        host, _, port = listening[0]["address"].rpartition(":")
        metrics = f"http://{listening[0]['metrics']}/metrics"
        yield GatewayProcess(process, (host, int(port)), metrics, access_log, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader


@pytest.fixture
async def gateway(tmp_path: Path, backend: EchoBackend) -> AsyncIterator[GatewayProcess]:
    config = _config(tmp_path, backend.port)
    async with gateway_process(config, tmp_path / "access.log") as running:
        yield running


async def _open(
    address: tuple[str, int], identity: Identity
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    # The client verifies the backend's certificate for the SNI it sent: the gateway only relays.
    return await asyncio.open_connection(
        *address, ssl=identity.client_context(), server_hostname=SNI
    )


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes
) -> bytes:
    async with asyncio.timeout(DEADLINE):
        writer.write(line)
        await writer.drain()
        return await reader.readline()


async def _metric(url: str, name: str, **labels: str) -> float | None:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def _until_metric(url: str, value: float, name: str, **labels: str) -> None:
    # The count lands when the relay ends, a moment after the client's close.
    async def reached() -> bool:
        return await _metric(url, name, **labels) == value

    await _eventually(reached)


async def test_gateway_process_relays_by_sni_counts_logs_and_drains_on_sigterm(
    gateway: GatewayProcess, backend: EchoBackend
) -> None:
    reader, writer = await _open(gateway.address, backend.identity)
    assert await _exchange(reader, writer, b"first\n") == b"echo: first\n"
    writer.close()
    await writer.wait_closed()

    await _until_metric(
        gateway.metrics_url,
        1.0,
        "meshfed_gateway_connections_total",
        route="payments.prod",
        outcome="relayed",
    )

    # A second connection is open and mid-conversation when SIGTERM arrives.
    reader, writer = await _open(gateway.address, backend.identity)
    assert await _exchange(reader, writer, b"before\n") == b"echo: before\n"
    active = await _metric(
        gateway.metrics_url, "meshfed_gateway_active_connections", route="payments.prod"
    )
    assert active == 1.0
    gateway.process.send_signal(signal.SIGTERM)

    async with asyncio.timeout(DEADLINE):
        while True:
            try:
                _, probe = await asyncio.open_connection(*gateway.address)
            except ConnectionRefusedError:
                break
            probe.close()
            await asyncio.sleep(0.05)
    assert await _exchange(reader, writer, b"during drain\n") == b"echo: during drain\n"
    assert gateway.process.returncode is None
    writer.close()
    await writer.wait_closed()
    async with asyncio.timeout(DEADLINE):
        assert await gateway.process.wait() == 0

    lines = [json.loads(line) for line in gateway.access_log.read_text().splitlines()]
    # Probes that connected before the listener closed end mid-hello, without an SNI.
    routed = [line for line in lines if line["sni"] is not None]
    assert len(routed) == 2
    first, drained = routed
    assert drained["outcome"] == "relayed"
    assert drained["sni"] == SNI
    assert drained["route"] == "payments.prod"
    assert drained["upstream"] == f"127.0.0.1:{backend.port}"
    assert drained["upstream_cluster"] == "aws-use1"
    assert drained["client"].startswith("127.0.0.1:")
    assert drained["bytes_in"] > 0 and drained["bytes_out"] > 0
    assert drained["duration_s"] > 0 and drained["connect_s"] >= 0
    assert "peer_id" in drained and drained["peer_id"] is None
    assert first["connection_id"] < drained["connection_id"]


def _serve_config(directory: Path, api_port: int, backend_port: int, refusing_port: int) -> Path:
    path = directory / "serve.yaml"
    path.write_text(
        f"""
federation: {{name: e2e, trust_domain: e2e.mesh}}
store: memory://
api:
  listen: 127.0.0.1:{api_port}
  tokens: [{{name: gateway, role: operator, sha256: "{token_hash(GATEWAY_TOKEN)}"}}]
clusters:
  - {{name: aws-use1, cloud: aws, region: us-east-1}}
providers:
  - name: local
    kind: static
    refresh_interval: 1s
    endpoints:
      - {{cluster: aws-use1, service: payments.prod, address: 127.0.0.1, port: {refusing_port},
         weight: 5}}
      - {{cluster: aws-use1, service: payments.prod, address: 127.0.0.1, port: {backend_port}}}
services:
  - name: payments.prod
    port: 8080
    outlier_detection: {{consecutive_connect_failures: 3}}
"""
    )
    return path


async def _eventually(check: Callable[[], Awaitable[object]]) -> None:
    async with asyncio.timeout(DEADLINE):
        # Polls another process, which has no event to wait on.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _routes_applied(log: list[dict[str, Any]], upstreams: int) -> bool:
    return any(e["message"] == "routes applied" and e["upstreams"] >= upstreams for e in log)


async def test_a_gateway_following_meshfed_serve_routes_discovered_endpoints_and_reports_failures(
    tmp_path: Path, backend: EchoBackend
) -> None:
    api_port, refusing_port = free_port(), free_port()
    config = _serve_config(tmp_path, api_port, backend.port, refusing_port)
    server = await asyncio.to_thread(ServeProcess, config, api_port, tmp_path / "serve.log")
    try:
        async with gateway_process(
            config,
            tmp_path / "access.log",
            *("--server", server.url),
            env={"MESHFED_TOKEN": GATEWAY_TOKEN},
        ) as gateway:
            # Routes arrive by long-poll once discovery has written the static endpoints.
            await _eventually(lambda: _routes_applied(gateway.log, upstreams=2))
            reader, writer = await _open(gateway.address, backend.identity)
            # The heavier endpoint refuses; the connect is retried on the backend.
            assert await _exchange(reader, writer, b"via api\n") == b"echo: via api\n"
            writer.close()
            await writer.wait_closed()
            await _eventually(lambda: _metric(gateway.metrics_url, REPORTS, result="sent"))
            assert not await _metric(gateway.metrics_url, REPORTS, result="dropped")
            gateway.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(DEADLINE):
                assert await gateway.process.wait() == 0
    finally:
        assert await asyncio.to_thread(server.terminate) == 0
