"""Active health probes: TCP connect, TLS handshake, HTTP(S) GET.

A probe answers pass or fail with a detail saying why; it never raises for a target that is
down, and each check is bounded by the probe's own ``timeout`` (connect, handshake, request and
close together). As in Envoy, a TCP check passes on connect alone and an HTTP check passes on the
status code alone (the body is not read). Departure: the HTTP check expects 200-399 by default
where Envoy expects only 200, because a mesh endpoint answering a redirect is up.

An HTTP check opens a fresh connection every time (no pooling), as Envoy does by default for
health checks, so a check also proves that the target still accepts connections.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp


@dataclass(frozen=True, slots=True)
class ProbeResult:
    passed: bool
    detail: str


class Probe(Protocol):
    """A target being down is a failed result; an exception from ``check`` is a bug."""

    async def check(self) -> ProbeResult: ...

    def describe(self) -> str: ...


def tls_client_context(
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """A client context for probes: the system roots unless ``ca_file`` names the CA to trust."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context


@dataclass(frozen=True, slots=True)
class TcpProbe:
    host: str
    port: int
    timeout: float = 1.0

    def describe(self) -> str:
        return f"tcp {self.host}:{self.port}"

    async def check(self) -> ProbeResult:
        return await _connect(self.host, self.port, self.timeout, None, None, "connected")


@dataclass(frozen=True, slots=True)
class TlsProbe:
    """Passes when the handshake completes and, unless the context says not to, verifies.

    ``server_name`` is both the SNI sent and the name the certificate must carry; it defaults
    to ``host`` (Python sends no SNI for an IP address, but still checks the IP against the
    certificate's SANs).
    """

    host: str
    port: int
    ssl_context: ssl.SSLContext = field(default_factory=tls_client_context)
    server_name: str | None = None
    timeout: float = 1.0

    def describe(self) -> str:
        return f"tls {self.host}:{self.port} (sni {self.server_name or self.host})"

    async def check(self) -> ProbeResult:
        return await _connect(
            self.host,
            self.port,
            self.timeout,
            self.ssl_context,
            self.server_name or self.host,
            "handshake completed",
        )


@dataclass(frozen=True, slots=True)
class HttpProbe:
    """GET ``url``; passes when the status is in ``expected_statuses``. Redirects not followed."""

    url: str
    expected_statuses: range | frozenset[int] = range(200, 400)
    ssl_context: ssl.SSLContext | None = None
    host_header: str | None = None
    timeout: float = 1.0

    def describe(self) -> str:
        return f"http GET {self.url}"

    async def check(self) -> ProbeResult:
        headers = {"Host": self.host_header} if self.host_header else {}
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                    connector=aiohttp.TCPConnector(force_close=True),
                ) as session,
                session.get(
                    self.url,
                    headers=headers,
                    allow_redirects=False,
                    ssl=self.ssl_context if self.ssl_context is not None else True,
                ) as response,
            ):
                status = response.status
        except TimeoutError:
            return ProbeResult(False, f"no response within {self.timeout:g}s")
        except aiohttp.ClientConnectorCertificateError as exc:
            return ProbeResult(False, f"certificate rejected: {exc.certificate_error}")
        except (aiohttp.ClientError, OSError) as exc:
            return ProbeResult(False, f"request failed: {exc}")
        if status in self.expected_statuses:
            return ProbeResult(True, f"status {status}")
        return ProbeResult(False, f"status {status} not in {_describe(self.expected_statuses)}")


async def _connect(
    host: str,
    port: int,
    limit: float,
    context: ssl.SSLContext | None,
    server_hostname: str | None,
    success: str,
) -> ProbeResult:
    try:
        async with asyncio.timeout(limit):
            _, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=server_hostname
            )
    except TimeoutError:
        return ProbeResult(False, f"no {'handshake' if context else 'connect'} within {limit:g}s")
    except ssl.SSLCertVerificationError as exc:
        return ProbeResult(False, f"certificate rejected: {exc.verify_message}")
    except ssl.SSLError as exc:
        return ProbeResult(False, f"handshake failed: {exc.reason or exc}")
    except OSError as exc:
        # asyncio words every refusal as "Connect call failed (...)"; the errno says why.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return ProbeResult(False, f"connect failed: {reason}")
    # The verdict is in; a peer that is slow to close must not turn it into a failure.
    writer.close()
    with suppress(OSError, TimeoutError):
        async with asyncio.timeout(limit):
            await writer.wait_closed()
    return ProbeResult(True, success)


def _describe(statuses: range | frozenset[int]) -> str:
    if isinstance(statuses, range) and statuses.step == 1:
        return f"{statuses.start}-{statuses.stop - 1}"
    return ", ".join(str(s) for s in sorted(statuses))
