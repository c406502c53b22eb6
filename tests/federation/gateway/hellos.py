"""ClientHellos for tests: real ones captured from Python's ssl, synthetic ones built by hand."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Sequence

RECORD_HEADER = 5
_TLS13_AES_128_GCM_SHA256 = b"\x13\x01"
_EXT_PADDING = 21


def captured_client_hello(server_name: str | None, alpn: Sequence[str] = ("h2",)) -> bytes:
    """The exact bytes OpenSSL sends first for a client with this SNI and ALPN."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(list(alpn))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def client_hello_message(
    server_name: str | None = "svc-a.ns.svc.cluster.local",
    *,
    alpn: Sequence[bytes] = (b"h2",),
    extensions: Iterable[tuple[int, bytes]] = (),
    padding: int = 0,
) -> bytes:
    """A ClientHello handshake message (header included), not yet framed in records."""
    built: list[tuple[int, bytes]] = []
    if server_name is not None:
        name = server_name.encode("ascii")
        entry = b"\x00" + _u16(len(name)) + name
        built.append((0, _u16(len(entry)) + entry))
    if alpn:
        names = b"".join(bytes([len(p)]) + p for p in alpn)
        built.append((16, _u16(len(names)) + names))
    built.extend(extensions)
    if padding:
        built.append((_EXT_PADDING, bytes(padding)))
    encoded = b"".join(_u16(kind) + _u16(len(data)) + data for kind, data in built)
    body = (
        b"\x03\x03"
        + bytes(32)
        + b"\x00"
        + _u16(2)
        + _TLS13_AES_128_GCM_SHA256
        + b"\x01\x00"
        + _u16(len(encoded))
        + encoded
    )
    return b"\x01" + len(body).to_bytes(3, "big") + body


def frame(message: bytes, fragment_size: int = 2**14, record_type: int = 0x16) -> bytes:
    """Split a handshake message into TLS records of at most fragment_size bytes each."""
    chunks = [message[i : i + fragment_size] for i in range(0, len(message), fragment_size)]
    return b"".join(bytes([record_type, 3, 1]) + _u16(len(c)) + c for c in chunks)


def unframe(records: bytes) -> bytes:
    """The handshake bytes carried by a run of records."""
    payload, offset = bytearray(), 0
    while offset < len(records):
        length = int.from_bytes(records[offset + 3 : offset + 5], "big")
        payload += records[offset + RECORD_HEADER : offset + RECORD_HEADER + length]
        offset += RECORD_HEADER + length
    return bytes(payload)
