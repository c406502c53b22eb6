"""Failover driven by active health checks alone: no outlier_detection anywhere.

Three clusters' TLS backends listen on distinct loopback addresses; the service fails over
cluster by cluster. Stopping the level-0 backends moves the load to level 1 within
interval x unhealthy_threshold plus a little slack, and starting them again brings it back.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.federation.api.conftest import Api
from tests.federation.routing.conftest import eventually, resolve, serving
from tests.support.test_ca import make_test_ca

INTERVAL = 0.2
UNHEALTHY_THRESHOLD = 2
SLACK = 1.6  # jitter, the store watch, and the scheduler on a loaded 2-core machine
ADDRESSES = {"aws-euw2": "127.0.0.2", "gcp-euw1": "127.0.0.3", "azure-weu": "127.0.0.4"}


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def tls_backend(host: str, port: int, context: ssl.SSLContext) -> AsyncIterator[None]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(serve, host, port, ssl=context)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


def config(ports: dict[str, int]) -> str:
    endpoints = "\n".join(
        f"      - {{cluster: {c}, service: payments.prod, address: {a}, port: {ports[c]}}}"
        for c, a in ADDRESSES.items()
    )
    return f"""
federation: {{name: acme, trust_domain: acme.mesh}}
store: memory://
api: {{listen: 127.0.0.1:0}}
clusters:
  - {{name: aws-euw2, cloud: aws, region: eu-west-2}}
  - {{name: gcp-euw1, cloud: gcp, region: europe-west1}}
  - {{name: azure-weu, cloud: azure, region: westeurope}}
providers:
  - name: local
    kind: static
    endpoints:
{endpoints}
services:
  - name: payments.prod
    port: 8080
    routing: {{mode: failover, failover: [aws-euw2, gcp-euw1, azure-weu]}}
    health_check: {{kind: tls, interval: {int(INTERVAL * 1000)}ms, timeout: 500ms,
                    unhealthy_threshold: {UNHEALTHY_THRESHOLD}, healthy_threshold: 1}}
"""


async def loads(api: Api) -> dict[str, Any]:
    return await resolve(api, "service=payments.prod&client_region=aws:eu-west-2&explain=true")


def level_loads(body: dict[str, Any]) -> list[int]:
    return [level["load_percent"] for level in body["levels"]]


async def test_stopping_level_0_moves_load_to_level_1_and_back(tmp_path: Path) -> None:
    context = make_test_ca(tmp_path).server_context()
    ports = {cluster: free_port(address) for cluster, address in ADDRESSES.items()}

    async def load_is(expected: list[int]) -> dict[str, Any] | None:
        body = await loads(api)
        return body if level_loads(body) == expected else None

    async with (
        tls_backend(ADDRESSES["gcp-euw1"], ports["gcp-euw1"], context),
        tls_backend(ADDRESSES["azure-weu"], ports["azure-weu"], context),
        serving(config(ports)) as api,
    ):
        async with tls_backend(ADDRESSES["aws-euw2"], ports["aws-euw2"], context):
            body, _ = await eventually(lambda: load_is([100, 0, 0]), 5, "level 0 serves")
            assert body["pick"]["address"] == "127.0.0.2"
        deadline = INTERVAL * UNHEALTHY_THRESHOLD + SLACK
        body, _ = await eventually(lambda: load_is([0, 100, 0]), deadline, "level 1 serves")
        assert body["pick"] == {
            "cluster": "gcp-euw1",
            "address": "127.0.0.3",
            "port": ports["gcp-euw1"],
        }
        assert any("0/1 healthy" in line for line in body["explain"])
        assert any(
            "in aws-euw2 fails active checks: " in line and "consecutive failed check(s)" in line
            for line in body["explain"]
        )
        key = f"aws-euw2/service/payments.prod/127.0.0.2:{ports['aws-euw2']}"
        record = await api.running.context.store.get(f"health/{key}")
        assert record is not None
        assert json.loads(record.value)["healthy"] is False
        async with tls_backend(ADDRESSES["aws-euw2"], ports["aws-euw2"], context):
            body, _ = await eventually(
                lambda: load_is([100, 0, 0]), INTERVAL + SLACK, "traffic returns to level 0"
            )
            assert body["pick"]["cluster"] == "aws-euw2"
