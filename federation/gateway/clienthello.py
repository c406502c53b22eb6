"""Incremental reader for the ClientHello that opens a TLS connection.

Layouts: RFC 8446 §5.1 (records), §4.1.2 (ClientHello), RFC 6066 §3 (server_name) and
RFC 7301 §3.1 (ALPN). The reader is pure: bytes in, an answer out, no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum

HANDSHAKE_RECORD = 0x16
CLIENT_HELLO = 0x01
RECORD_HEADER_BYTES = 5
HANDSHAKE_HEADER_BYTES = 4
# RFC 8446 §5.1 caps a plaintext fragment at 2^14; accepting the 256-byte ciphertext allowance
# too leaves a borderline client for the upstream to judge, and still bounds memory.
MAX_RECORD_LENGTH = 2**14 + 256
DEFAULT_MAX_HELLO_BYTES = 64 * 1024
_EXT_SERVER_NAME = 0
_EXT_ALPN = 16
_NAME_TYPE_HOST_NAME = 0
_MAX_SESSION_ID = 32
_EXTENSION_HEADER = struct.Struct(">HH")  # extension_type, extension_data length
# (field, length bytes, fewest, most, in pairs) of the vectors before the extensions,
# RFC 8446 §4.1.2.
_FIXED_VECTORS = (
    ("legacy_session_id", 1, 0, _MAX_SESSION_ID, False),
    ("cipher_suites", 2, 2, 2**16 - 2, True),
    ("legacy_compression_methods", 1, 1, 2**8 - 1, False),
)


class HelloErrorKind(StrEnum):
    NOT_TLS = "not_tls"
    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    NOT_CLIENT_HELLO = "not_client_hello"
    NO_SNI = "no_sni"


class ClientHelloError(Exception):
    """The first bytes of a connection are not a ClientHello this gateway can route."""

    def __init__(self, kind: HelloErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ClientHello:
    server_name: str
    alpn_protocols: tuple[bytes, ...]
    # Every byte fed so far, in arrival order: the hello's records plus anything the client sent
    # right behind them. Forwarding it unchanged keeps the client's handshake transcript intact.
    raw: bytes


class ClientHelloReader:
    """Feed it a connection's first bytes as they arrive; it answers once it has the hello.

    `feed` returns None while more bytes are needed, the `ClientHello` once complete, and raises
    `ClientHelloError` (and nothing else) as soon as the bytes cannot become a routable hello.
    """

    def __init__(self, max_hello_bytes: int = DEFAULT_MAX_HELLO_BYTES) -> None:
        self._max_hello_bytes = max_hello_bytes
        self._received = bytearray()
        self._next_record = 0
        self._message = bytearray()
        self._hello: ClientHello | None = None

    def feed(self, data: bytes) -> ClientHello | None:
        if self._hello is not None:
            return self._hello
        self._received += data
        while (fragment := self._next_fragment()) is not None:
            self._message += fragment
            body = self._complete_message()
            if body is not None:
                server_name, alpn = parse_client_hello_body(body)
                self._hello = ClientHello(server_name, alpn, bytes(self._received))
                # The hello outlives the handshake as long as its connection; the buffers need not.
                self._received, self._message = bytearray(), bytearray()
                return self._hello
        return None

    def _next_fragment(self) -> bytes | None:
        start = self._next_record
        header = bytes(self._received[start : start + RECORD_HEADER_BYTES])
        _check_record_header(header, first=start == 0)
        if len(header) < RECORD_HEADER_BYTES:
            return None
        end = start + RECORD_HEADER_BYTES + int.from_bytes(header[3:5], "big")
        if end > self._max_hello_bytes:
            # Judged on the header, before the record's bytes are buffered.
            raise ClientHelloError(
                HelloErrorKind.OVERSIZED,
                f"the ClientHello's records run past {self._max_hello_bytes} bytes; "
                "raise max_hello_bytes if clients need it",
            )
        if len(self._received) < end:
            return None
        self._next_record = end
        return bytes(self._received[start + RECORD_HEADER_BYTES : end])

    def _complete_message(self) -> bytes | None:
        if len(self._message) < HANDSHAKE_HEADER_BYTES:
            return None
        if self._message[0] != CLIENT_HELLO:
            raise ClientHelloError(
                HelloErrorKind.NOT_CLIENT_HELLO,
                f"handshake message type {self._message[0]} is not a ClientHello (1); "
                "a client must open with a ClientHello",
            )
        length = int.from_bytes(self._message[1:4], "big")
        if HANDSHAKE_HEADER_BYTES + length > self._max_hello_bytes:
            raise ClientHelloError(
                HelloErrorKind.OVERSIZED,
                f"ClientHello declares {length} bytes, over the {self._max_hello_bytes}-byte "
                "bound; raise max_hello_bytes if clients need it",
            )
        end = HANDSHAKE_HEADER_BYTES + length
        if len(self._message) < end:
            return None
        if len(self._message) > end:
            # A client sends nothing else in handshake records before it has the ServerHello.
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"{len(self._message) - end} handshake bytes follow the ClientHello in its records",
            )
        return bytes(self._message[HANDSHAKE_HEADER_BYTES:end])


def _check_record_header(header: bytes, *, first: bool) -> None:
    """Judge as much of a record header as has arrived, so plaintext fails on its first byte."""
    kind = HelloErrorKind.NOT_TLS if first else HelloErrorKind.MALFORMED
    if len(header) >= 1 and header[0] != HANDSHAKE_RECORD:
        raise ClientHelloError(
            kind,
            f"record type 0x{header[0]:02x} where a TLS handshake record (0x16) was expected; "
            "the client is not speaking TLS to this passthrough port",
        )
    if len(header) >= 3 and (header[1] != 3 or header[2] > 4):
        raise ClientHelloError(
            kind, f"record version 0x{header[1]:02x}{header[2]:02x} is not TLS (0x0300-0x0304)"
        )
    if len(header) < RECORD_HEADER_BYTES:
        return
    length = int.from_bytes(header[3:5], "big")
    if length == 0:
        raise ClientHelloError(
            HelloErrorKind.MALFORMED, "zero-length handshake record (RFC 8446 §5.1 forbids it)"
        )
    if length > MAX_RECORD_LENGTH:
        raise ClientHelloError(
            HelloErrorKind.OVERSIZED,
            f"record of {length} bytes exceeds the TLS limit of {MAX_RECORD_LENGTH}",
        )


def _vector(data: bytes, pos: int, width: int, what: str, min_length: int = 0) -> tuple[int, int]:
    """Where the content of the vector at ``pos`` starts and ends; its length takes ``width``
    bytes. ``what`` names the field in the error; it is a constant at every call site because
    this runs for every connection, and formatting a name per field cost more than parsing."""
    start = pos + width
    if start > len(data):
        raise ClientHelloError(
            HelloErrorKind.MALFORMED,
            f"{what} length needs {width} bytes but only {len(data) - pos} remain",
        )
    length = int.from_bytes(data[pos:start], "big")
    if length < min_length:
        raise ClientHelloError(
            HelloErrorKind.MALFORMED, f"{what} is {length} bytes, under its minimum {min_length}"
        )
    end = start + length
    if end > len(data):
        raise ClientHelloError(
            HelloErrorKind.MALFORMED,
            f"{what} needs {length} bytes but only {len(data) - start} remain",
        )
    return start, end


def _sole_vector(data: bytes, width: int, what: str, min_length: int = 0) -> bytes:
    """The content of the one vector ``data`` must be, nothing after it."""
    start, end = _vector(data, 0, width, what, min_length)
    if end != len(data):
        raise ClientHelloError(
            HelloErrorKind.MALFORMED, f"{len(data) - end} stray bytes after the {what}"
        )
    return data[start:end]


def parse_client_hello_body(body: bytes) -> tuple[str, tuple[bytes, ...]]:
    """The server name and ALPN protocols of one complete ClientHello body (no header)."""
    server_name, alpn = _routing_extensions(_extensions_block(body))
    if server_name is None:
        raise ClientHelloError(
            HelloErrorKind.NO_SNI,
            "the ClientHello carries no server_name; the client must send SNI to be routed",
        )
    return server_name, alpn


def _extensions_block(body: bytes) -> bytes:
    """Skip the fixed fields by index (every connection pays for this walk) and answer the
    extensions block, checking each length as it goes."""
    pos = 2 + 32  # legacy_version and random
    for what, width, minimum, maximum, even in _FIXED_VECTORS:
        start, pos = _vector(body, pos, width, what, minimum)
        if pos - start > maximum:
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"{what} is {pos - start} bytes, over its maximum {maximum}",
            )
        if even and (pos - start) % 2:
            raise ClientHelloError(HelloErrorKind.MALFORMED, f"{what} has an odd length")
    if pos == len(body):
        raise ClientHelloError(
            HelloErrorKind.NO_SNI, "the ClientHello has no extensions, so no server_name"
        )
    return _sole_vector(body[pos:], 2, "extensions")


def _routing_extensions(extensions: bytes) -> tuple[str | None, tuple[bytes, ...]]:
    """server_name and ALPN from the extensions block, walked by index: a browser sends a
    dozen extensions or more, and only two matter here."""
    seen: set[int] = set()
    server_name: str | None = None
    alpn: tuple[bytes, ...] = ()
    pos, end = 0, len(extensions)
    while pos < end:
        if end - pos < 4:
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"an extension header needs 4 bytes but only {end - pos} remain",
            )
        ext_type, length = _EXTENSION_HEADER.unpack_from(extensions, pos)
        pos += 4
        if pos + length > end:
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"extension {ext_type} needs {length} bytes but only {end - pos} remain",
            )
        if ext_type in seen:
            # RFC 8446 §4.2: at most one extension of each type.
            raise ClientHelloError(HelloErrorKind.MALFORMED, f"extension {ext_type} repeated")
        seen.add(ext_type)
        if ext_type == _EXT_SERVER_NAME:
            server_name = _server_name(extensions[pos : pos + length])
        elif ext_type == _EXT_ALPN:
            alpn = _alpn_protocols(extensions[pos : pos + length])
        pos += length
    return server_name, alpn


def _server_name(data: bytes) -> str | None:
    names = _sole_vector(data, 2, "server_name_list", min_length=1)
    host_name: str | None = None
    pos = 0
    while pos < len(names):
        name_type = names[pos]
        start, pos = _vector(names, pos + 1, 2, "server name", min_length=1)
        if name_type != _NAME_TYPE_HOST_NAME:
            continue
        if host_name is not None:
            # RFC 6066 §3: no more than one name of the same name_type.
            raise ClientHelloError(HelloErrorKind.MALFORMED, "server_name lists two host names")
        name = names[start:pos]
        if not (name.isascii() and name.decode("ascii").isprintable()):
            raise ClientHelloError(
                HelloErrorKind.MALFORMED, "server_name host name is not printable ASCII"
            )
        host_name = name.decode("ascii")
    return host_name


def _alpn_protocols(data: bytes) -> tuple[bytes, ...]:
    names = _sole_vector(data, 2, "protocol_name_list", min_length=1)
    protocols: list[bytes] = []
    pos = 0
    while pos < len(names):
        start, pos = _vector(names, pos, 1, "protocol name", min_length=1)
        protocols.append(names[start:pos])
    return tuple(protocols)
