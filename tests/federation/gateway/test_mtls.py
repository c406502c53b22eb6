"""mtls mode on loopback with two trust domains: callers verified and authorized, next hop mTLS."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from federation.cli import build_parser
from federation.config import parse_config
from federation.gateway.command import RunningGateway as Running
from federation.gateway.command import running_gateway
from federation.gateway.events import EventKind
from federation.gateway.mtls import MtlsTerminator
from federation.gateway.options import options_from_args
from federation.gateway.routes import StaticRouteTable, Upstream
from tests.federation.gateway.conftest import DEADLINE, GatewayFactory, RunningGateway
from tests.trust.conftest import Workload, bundle_of, issue_workload
from trust.bundle import BundleSet
from trust.ca import CertificateAuthority, create_authority
from trust.policy import Policy
from trust.tls import client_context, server_context, verify_peer

SNI = "outbound_.8080_._.payments.prod.svc.cluster.local"
GATEWAY = "spiffe://acme.mesh/ns/mesh/sa/gateway"
PAYMENTS = "spiffe://acme.mesh/ns/prod/sa/payments"
BILLING = "spiffe://partner.example/ns/billing/sa/api"
INTRUDER = "spiffe://partner.example/ns/other/sa/scraper"
POLICIES = (Policy.build("billing-to-payments", "allow", "payments.prod", [BILLING]),)


@dataclass(frozen=True)
class Pki:
    now: datetime
    acme: CertificateAuthority
    partner: CertificateAuthority
    stranger: CertificateAuthority

    @property
    def federated(self) -> BundleSet:
        return BundleSet((bundle_of(self.acme), bundle_of(self.partner)))

    def workload(self, spiffe_id: str) -> Workload:
        ca = self.partner if spiffe_id.startswith("spiffe://partner.example") else self.acme
        return issue_workload(ca, spiffe_id, self.now)


@pytest.fixture(scope="module")
def pki() -> Pki:
    now = datetime.now(UTC).replace(microsecond=0)
    issued = now - timedelta(days=1)
    return Pki(
        now,
        create_authority("acme.mesh", issued),
        create_authority("partner.example", issued),
        create_authority("stranger.example", issued),
    )


@pytest.fixture
async def payments(pki: Pki) -> AsyncIterator[Upstream]:
    """A workload that requires mTLS and answers with the SPIFFE ID that called it."""
    workload = pki.workload(PAYMENTS)
    context = server_context(workload.svid.chain_pem, workload.private_key, pki.federated)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        caller = verify_peer(writer.get_extra_info("ssl_object"), pki.federated, pki.now)
        try:
            while line := await reader.readline():
                writer.write(f"payments saw {caller}: ".encode() + line)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    yield Upstream("127.0.0.1", server.sockets[0].getsockname()[1], "aws-use1")
    server.close()
    await server.wait_closed()


@pytest.fixture
async def gateway(pki: Pki, payments: Upstream, start_gateway: GatewayFactory) -> RunningGateway:
    own = pki.workload(GATEWAY)
    terminator = MtlsTerminator(
        server_context(own.svid.chain_pem, own.private_key, pki.federated),
        client_context(own.svid.chain_pem, own.private_key, pki.federated),
        pki.federated,
        POLICIES,
    )
    table = StaticRouteTable({"payments.prod": [payments]})
    return await start_gateway(table, terminator=terminator)


async def call(gw: RunningGateway | Running, caller: Workload, bundles: BundleSet) -> bytes:
    context = client_context(caller.svid.chain_pem, caller.private_key, bundles)
    async with asyncio.timeout(DEADLINE):
        reader, writer = await asyncio.open_connection(
            *gw.address, ssl=context, server_hostname=SNI
        )
        try:
            writer.write(b"charge\n")
            await writer.drain()
            return await reader.readline()
        finally:
            writer.close()


async def test_an_allowed_caller_from_a_federated_domain_reaches_the_workload_over_mtls(
    pki: Pki, gateway: RunningGateway
) -> None:
    answer = await call(gateway, pki.workload(BILLING), pki.federated)
    # The workload authenticated the gateway's own SVID on the second hop.
    assert answer == f"payments saw {GATEWAY}: charge\n".encode()
    relayed = await gateway.events.wait_for(EventKind.RELAYED)
    assert relayed.peer_id == BILLING
    assert relayed.sni == SNI


async def test_a_caller_no_policy_allows_is_closed_and_reported_as_denied(
    pki: Pki, gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    assert await call(gateway, pki.workload(INTRUDER), pki.federated) == b""
    denied = await gateway.events.wait_for(EventKind.DENIED)
    assert INTRUDER in denied.detail and "payments.prod" in denied.detail
    assert denied.upstream is None
    # Refused before the connection learnt its caller, the event still names it for the audit.
    assert (denied.peer_id, denied.policy) == (INTRUDER, None)
    assert any(
        r.name == "meshfed.gateway.audit" and r.message == "caller denied" for r in caplog.records
    )


async def test_a_caller_from_an_unfederated_domain_fails_the_handshake(
    pki: Pki, gateway: RunningGateway
) -> None:
    stranger = issue_workload(pki.stranger, "spiffe://stranger.example/ns/x/sa/y", pki.now)
    bundles = BundleSet((bundle_of(pki.acme), bundle_of(pki.stranger)))
    try:
        answer = await call(gateway, stranger, bundles)
    except (ssl.SSLError, ConnectionResetError):
        # TLS 1.2 fails in the handshake; a TLS 1.3 client may only see the close when it reads.
        answer = b""
    assert answer == b""
    assert gateway.events.events == []


async def test_a_next_hop_outside_the_trust_bundles_is_a_failed_connect(
    pki: Pki, start_gateway: GatewayFactory
) -> None:
    own = pki.workload(GATEWAY)
    impostor = issue_workload(
        pki.stranger, "spiffe://stranger.example/ns/prod/sa/payments", pki.now
    )
    accepting = BundleSet((bundle_of(pki.acme), bundle_of(pki.partner), bundle_of(pki.stranger)))
    context = server_context(impostor.svid.chain_pem, impostor.private_key, accepting)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=context)
    try:
        terminator = MtlsTerminator(
            server_context(own.svid.chain_pem, own.private_key, pki.federated),
            client_context(own.svid.chain_pem, own.private_key, pki.federated),
            pki.federated,
            POLICIES,
        )
        upstream = Upstream("127.0.0.1", server.sockets[0].getsockname()[1], "aws-use1")
        gw = await start_gateway(
            StaticRouteTable({"payments.prod": [upstream]}), terminator=terminator
        )
        assert await call(gw, pki.workload(BILLING), pki.federated) == b""
        failed = await gw.events.wait_for(EventKind.UPSTREAM_CONNECT_FAILED)
        assert failed.upstream == upstream
        await gw.events.wait_for(EventKind.UPSTREAMS_UNREACHABLE)
    finally:
        server.close()
        await server.wait_closed()


def write_identity(directory: Path, workload: Workload, pki: Pki) -> list[str]:
    files = {
        "gateway.pem": workload.svid.chain_pem.encode(),
        "gateway.key": workload.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "acme.pem": bundle_of(pki.acme).roots_pem().encode(),
        "partner.pem": bundle_of(pki.partner).roots_pem().encode(),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return [
        *("--mode", "mtls", "--svid-cert", str(directory / "gateway.pem")),
        *("--svid-key", str(directory / "gateway.key"), "--bundle", str(directory / "acme.pem")),
        *("--federated-bundle", f"partner.example={directory / 'partner.pem'}"),
    ]


async def test_the_command_serves_mtls_from_files_and_logs_the_callers_identity(
    pki: Pki, payments: Upstream, tmp_path: Path
) -> None:
    config = parse_config(
        f"""
federation: {{name: acme, trust_domain: acme.mesh}}
store: memory://
clusters: [{{name: aws-use1, cloud: aws, region: us-east-1}}]
providers:
  - name: local
    kind: static
    endpoints: [{{cluster: aws-use1, service: payments.prod, address: 127.0.0.1,
                 port: {payments.port}}}]
services: [{{name: payments.prod, port: 8080}}]
policies:
  - {{name: billing-to-payments, action: allow, to: payments.prod, from: ["{BILLING}"]}}
"""
    )
    access_log = tmp_path / "access.log"
    args = build_parser().parse_args(
        [
            *("gateway", "--config", "unused.yaml", "--cluster", "aws-use1"),
            *("--listen", "127.0.0.1:0", "--access-log", str(access_log)),
            *write_identity(tmp_path, pki.workload(GATEWAY), pki),
        ]
    )
    async with running_gateway(options_from_args(args, config)) as running:
        answer = await call(running, pki.workload(BILLING), pki.federated)
        assert answer == f"payments saw {GATEWAY}: charge\n".encode()
        assert await call(running, pki.workload(INTRUDER), pki.federated) == b""
    entries = [json.loads(line) for line in access_log.read_text().splitlines()]
    assert sorted((e["outcome"], e["peer_id"]) for e in entries) == [
        ("denied", INTRUDER),
        ("relayed", BILLING),
    ]
