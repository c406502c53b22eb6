"""Fetching a foreign trust domain's bundle from its bundle endpoint (SPIFFE Federation 5).

``https_web``: the endpoint's certificate is checked by the Web PKI (or a given CA file) and
its host name. ``https_spiffe``: the endpoint must present an SVID for ``endpoint_spiffe_id``
that chains to the last bundle held for that trust domain, bootstrapped out of band.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from trust.bundle import DEFAULT_REFRESH_HINT, BundleError, BundleSet, TrustBundle, parse_jwks
from trust.spiffe_id import SpiffeId
from trust.tls import verify_peer
from trust.verify import SvidVerificationError

Profile = Literal["https_web", "https_spiffe"]
MAX_BUNDLE_BYTES = 1024 * 1024
_MAX_HEAD_BYTES = 64 * 1024


class BundleFetchError(Exception):
    """The foreign bundle could not be fetched or was not acceptable."""


@dataclass(frozen=True, slots=True)
class BundleSource:
    trust_domain: str
    url: str
    profile: Profile
    endpoint_spiffe_id: SpiffeId | None = None
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class RefreshBounds:
    """Limits on a publisher's refresh hint, so a bad hint neither floods nor starves us."""

    minimum: timedelta = timedelta(seconds=1)
    maximum: timedelta = timedelta(hours=1)
    default: timedelta = timedelta(seconds=DEFAULT_REFRESH_HINT)


DEFAULT_BOUNDS = RefreshBounds()


def refresh_delay(bundle: TrustBundle | None, bounds: RefreshBounds) -> timedelta:
    """How long to wait before the next fetch of a bundle we hold (or failed to get)."""
    hint = bundle.refresh_hint if bundle is not None else None
    wanted = timedelta(seconds=hint) if hint is not None else bounds.default
    return min(bounds.maximum, max(bounds.minimum, wanted))


def retry_delay(bundle: TrustBundle | None, failures: int, bounds: RefreshBounds) -> timedelta:
    """After ``failures`` failed fetches in a row: back off from the minimum, doubling, but
    never wait longer than the refresh hint would."""
    backoff: timedelta = bounds.minimum * (1 << min(max(failures - 1, 0), 16))
    return min(backoff, refresh_delay(bundle, bounds))


def client_ssl_context(source: BundleSource, known: TrustBundle | None) -> ssl.SSLContext:
    """Blocking (reads ``ca_file``): call it off the event loop."""
    if source.profile == "https_web":
        cafile = str(source.ca_file) if source.ca_file is not None else None
        return ssl.create_default_context(cafile=cafile)
    if known is None or not known.roots:
        raise BundleFetchError(
            f"{source.trust_domain}: https_spiffe needs a bundle to authenticate "
            f"{source.url}: set trust.federates_with[].bundle_file to that domain's bundle"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The endpoint is named by its SPIFFE ID, not DNS; verify_peer checks that after the handshake.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=known.roots_pem())
    return context


async def fetch_bundle(
    source: BundleSource,
    known: TrustBundle | None,
    context: ssl.SSLContext,
    now: datetime,
) -> TrustBundle:
    """The bundle the endpoint serves now; the caller decides with ``accept_update``.

    A plain HTTP/1.1 exchange over one TLS stream, because https_spiffe must inspect the
    certificates of the very connection the bundle arrives on. Bound it with a timeout.
    """
    url = urlsplit(source.url)
    host, port = url.hostname or "", url.port or 443
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host
        )
        try:
            if source.profile == "https_spiffe":
                _authenticate_endpoint(source, known, writer.get_extra_info("ssl_object"), now)
            request = (
                f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                "Accept: application/json\r\nConnection: close\r\n\r\n"
            )
            writer.write(request.encode("ascii"))
            await writer.drain()
            raw = b""
            while len(raw) <= MAX_BUNDLE_BYTES + _MAX_HEAD_BYTES and (
                chunk := await reader.read(65536)
            ):
                raw += chunk
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
    except (OSError, ssl.SSLError) as exc:
        raise BundleFetchError(
            f"{source.trust_domain}: fetching {source.url} failed "
            f"({type(exc).__name__}: {exc}); the last good bundle stays in use"
        ) from exc
    body = _http_body(source, raw)
    try:
        return parse_jwks(source.trust_domain, body)
    except BundleError as exc:
        raise BundleFetchError(str(exc)) from exc


def _http_body(source: BundleSource, raw: bytes) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")
    if not sep or len(status) < 2 or not status[0].startswith("HTTP/1."):
        raise BundleFetchError(f"{source.trust_domain}: {source.url} did not answer HTTP/1.1")
    if status[1] != "200":
        raise BundleFetchError(
            f"{source.trust_domain}: {source.url} answered HTTP {status[1]}; "
            "check the bundle_endpoint URL"
        )
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    if len(body) > MAX_BUNDLE_BYTES:
        raise BundleFetchError(
            f"{source.trust_domain}: {source.url} sent more than {MAX_BUNDLE_BYTES} bytes"
        )
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return _dechunk(source, body)
    length = headers.get("content-length")
    return body[: int(length)] if length and length.isdigit() else body


def _dechunk(source: BundleSource, body: bytes) -> bytes:
    out = b""
    while True:
        size_line, sep, rest = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise BundleFetchError(
                f"{source.trust_domain}: {source.url} sent a malformed chunked body"
            ) from None
        if size == 0 or not sep:
            return out
        out, body = out + rest[:size], rest[size + 2 :]


def _authenticate_endpoint(
    source: BundleSource,
    known: TrustBundle | None,
    ssl_object: ssl.SSLObject | None,
    now: datetime,
) -> None:
    if ssl_object is None or known is None:
        raise BundleFetchError(f"{source.trust_domain}: {source.url} did not speak TLS")
    try:
        verify_peer(ssl_object, BundleSet((known,)), now, expect=source.endpoint_spiffe_id)
    except SvidVerificationError as exc:
        raise BundleFetchError(
            f"{source.trust_domain}: the bundle endpoint {source.url} is not authenticated: {exc}"
        ) from exc
