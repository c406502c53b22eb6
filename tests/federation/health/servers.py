"""Loopback servers for the probes to check, and a test PKI made with ``cryptography``."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Issued:
    cert_file: Path
    key_file: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _issue(
    directory: Path,
    name: str,
    issuer: Issued | None,
    sans: list[x509.GeneralName] | None = None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_file, key_file, cert, key)


@dataclass(frozen=True, slots=True)
class Pki:
    ca: Issued
    other_ca: Issued
    server: Issued
    client: Issued


def make_pki(directory: Path) -> Pki:
    ca = _issue(directory, "test-ca", None)
    server_sans: list[x509.GeneralName] = [
        x509.DNSName("payments.mesh.test"),
        x509.IPAddress(ipaddress.ip_address(LOOPBACK)),
    ]
    return Pki(
        ca=ca,
        other_ca=_issue(directory, "other-ca", None),
        server=_issue(directory, "server", ca, server_sans),
        client=_issue(directory, "client", ca, [x509.DNSName("prober.mesh.test")]),
    )


class SwitchableListener:
    """A TCP (optionally TLS) listener that can be closed and reopened on the same port."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.context = context
        self.port = 0
        self.peer_certs: asyncio.Queue[dict[str, object] | None] = asyncio.Queue()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, LOOPBACK, self.port, ssl=self.context, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.peer_certs.put_nowait(writer.get_extra_info("peercert"))
        writer.close()


@dataclass(frozen=True, slots=True)
class TlsServer:
    listener: SwitchableListener
    server_names: list[str | None]
    context: ssl.SSLContext


class StatusServer:
    """An aiohttp server whose every answer has the status the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[web.Request] = []
        self.port = 0
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app)

    async def _answer(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if 300 <= self.status < 400:
            raise web.HTTPFound("/elsewhere")
        return web.Response(status=self.status, text="status set by the test")

    async def start(self, context: ssl.SSLContext | None = None) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0, ssl_context=context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()
