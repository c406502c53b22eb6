"""The SPIFFE bundle endpoint: an HTTPS server answering one trust domain's bundle at ``/``.

SPIFFE Federation 5.2: a GET on the endpoint URL returns the SPIFFE bundle (a JWK Set) as
``application/json``. The server holds no state: ``source`` is asked for the current document
on every request, so a rotation is visible at once. The TLS context decides the profile:
``https_web`` (a Web PKI certificate) or ``https_spiffe`` (``tls.bundle_server_context``).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

BundleDocument = Callable[[], Awaitable[bytes]]


class BundleEndpointError(Exception):
    """The bundle endpoint cannot start."""


@dataclass(frozen=True, slots=True)
class BundleEndpointAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


def web_profile_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The https_web profile: a certificate a Web PKI (or the peer's ``ca_file``) trusts."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise BundleEndpointError(
            f"trust.bundle_endpoint: cannot load cert_file {cert_file} with key_file "
            f"{key_file} ({exc}): give a PEM certificate chain and its matching private key"
        ) from exc
    return context


@asynccontextmanager
async def serve_bundle_endpoint(
    host: str, port: int, context: ssl.SSLContext, document: BundleDocument
) -> AsyncIterator[BundleEndpointAddress]:
    """Serve until the block exits; yields the bound address (``port`` 0 picks a free one)."""

    async def bundle(request: web.Request) -> web.Response:
        return web.Response(body=await document(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/", bundle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=context)
        try:
            await site.start()
        except OSError as exc:
            raise BundleEndpointError(
                f"trust.bundle_endpoint.listen {host}:{port} cannot be bound ({exc.strerror}): "
                "choose a free address"
            ) from exc
        bound = runner.addresses[0]
        yield BundleEndpointAddress(host, int(bound[1]))
    finally:
        await runner.cleanup()
