"""A gateway in mtls mode with --server: a caller it refuses shows up in the control plane's
audit log; one that policy denies with its SPIFFE ID, the service and the deny policy, one whose
SVID does not verify with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from federation.gateway.command import RunningGateway, running_gateway
from federation.model import MeshfedConfig
from tests.federation.api.conftest import Api
from tests.federation.gateway.served_gateway import (
    gateway_options,
    routes_arrived,
    with_local_payments,
)
from tests.federation.gateway.test_identity import SNI, TD, Workload, mtls_echo, workload
from tests.federation.trust.conftest import free_port, init_trust, served, trust_config
from tests.trust.leaves import custom_leaf
from trust.bundle import BundleSet, TrustBundle
from trust.keys import generate_key
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


async def audited(api: Api, action: str, refusals: int) -> list[dict[str, Any]]:
    """The audit records of ``action`` once they count ``refusals`` refused connections."""
    records: list[dict[str, Any]] = []
    async with asyncio.timeout(DEADLINE):
        while sum(r["detail"]["count"] for r in records) < refusals:
            await asyncio.sleep(0.05)
            status, body, _ = await api.call("GET", "/v1/audit?limit=1000")
            assert status == 200, body
            items: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]
            records = [r for r in items if r["action"] == action]
    return records


async def refused(gateway: RunningGateway, caller: Workload) -> None:
    """``caller`` completes the TLS handshake, then the gateway closes without relaying."""
    context = client_context(caller.chain_pem, caller.key, caller.bundles)
    async with asyncio.timeout(DEADLINE):
        reader, writer = await asyncio.open_connection(
            *gateway.address, ssl=context, server_hostname=SNI
        )
        writer.write(b"hello\n")
        # Refused: the gateway closes without relaying, cleanly or with a reset.
        with contextlib.suppress(ConnectionResetError, ssl.SSLError):
            assert await reader.readline() == b""
        writer.close()


async def multi_id_caller(api: Api, spiffe_ids: list[str]) -> Workload:
    """A leaf signed by the trust domain's signing CA, as the control plane holds it, naming
    every one of ``spiffe_ids``: OpenSSL accepts its chain, but an X509-SVID names exactly one."""
    trust = api.running.context.trust
    assert trust is not None
    records = trust.authority.records
    ca = await records.ca(TD, (await records.domain(TD)).rotation.signing)
    key = generate_key("ec-p256")
    leaf = custom_leaf(ca, datetime.now(UTC), spiffe_ids, key=key)
    chain_pem = "".join(
        c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, ca.intermediate_cert)
    )
    return Workload(chain_pem, key, BundleSet((TrustBundle(TD, ca.roots),)))


@asynccontextmanager
async def served_mesh(tmp_path: Path) -> AsyncIterator[tuple[Api, RunningGateway]]:
    """A control plane, payments.prod behind an mtls gateway with its first routes in."""
    backend_port = free_port()
    config = mesh(tmp_path, backend_port)
    await init_trust(config)
    async with served(config) as api:
        backend = await workload(api, f"spiffe://{TD}/ns/prod/sa/payments")
        options = gateway_options(config, api, tmp_path)
        async with mtls_echo(backend, backend_port), running_gateway(options) as gateway:
            await routes_arrived(gateway, "payments.prod")
            yield api, gateway


async def test_a_caller_denied_by_policy_is_recorded_in_the_control_planes_audit_log(
    tmp_path: Path,
) -> None:
    async with served_mesh(tmp_path) as (api, gateway):
        scraper = await workload(api, SCRAPER)
        for _ in range(2):
            await refused(gateway, scraper)
        records = await audited(api, "request.denied", 2)
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


async def test_a_caller_whose_svid_does_not_verify_is_recorded_as_peer_rejected(
    tmp_path: Path,
) -> None:
    async with served_mesh(tmp_path) as (api, gateway):
        # Both IDs are ones policy allows, so only SVID verification can refuse the caller.
        forger = await multi_id_caller(api, [FRONTEND, f"spiffe://{TD}/ns/web/sa/admin"])
        await refused(gateway, forger)
        records = await audited(api, "request.peer_rejected", 1)
        assert [(r["target"], r["actor"]) for r in records] == [
            ("services/payments.prod", "operator-user")
        ]
        detail = records[0]["detail"]
        assert (detail["peer_id"], detail["cluster"], detail["policy"]) == (None, "aws-use1", None)
        assert "has 2 URI SANs" in detail["reason"]
        assert await api.running.context.audit.verify() == []
