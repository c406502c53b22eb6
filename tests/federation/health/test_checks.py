from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from federation.health.checks import HttpProbe, TcpProbe, TlsProbe, tls_client_context
from tests.federation.health.servers import (
    LOOPBACK,
    Pki,
    StatusServer,
    SwitchableListener,
    TlsServer,
)


@pytest.fixture
async def silent_listener() -> AsyncIterator[int]:
    """Accepts TCP connections and never says a word: a TLS handshake or HTTP request hangs."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, LOOPBACK, 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


async def test_tcp_probe_passes_while_listening_and_fails_once_closed(
    tcp_listener: SwitchableListener,
) -> None:
    probe = TcpProbe(LOOPBACK, tcp_listener.port, timeout=1.0)
    assert (await probe.check()).passed
    await tcp_listener.stop()
    result = await probe.check()
    assert not result.passed
    assert result.detail.startswith("connect failed")
    await tcp_listener.start()
    assert (await probe.check()).passed


async def test_tcp_probe_reports_refusal_on_a_port_nobody_listens_on() -> None:
    result = await TcpProbe(LOOPBACK, _closed_port()).check()
    assert not result.passed
    assert "refused" in result.detail.lower()


async def test_tls_probe_passes_with_the_servers_ca_and_sends_the_sni(
    pki: Pki, tls_server: TlsServer
) -> None:
    probe = TlsProbe(
        LOOPBACK,
        tls_server.listener.port,
        tls_client_context(ca_file=str(pki.ca.cert_file)),
        server_name="payments.mesh.test",
    )
    result = await probe.check()
    assert result == result.__class__(True, "handshake completed")
    assert tls_server.server_names == ["payments.mesh.test"]


async def test_tls_probe_fails_when_the_server_is_signed_by_another_ca(
    pki: Pki, tls_server: TlsServer
) -> None:
    probe = TlsProbe(
        LOOPBACK,
        tls_server.listener.port,
        tls_client_context(ca_file=str(pki.other_ca.cert_file)),
        server_name="payments.mesh.test",
    )
    result = await probe.check()
    assert not result.passed
    assert result.detail.startswith("certificate rejected")


async def test_tls_probe_fails_when_the_name_is_not_in_the_certificate(
    pki: Pki, tls_server: TlsServer
) -> None:
    probe = TlsProbe(
        LOOPBACK,
        tls_server.listener.port,
        tls_client_context(ca_file=str(pki.ca.cert_file)),
        server_name="orders.mesh.test",
    )
    result = await probe.check()
    assert not result.passed
    assert "orders.mesh.test" in result.detail


async def test_tls_probe_without_verification_accepts_any_certificate(
    pki: Pki, tls_server: TlsServer
) -> None:
    probe = TlsProbe(
        LOOPBACK,
        tls_server.listener.port,
        tls_client_context(ca_file=str(pki.other_ca.cert_file), verify=False),
    )
    assert (await probe.check()).passed


async def test_tls_probe_presents_its_client_certificate(pki: Pki, tls_server: TlsServer) -> None:
    context = tls_client_context(
        ca_file=str(pki.ca.cert_file),
        cert_file=str(pki.client.cert_file),
        key_file=str(pki.client.key_file),
    )
    probe = TlsProbe(LOOPBACK, tls_server.listener.port, context, server_name="payments.mesh.test")
    assert (await probe.check()).passed
    async with asyncio.timeout(2):
        peer = await tls_server.listener.peer_certs.get()
    assert peer is not None
    assert peer["subject"] == ((("commonName", "client"),),)


async def test_tls_probe_times_out_on_a_server_that_never_answers(silent_listener: int) -> None:
    probe = TlsProbe(LOOPBACK, silent_listener, tls_client_context(), timeout=0.2)
    started = time.monotonic()
    result = await probe.check()
    assert not result.passed
    assert result.detail == "no handshake within 0.2s"
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("status", "passed", "detail"),
    [
        (200, True, "status 200"),
        (204, True, "status 204"),
        (302, True, "status 302"),
        (404, False, "status 404 not in 200-399"),
        (503, False, "status 503 not in 200-399"),
    ],
)
async def test_http_probe_passes_on_the_expected_statuses_only(
    http_server: StatusServer, status: int, passed: bool, detail: str
) -> None:
    http_server.status = status
    probe = HttpProbe(f"http://{LOOPBACK}:{http_server.port}/healthz")
    assert await probe.check() == (await probe.check()).__class__(passed, detail)
    assert [r.path for r in http_server.requests] == ["/healthz", "/healthz"]


async def test_http_probe_honours_a_custom_status_set_and_host_header(
    http_server: StatusServer,
) -> None:
    http_server.status = 204
    probe = HttpProbe(
        f"http://{LOOPBACK}:{http_server.port}/ready",
        expected_statuses=frozenset({200}),
        host_header="payments.prod",
    )
    result = await probe.check()
    assert (result.passed, result.detail) == (False, "status 204 not in 200")
    assert http_server.requests[0].host == "payments.prod"


async def test_https_probe_verifies_the_server_with_the_given_ca(
    pki: Pki, https_server: StatusServer
) -> None:
    url = f"https://{LOOPBACK}:{https_server.port}/healthz"
    trusted = HttpProbe(url, ssl_context=tls_client_context(ca_file=str(pki.ca.cert_file)))
    untrusted = HttpProbe(url, ssl_context=tls_client_context(ca_file=str(pki.other_ca.cert_file)))
    assert (await trusted.check()).passed
    result = await untrusted.check()
    assert not result.passed
    assert result.detail.startswith("certificate rejected")


async def test_http_probe_fails_on_refusal_and_on_silence(silent_listener: int) -> None:
    refused = await HttpProbe(f"http://{LOOPBACK}:{_closed_port()}/").check()
    assert not refused.passed
    assert refused.detail.startswith("request failed")
    silent = await HttpProbe(f"http://{LOOPBACK}:{silent_listener}/", timeout=0.2).check()
    assert (silent.passed, silent.detail) == (False, "no response within 0.2s")
