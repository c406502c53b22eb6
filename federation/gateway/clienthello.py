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


class _Cursor:
    """Reads TLS presentation-language fields, failing as MALFORMED past its end.

    ``what`` names the field in the error; it is a constant at every call site because this
    runs for every connection, and formatting a name per field cost more than the parsing.
    """

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, count: int, what: str) -> bytes:
        end = self._pos + count
        if end > len(self._data):
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"{what} needs {count} bytes but only {len(self._data) - self._pos} remain",
            )
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, width: int, what: str) -> int:
        return int.from_bytes(self.take(width, what), "big")

    def vector(self, length_width: int, what: str, *, min_length: int = 0) -> _Cursor:
        start = self._pos
        length = int.from_bytes(self._data[start : start + length_width], "big")
        if start + length_width > len(self._data):
            self.take(length_width, f"{what} length")  # raises, naming the length field
        self._pos = start + length_width
        if length < min_length:
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"{what} is {length} bytes, under its minimum {min_length}",
            )
        return _Cursor(self.take(length, what))

    def remaining(self) -> bytes:
        return self._data[self._pos :]

    def at_end(self) -> bool:
        return self._pos == len(self._data)

    def expect_end(self, what: str) -> None:
        if not self.at_end():
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"{len(self._data) - self._pos} stray bytes after {what}",
            )


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
        if pos + width > len(body):
            raise ClientHelloError(
                HelloErrorKind.MALFORMED, f"the ClientHello ends inside its {what} length"
            )
        length = int.from_bytes(body[pos : pos + width], "big")
        pos += width
        if not minimum <= length <= maximum:
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"{what} is {length} bytes, outside {minimum}-{maximum}",
            )
        if pos + length > len(body):
            raise ClientHelloError(
                HelloErrorKind.MALFORMED,
                f"{what} needs {length} bytes but only {len(body) - pos} remain",
            )
        if even and length % 2:
            raise ClientHelloError(HelloErrorKind.MALFORMED, f"{what} has an odd length")
        pos += length
    if pos == len(body):
        raise ClientHelloError(
            HelloErrorKind.NO_SNI, "the ClientHello has no extensions, so no server_name"
        )
    extensions = _Cursor(body[pos:])
    block = extensions.vector(2, "extensions").remaining()
    extensions.expect_end("the extensions")
    return block


def _routing_extensions(extensions: bytes) -> tuple[str | None, tuple[bytes, ...]]:
    """server_name and ALPN from the extensions block. Walked by index rather than with a
    _Cursor per extension: a browser sends a dozen or more, and only two matter here."""
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
            server_name = _server_name(_Cursor(extensions[pos : pos + length]))
        elif ext_type == _EXT_ALPN:
            alpn = _alpn_protocols(_Cursor(extensions[pos : pos + length]))
        pos += length
    return server_name, alpn


def _server_name(data: _Cursor) -> str | None:
    names = data.vector(2, "server_name_list", min_length=1)
    data.expect_end("server_name_list")
    host_name: str | None = None
    while not names.at_end():
        name_type = names.uint(1, "name_type")
        name = names.vector(2, "server name", min_length=1).remaining()
        if name_type != _NAME_TYPE_HOST_NAME:
            continue
        if host_name is not None:
            # RFC 6066 §3: no more than one name of the same name_type.
            raise ClientHelloError(HelloErrorKind.MALFORMED, "server_name lists two host names")
        if not (name.isascii() and name.decode("ascii").isprintable()):
            raise ClientHelloError(
                HelloErrorKind.MALFORMED, "server_name host name is not printable ASCII"
            )
        host_name = name.decode("ascii")
    return host_name


def _alpn_protocols(data: _Cursor) -> tuple[bytes, ...]:
    names = data.vector(2, "protocol_name_list", min_length=1)
    data.expect_end("protocol_name_list")
    protocols: list[bytes] = []
    while not names.at_end():
        protocols.append(names.vector(1, "protocol name", min_length=1).remaining())
    return tuple(protocols)
