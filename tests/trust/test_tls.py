"""Real mTLS handshakes on 127.0.0.1 between workloads holding SVIDs of different domains."""

from __future__ import annotations

import asyncio
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.trust.conftest import ACME, PARTNER, Workload, bundle_of, issue_workload
from trust.bundle import BundleRollbackError, BundleSet, TrustBundle, accept_update
from trust.ca import CertificateAuthority, build_root_certificate, create_authority
from trust.spiffe_id import SpiffeId
from trust.svid import IssuedSvid, build_svid_certificate, create_csr
from trust.tls import PeerIdentityError, client_context, server_context, verify_peer
from trust.verify import SvidVerificationError

WEB = SpiffeId(ACME, "/ns/web/sa/frontend")
BILLING = SpiffeId(PARTNER, "/ns/billing/sa/api")
TIMEOUT = 10.0

ServerOutcome = SpiffeId | Exception


@contextmanager
def mtls_server(
    workload: Workload, bundles: BundleSet, now: datetime
) -> Iterator[tuple[int, queue.Queue[ServerOutcome]]]:
    """A one-connection server that verifies its client and greets it by SPIFFE ID."""
    context = server_context(workload.svid.chain_pem, workload.private_key, bundles)
    outcomes: queue.Queue[ServerOutcome] = queue.Queue()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        try:
            raw, _ = listener.accept()
            with context.wrap_socket(raw, server_side=True) as tls:
                peer = verify_peer(tls, bundles, now)
                tls.sendall(f"hello {peer}".encode())
                outcomes.put(peer)
        except (OSError, SvidVerificationError) as exc:
            outcomes.put(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], outcomes
    finally:
        listener.close()
        thread.join(TIMEOUT)


def call(
    port: int,
    workload: Workload,
    bundles: BundleSet,
    now: datetime,
    expect: SpiffeId | Callable[[SpiffeId], bool] | None,
) -> tuple[SpiffeId, bytes]:
    context = client_context(workload.svid.chain_pem, workload.private_key, bundles)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw) as tls,
    ):
        server_id = verify_peer(tls, bundles, now, expect)
        return server_id, tls.recv(200)


@pytest.fixture(scope="module")
def web(acme_ca: CertificateAuthority, now: datetime) -> Workload:
    return issue_workload(acme_ca, str(WEB), now)


@pytest.fixture(scope="module")
def billing(partner_ca: CertificateAuthority, now: datetime) -> Workload:
    return issue_workload(partner_ca, str(BILLING), now)


def test_workloads_of_two_federated_domains_authenticate_each_other(
    web: Workload, billing: Workload, federated: BundleSet, now: datetime
) -> None:
    with mtls_server(billing, federated, now) as (port, outcomes):
        server_id, greeting = call(port, web, federated, now, expect=BILLING)
        assert server_id == BILLING
        assert greeting == f"hello {WEB}".encode()
        assert outcomes.get(timeout=TIMEOUT) == WEB


def test_server_of_an_untrusted_domain_fails_the_handshake(
    web: Workload, federated: BundleSet, now: datetime
) -> None:
    stranger_ca = create_authority("stranger.test", now - timedelta(days=1))
    stranger = issue_workload(stranger_ca, "spiffe://stranger.test/api", now)
    stranger_view = BundleSet((*federated.bundles, bundle_of(stranger_ca)))
    with (
        mtls_server(stranger, stranger_view, now) as (port, _),
        pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"),
    ):
        call(port, web, federated, now, expect=None)


def test_client_of_an_untrusted_domain_is_refused_by_the_server(
    billing: Workload, federated: BundleSet, now: datetime
) -> None:
    stranger_ca = create_authority("stranger.test", now - timedelta(days=1))
    stranger = issue_workload(stranger_ca, "spiffe://stranger.test/api", now)
    stranger_view = BundleSet((*federated.bundles, bundle_of(stranger_ca)))
    with mtls_server(billing, federated, now) as (port, outcomes):
        # TLS 1.3 lets the client finish before the server judges its certificate; the
        # refusal reaches the client on its first read, if at all, so the server is asked.
        with suppress(OSError, SvidVerificationError):
            call(port, stranger, stranger_view, now, expect=BILLING)
        outcome = outcomes.get(timeout=TIMEOUT)
    assert isinstance(outcome, ssl.SSLError)
    assert "certificate verify failed" in str(outcome)


def test_expired_server_svid_fails_the_handshake(
    web: Workload, partner_ca: CertificateAuthority, federated: BundleSet, now: datetime
) -> None:
    expired = issue_workload(partner_ca, str(BILLING), now - timedelta(days=2), timedelta(hours=1))
    with (
        mtls_server(expired, federated, now) as (port, _),
        pytest.raises(ssl.SSLCertVerificationError, match="expired"),
    ):
        call(port, web, federated, now, expect=BILLING)


def test_client_expecting_another_spiffe_id_refuses_the_server(
    web: Workload, partner_ca: CertificateAuthority, federated: BundleSet, now: datetime
) -> None:
    ledger = issue_workload(partner_ca, f"spiffe://{PARTNER}/ns/ledger/sa/api", now)
    with (
        mtls_server(ledger, federated, now) as (port, _),
        pytest.raises(PeerIdentityError, match=f"presented spiffe://{PARTNER}/ns/ledger"),
    ):
        call(port, web, federated, now, expect=BILLING)


def test_expectation_may_be_a_predicate(
    web: Workload, billing: Workload, federated: BundleSet, now: datetime
) -> None:
    with (
        mtls_server(billing, federated, now) as (port, _),
        pytest.raises(PeerIdentityError, match="not an identity this endpoint accepts"),
    ):
        call(port, web, federated, now, expect=lambda peer: peer.trust_domain == ACME)


def test_federated_root_forging_another_domains_id_passes_ssl_but_not_verify_peer(
    web: Workload, acme_ca: CertificateAuthority, now: datetime
) -> None:
    # A partner root without name constraints signs an acme.mesh ID. OpenSSL, holding every
    # federated root in one pool, accepts it; verify_peer must not.
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_root = build_root_certificate(
        PARTNER, rogue_key, now - timedelta(hours=1), timedelta(days=1)
    )
    impostor_key = create_csr(WEB)
    forged_leaf = build_svid_certificate(
        WEB, impostor_key.private_key.public_key(), rogue_root, rogue_key, now, timedelta(hours=1)
    )
    forged_pem = forged_leaf.public_bytes(serialization.Encoding.PEM).decode()
    impostor = Workload(
        IssuedSvid(WEB, forged_pem, forged_pem, "", forged_leaf.not_valid_after_utc),
        impostor_key.private_key,
    )
    bundles = BundleSet((bundle_of(acme_ca), TrustBundle(PARTNER, (rogue_root,))))
    with (
        mtls_server(impostor, bundles, now) as (port, _),
        pytest.raises(SvidVerificationError, match=f"bundle of trust domain '{ACME}'"),
    ):
        call(port, web, bundles, now, expect=WEB)


async def test_asyncio_streams_verify_the_peer_from_the_ssl_object(
    web: Workload, billing: Workload, federated: BundleSet, now: datetime
) -> None:
    seen: asyncio.Queue[SpiffeId] = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = verify_peer(writer.get_extra_info("ssl_object"), federated, now)
        await seen.put(peer)
        writer.write(b"ok")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    context = server_context(billing.svid.chain_pem, billing.private_key, federated)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1",
                port,
                ssl=client_context(web.svid.chain_pem, web.private_key, federated),
            ),
            TIMEOUT,
        )
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            assert verify_peer(ssl_object, federated, now, expect=BILLING) == BILLING
            assert await asyncio.wait_for(reader.read(), TIMEOUT) == b"ok"
            assert await asyncio.wait_for(seen.get(), TIMEOUT) == WEB
        finally:
            writer.close()
            await writer.wait_closed()


def test_a_rolled_back_bundle_fails_the_handshake_and_is_refused_as_an_update(
    web: Workload, partner_ca: CertificateAuthority, acme_ca: CertificateAuthority, now: datetime
) -> None:
    """The partner rotated: its current bundle (sequence 2) holds only the new root and its
    server uses an SVID of the new CA. A client that took a rolled-back bundle (sequence 1, the
    old root) cannot verify the server; accept_update refuses that bundle in the first place."""
    rotated_ca = create_authority(PARTNER, now - timedelta(hours=1))
    server = issue_workload(rotated_ca, str(BILLING), now)
    current = TrustBundle(PARTNER, rotated_ca.roots, sequence=2)
    rolled_back = TrustBundle(PARTNER, partner_ca.roots, sequence=1)

    with pytest.raises(BundleRollbackError):
        accept_update(current, rolled_back)

    stale = BundleSet((bundle_of(acme_ca), rolled_back))
    with (
        mtls_server(server, BundleSet((bundle_of(acme_ca), current)), now) as (port, _),
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        call(port, web, stale, now, None)
    fresh = BundleSet((bundle_of(acme_ca), current))
    with mtls_server(server, fresh, now) as (port, outcomes):
        server_id, greeting = call(port, web, fresh, now, BILLING)
        assert greeting == f"hello {WEB}".encode()
        assert server_id == BILLING
        assert outcomes.get(timeout=TIMEOUT) == WEB
