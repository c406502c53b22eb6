"""A full CA rotation under live traffic: small TTLs and hints so it runs in seconds.

A TLS server and a client, each renewing its SVID at half-life through the API, reconnect every
50 ms with mutual TLS. The bundle both trust is polled from the bundle endpoint on its refresh
hint, as a federated peer would. Across prepare, activate and retire not one handshake or
SPIFFE verification may fail.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from federation.model import Role
from federation.trust.endpoint import endpoint_spiffe_id
from tests.federation.api.conftest import Api
from tests.federation.store.helpers import eventually
from tests.federation.trust.conftest import free_port, init_trust, served, trust_config
from trust.bundle import BundleSet, TrustBundle, accept_update, parse_jwks
from trust.federation import BundleSource, client_ssl_context, fetch_bundle
from trust.keys import PrivateKey
from trust.spiffe_id import SpiffeId, parse_spiffe_id
from trust.svid import create_csr
from trust.tls import client_context, load_identity, server_context, verify_peer

ACME = "acme.mesh"
SERVER_ID = parse_spiffe_id("spiffe://acme.mesh/ns/pay/sa/server")
CLIENT_ID = parse_spiffe_id("spiffe://acme.mesh/ns/web/sa/client")
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class Peer:
    """What a workload holds: the bundle it polls, its key and its current chain."""

    bundle: TrustBundle
    chain_pem: str = ""
    key: PrivateKey | None = None
    renew_at: datetime = LONG_AGO
    failures: list[str] = field(default_factory=list)

    @property
    def bundles(self) -> BundleSet:
        return BundleSet((self.bundle,))


async def _renew(api: Api, peer: Peer, spiffe_id: SpiffeId) -> None:
    workload = create_csr(spiffe_id)
    status, body, _ = await api.call(
        "POST", "/v1/trust/svid", json={"csr": workload.csr_pem, "spiffe_id": str(spiffe_id)}
    )
    assert status == 200, body
    now = datetime.now(UTC)
    expires = datetime.fromisoformat(str(body["expires_at"]))
    peer.chain_pem, peer.key = str(body["svid"]), workload.private_key
    peer.renew_at = now + (expires - now) / 2


async def _keep_renewed(api: Api, peer: Peer, spiffe_id: SpiffeId) -> None:
    while True:
        if datetime.now(UTC) >= peer.renew_at:
            await _renew(api, peer, spiffe_id)
        await asyncio.sleep(0.05)


async def _poll_bundle(url: str, peers: list[Peer], hint: float) -> None:
    source = BundleSource(ACME, url, "https_spiffe", endpoint_spiffe_id(ACME))
    while True:
        await asyncio.sleep(hint)
        known = peers[0].bundle
        context = client_ssl_context(source, known)
        async with asyncio.timeout(5):
            fetched = await fetch_bundle(source, known, context, datetime.now(UTC))
        for peer in peers:
            peer.bundle = accept_update(peer.bundle, fetched)


async def _connect_once(server: Peer, client: Peer, port: int) -> None:
    assert client.key is not None
    context = client_context(client.chain_pem, client.key, client.bundles)
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            try:
                verify_peer(
                    writer.get_extra_info("ssl_object"),
                    client.bundles,
                    datetime.now(UTC),
                    expect=SERVER_ID,
                )
                await reader.read(2)
            finally:
                writer.close()
    except (ssl.SSLError, OSError, ValueError) as exc:
        client.failures.append(f"{datetime.now(UTC).isoformat()} {exc}")


async def _status(api: Api) -> dict[str, Any]:
    _, body, _ = await api.call("GET", "/v1/trust/status", role=Role.VIEWER)
    return body["trust_domains"][0]  # type: ignore[index,no-any-return]


async def test_full_rotation_under_reconnecting_mtls_traffic_has_zero_failures(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = trust_config(
        tmp_path,
        ACME,
        trust={
            # Short enough to run in seconds, long enough that a renewal at half-life still
            # lands in time on a loaded 2-core machine.
            "svid_ttl": "5s",
            "refresh_hint": "1s",
            "bundle_endpoint": {"listen": f"127.0.0.1:{port}", "profile": "https_spiffe"},
        },
    )
    await init_trust(config)
    async with served(config) as api:
        _, bundles, _ = await api.call("GET", "/v1/trust/bundles", role=Role.VIEWER)
        initial = parse_jwks(ACME, bundles[ACME])  # type: ignore[arg-type]
        server, client = Peer(initial), Peer(initial)
        await _renew(api, server, SERVER_ID)
        await _renew(api, client, CLIENT_ID)
        assert server.key is not None
        context = server_context(server.chain_pem, server.key, server.bundles)
        loaded = {"chain": server.chain_pem, "roots": initial.roots_pem()}

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                verify_peer(
                    writer.get_extra_info("ssl_object"),
                    server.bundles,
                    datetime.now(UTC),
                    expect=CLIENT_ID,
                )
                writer.write(b"ok")
                await writer.drain()
            except ValueError as exc:
                server.failures.append(str(exc))
            finally:
                writer.close()

        async def refresh_server_context() -> None:
            while True:
                if loaded["chain"] != server.chain_pem and server.key is not None:
                    load_identity(context, server.chain_pem, server.key)
                    loaded["chain"] = server.chain_pem
                if loaded["roots"] != server.bundle.roots_pem():
                    context.load_verify_locations(cadata=server.bundle.roots_pem())
                    loaded["roots"] = server.bundle.roots_pem()
                await asyncio.sleep(0.02)

        tls_server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        tls_port = tls_server.sockets[0].getsockname()[1]
        endpoint = f"https://127.0.0.1:{port}"
        async with tls_server, asyncio.TaskGroup() as group:
            loops = [
                group.create_task(_keep_renewed(api, server, SERVER_ID)),
                group.create_task(_keep_renewed(api, client, CLIENT_ID)),
                group.create_task(_poll_bundle(endpoint, [server, client], 1.0)),
                group.create_task(refresh_server_context()),
            ]
            status, body, _ = await api.call("POST", "/v1/trust/rotate", json={})
            assert status == 202, body
            assert body["phase"] == "prepared"
            connections = 0

            async def rotated() -> dict[str, Any] | None:
                nonlocal connections
                await _connect_once(server, client, tls_port)
                connections += 1
                await asyncio.sleep(0.05)
                state = await _status(api)
                return state if state["phase"] == "stable" else None

            final = await eventually(rotated, within=30, interval=0)
            # Keep going a little after retirement: the retired root must not be missed.
            for _ in range(20):
                await _connect_once(server, client, tls_port)
                await asyncio.sleep(0.05)
            for loop in loops:
                loop.cancel()
        _, audit, _ = await api.call("GET", "/v1/audit?limit=1000")
    records: list[dict[str, Any]] = audit["items"]  # type: ignore[assignment]
    activated = next(r["time"] for r in records if r["action"] == "trust.rotate.activate")
    retired = next(r["time"] for r in records if r["action"] == "trust.rotate.retire")
    old_leaves = [
        r["detail"]["expires_at"]
        for r in records
        if r["action"] == "svid.issue" and r["time"] < activated
    ]
    # The old root left the bundle only after every leaf its CA signed had expired.
    assert max(map(datetime.fromisoformat, old_leaves)) <= datetime.fromisoformat(retired)
    assert client.failures == [] and server.failures == []
    assert connections > 40  # the rotation took seconds of 50 ms reconnects
    assert final["signing_generation"] == 2 and final["bundle_sequence"] == 3
    assert len(client.bundle.roots) == 1
    leaf = x509.load_pem_x509_certificates(client.chain_pem.encode())
    assert leaf[1].issuer == client.bundle.roots[0].subject
