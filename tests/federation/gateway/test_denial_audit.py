"""A gateway in mtls mode with --server: a caller that policy denies shows up in the control
plane's audit log, with its SPIFFE ID, the service and the deny policy."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import Any

from federation.gateway.command import running_gateway
from federation.model import MeshfedConfig
from tests.federation.api.conftest import Api
from tests.federation.gateway.served_gateway import (
    gateway_options,
    routes_arrived,
    with_local_payments,
)
from tests.federation.gateway.test_identity import SNI, TD, mtls_echo, workload
from tests.federation.trust.conftest import free_port, init_trust, served, trust_config
from trust.tls import client_context

DEADLINE = 10.0
FRONTEND = f"spiffe://{TD}/ns/web/sa/frontend"
SCRAPER = f"spiffe://{TD}/ns/web/sa/scraper"


def mesh(tmp_path: Path, backend_port: int) -> MeshfedConfig:
    config = trust_config(
        tmp_path,
        TD,
        clusters=[{"name": "aws-use1", "cloud": "aws", "region": "us-east-1"}],
        services=[{"name": "payments.prod", "port": 8080}],
        policies=[
            {
                "name": "web-to-payments",
                "action": "allow",
                "to": "payments.prod",
                "from": [f"spiffe://{TD}/ns/web/sa/*"],
            },
            {"name": "no-scrapers", "action": "deny", "to": "payments.prod", "from": [SCRAPER]},
        ],
    )
    return with_local_payments(config, backend_port)


async def denied_records(api: Api) -> list[dict[str, Any]]:
    status, body, _ = await api.call("GET", "/v1/audit?limit=1000")
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]
    return [r for r in items if r["action"] == "request.denied"]


async def test_a_caller_denied_by_policy_is_recorded_in_the_control_planes_audit_log(
    tmp_path: Path,
) -> None:
    backend_port = free_port()
    config = mesh(tmp_path, backend_port)
    await init_trust(config)
    async with served(config) as api:
        backend = await workload(api, f"spiffe://{TD}/ns/prod/sa/payments")
        scraper = await workload(api, SCRAPER)
        options = gateway_options(config, api, tmp_path)
        async with mtls_echo(backend, backend_port), running_gateway(options) as gateway:
            await routes_arrived(gateway, "payments.prod")
            context = client_context(scraper.chain_pem, scraper.key, scraper.bundles)
            for _ in range(2):
                async with asyncio.timeout(DEADLINE):
                    reader, writer = await asyncio.open_connection(
                        *gateway.address, ssl=context, server_hostname=SNI
                    )
                    writer.write(b"scrape\n")
                    # Refused: the gateway closes without relaying, cleanly or with a reset.
                    with contextlib.suppress(ConnectionResetError, ssl.SSLError):
                        assert await reader.readline() == b""
                    writer.close()
            records: list[dict[str, Any]] = []
            async with asyncio.timeout(DEADLINE):
                while sum(r["detail"]["count"] for r in records) < 2:
                    await asyncio.sleep(0.05)
                    records = await denied_records(api)
            sent = gateway.metrics.registry.get_sample_value(
                "meshfed_gateway_denial_reports_total", {"result": "sent"}
            )
        assert sent == 2
        assert {(r["target"], r["actor"]) for r in records} == {
            ("services/payments.prod", "operator-user")
        }
        detail = records[0]["detail"]
        assert (detail["peer_id"], detail["cluster"], detail["policy"]) == (
            SCRAPER,
            "aws-use1",
            "no-scrapers",
        )
        assert detail["first_seen"] <= detail["last_seen"]
        assert await api.running.context.audit.verify() == []
