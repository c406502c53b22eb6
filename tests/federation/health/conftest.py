"""Fixtures: loopback servers started per test and closed after it, one PKI per session."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest

from tests.federation.health.servers import (
    Pki,
    StatusServer,
    SwitchableListener,
    TlsServer,
    make_pki,
)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tcp_listener() -> AsyncIterator[SwitchableListener]:
    listener = SwitchableListener()
    await listener.start()
    yield listener
    await listener.stop()


@pytest.fixture
async def tls_server(pki: Pki) -> AsyncIterator[TlsServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server.cert_file, pki.server.key_file)
    context.load_verify_locations(pki.ca.cert_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    names: list[str | None] = []

    def remember_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember_sni
    listener = SwitchableListener(context)
    await listener.start()
    yield TlsServer(listener, names, context)
    await listener.stop()


@pytest.fixture
async def http_server() -> AsyncIterator[StatusServer]:
    server = StatusServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def https_server(pki: Pki) -> AsyncIterator[StatusServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server.cert_file, pki.server.key_file)
    server = StatusServer()
    await server.start(context)
    yield server
    await server.stop()
