"""Bidirectional byte relay between two connected asyncio transports.

Each side is an `asyncio.Protocol` whose `data_received` writes straight into the peer's
transport: no intermediate queue, no per-chunk copy beyond the transport's own buffer. Memory per
connection is bounded by back-pressure: when a transport's write buffer passes its high-water
mark asyncio calls `pause_writing` on that side, which pauses reading on the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

DEFAULT_HIGH_WATER = 256 * 1024


class RelayEnd(StrEnum):
    COMPLETED = "completed"  # both sides sent EOF
    CLIENT_RESET = "client_reset"
    UPSTREAM_RESET = "upstream_reset"
    ABORTED = "aborted"  # the owner called abort(), e.g. a drain deadline passed


@dataclass(frozen=True, slots=True)
class RelayTotals:
    bytes_from_client: int
    bytes_from_upstream: int
    end: RelayEnd
    error: BaseException | None = None


class HeldProtocol(asyncio.Protocol):
    """Keeps a new connection silent until a Relay adopts it.

    Reading is paused in `connection_made`, before asyncio registers the socket for reading, so
    no byte can arrive at a protocol that would drop it.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).pause_reading()  # uvloop's do not subclass it


class _Leg(asyncio.Protocol):
    def __init__(self, relay: Relay, transport: asyncio.Transport, reset_end: RelayEnd) -> None:
        self._relay = relay
        self.transport = transport
        self.reset_end = reset_end
        self.peer: _Leg = self
        self.bytes_read = 0
        self.eof = False
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        if not self.peer.transport.is_closing():
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        if self.eof:
            # A paused-then-resumed reader can see the same EOF twice.
            return True
        self.eof = True
        self._relay._leg_finished_sending(self)
        # Keep the socket open: the peer may still have bytes for this side. A TLS transport
        # (mtls mode) cannot stay half-open; asyncio closes it whatever we answer.
        return self.transport.can_write_eof()

    def pause_writing(self) -> None:
        self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._relay._leg_lost(self, exc)


class Relay:
    """Joins a client transport and an upstream transport and copies bytes both ways.

    Half-close is relayed (EOF from one side becomes `write_eof` on the other); the relay closes
    both once both have sent EOF, aborts the survivor when one side resets, and calls `on_close`
    exactly once after both transports are gone.
    """

    def __init__(
        self,
        client: asyncio.Transport,
        upstream: asyncio.Transport,
        on_close: Callable[[RelayTotals], None],
        *,
        high_water: int = DEFAULT_HIGH_WATER,
    ) -> None:
        self._on_close = on_close
        self._client = _Leg(self, client, RelayEnd.CLIENT_RESET)
        self._upstream = _Leg(self, upstream, RelayEnd.UPSTREAM_RESET)
        self._client.peer, self._upstream.peer = self._upstream, self._client
        self._high_water = high_water
        self._end: RelayEnd | None = None
        self._error: BaseException | None = None

    @property
    def bytes_from_client(self) -> int:
        return self._client.bytes_read

    @property
    def bytes_from_upstream(self) -> int:
        return self._upstream.bytes_read

    def start(self, first_bytes_to_upstream: bytes = b"") -> None:
        """Adopt both transports and start copying, after sending bytes already read."""
        for leg in (self._client, self._upstream):
            leg.transport.set_protocol(leg)
            leg.transport.set_write_buffer_limits(high=self._high_water)
            if leg.transport.is_closing():
                # It closed before adoption, so its connection_lost went to the old protocol.
                self._leg_lost(leg, ConnectionResetError("closed before the relay started"))
        for leg in (self._client, self._upstream):
            leg.transport.resume_reading()
        # Written after resuming so that a large first write can still pause the client.
        self._client.bytes_read += len(first_bytes_to_upstream)
        if first_bytes_to_upstream and not self._upstream.transport.is_closing():
            self._upstream.transport.write(first_bytes_to_upstream)

    def abort(self) -> None:
        if self._end is None:
            self._end = RelayEnd.ABORTED
        for leg in (self._client, self._upstream):
            leg.transport.abort()

    def _leg_finished_sending(self, leg: _Leg) -> None:
        peer = leg.peer.transport
        if not peer.is_closing() and peer.can_write_eof():
            peer.write_eof()
        if leg.peer.eof:
            self._end = self._end or RelayEnd.COMPLETED
            # close() flushes what is still buffered before the socket goes.
            self._client.transport.close()
            self._upstream.transport.close()

    def _leg_lost(self, leg: _Leg, exc: BaseException | None) -> None:
        if leg.lost:
            # start() may already have reported a transport that closed before adoption.
            return
        leg.lost = True
        if exc is not None and self._end is None:
            self._end, self._error = leg.reset_end, exc
            # A reset breaks the TLS stream; flushing more bytes to the peer helps nobody.
            leg.peer.transport.abort()
        elif not leg.peer.lost:
            leg.peer.transport.close()
        if self._client.lost and self._upstream.lost:
            self._finish()

    def _finish(self) -> None:
        if self._end is None:
            # Someone else closed a transport under us; no peer finished, so blame the client.
            self._end = RelayEnd.CLIENT_RESET
        self._on_close(
            RelayTotals(self._client.bytes_read, self._upstream.bytes_read, self._end, self._error)
        )
