"""What owns an accepted connection until the gateway knows where it goes: the ClientHello's
SNI in passthrough mode (read incrementally, within a deadline), the handshake's SNI in mtls
mode. Either way the connection's task awaits one future, settled once."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Protocol, cast

from federation.gateway.clienthello import (
    DEFAULT_MAX_HELLO_BYTES,
    ClientHello,
    ClientHelloError,
    ClientHelloReader,
)
from federation.gateway.events import EventKind, Rejected
from federation.gateway.routes import Upstream


class HelloProtocol(asyncio.Protocol):
    """Owns an accepted connection until its ClientHello is read, then goes quiet."""

    def __init__(
        self,
        accept: Callable[[HelloProtocol], None],
        max_hello_bytes: int,
        hello_timeout: float | None = None,
    ) -> None:
        self._accept = accept
        self._reader = ClientHelloReader(max_hello_bytes)
        self._hello_timeout = hello_timeout
        # One timer handle per connection: cheaper than an asyncio.timeout scope around the wait.
        self._timer: asyncio.TimerHandle | None = None
        self.bytes_read = 0
        self.hello: asyncio.Future[ClientHello] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's transports have asyncio.Transport's interface
        # without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        if self._hello_timeout is not None:
            self._timer = asyncio.get_running_loop().call_later(
                self._hello_timeout, self._expire, self._hello_timeout
            )
        self._accept(self)

    def _expire(self, timeout: float) -> None:
        self._settle(
            Rejected(
                EventKind.HELLO_TIMEOUT,
                f"no complete ClientHello within {timeout}s ({self.bytes_read} bytes read)",
            )
        )

    def data_received(self, data: bytes) -> None:
        if self.hello.done():
            return
        self.bytes_read += len(data)
        try:
            hello = self._reader.feed(data)
        except ClientHelloError as error:
            self._settle(Rejected(EventKind(error.kind.value), error.detail))
            return
        if hello is not None:
            # Whatever follows belongs to the relay, which resumes reading once it owns it.
            self._settle(hello)

    def eof_received(self) -> bool:
        self._settle(
            Rejected(EventKind.TRUNCATED, f"EOF after {self.bytes_read} bytes, mid-ClientHello")
        )
        # Stay open so the connection's task decides how to close it.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        reason = exc or "closed"
        self._settle(Rejected(EventKind.CLIENT_GONE, f"client went mid-ClientHello: {reason}"))

    def _settle(self, outcome: ClientHello | Rejected) -> None:
        if self.hello.done():
            return
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.pause_reading()
        if isinstance(outcome, ClientHello):
            self.hello.set_result(outcome)
        else:
            self.hello.set_exception(outcome)


class Terminator(Protocol):
    """What mtls mode adds: TLS ends at the gateway, callers are checked, next hops are mTLS."""

    @property
    def server_context(self) -> ssl.SSLContext: ...

    def server_name(self, transport: asyncio.Transport) -> str | None:
        """The SNI the client sent in the handshake that just completed."""
        ...

    def authorize(self, transport: asyncio.Transport, service: str) -> str:
        """The caller's verified SPIFFE ID when policy lets it call ``service``; else Rejected."""
        ...

    async def dial(self, upstream: Upstream, server_name: str) -> asyncio.Transport:
        """An authenticated mTLS connection to the next hop, or OSError."""
        ...


class TerminatedProtocol(HelloProtocol):
    """mtls mode: asyncio ran the handshake before ``connection_made``, so the SNI is known."""

    def __init__(self, accept: Callable[[HelloProtocol], None], terminator: Terminator) -> None:
        super().__init__(accept, DEFAULT_MAX_HELLO_BYTES)
        self._terminator = terminator

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        name = self._terminator.server_name(self.transport)
        if name is None:
            self._settle(Rejected(EventKind.NO_SNI, "the client sent no server name (SNI)"))
        else:
            # Nothing to replay: the client's bytes after the handshake are its own requests.
            self._settle(ClientHello(name, (), b""))
