"""Real TLS backends, a real gateway and a TLS client for end-to-end tests on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from federation.gateway.events import ConnectionEvent, EventKind
from federation.gateway.passthrough import PassthroughGateway
from federation.gateway.routes import RouteTable, Upstream
from tests.federation.gateway.pki import Identity, issue_identity

DEADLINE = 10.0
SNI_A = "outbound_.443_._.svc-a.ns.svc.cluster.local"
SNI_A_V2 = "outbound_.443_.v2_.svc-a.ns.svc.cluster.local"
SNI_B = "svc-b.ns.svc.cluster.local"

HelloSender = Callable[[asyncio.StreamWriter, bytes], Awaitable[None]]


async def send_at_once(writer: asyncio.StreamWriter, hello: bytes) -> None:
    writer.write(hello)
    await writer.drain()


class TlsClient:
    """A TLS client over MemoryBIO, so a test controls how its ClientHello reaches the wire."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls: ssl.SSLObject | None = None

    @classmethod
    async def connect(
        cls,
        address: tuple[str, int],
        server_name: str | None,
        context: ssl.SSLContext,
        send_hello: HelloSender = send_at_once,
    ) -> TlsClient:
        client = cls(*await asyncio.open_connection(*address))
        try:
            async with asyncio.timeout(DEADLINE):
                await client._handshake(server_name, context, send_hello)
        except BaseException:
            client.close()
            raise
        return client

    async def _handshake(
        self, server_name: str | None, context: ssl.SSLContext, send_hello: HelloSender
    ) -> None:
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_name)
        hello_sent = False
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            if not hello_sent:
                await send_hello(self._writer, self._outgoing.read())
                hello_sent = True
            await self._flush()
            await self._receive()
        await self._flush()

    async def exchange(self, request: bytes) -> bytes:
        """Send one line, answer the one line the backend replies with."""
        assert self.tls is not None
        async with asyncio.timeout(DEADLINE):
            self.tls.write(request)
            await self._flush()
            response = b""
            while not response.endswith(b"\n"):
                try:
                    chunk = self.tls.read(65536)
                except ssl.SSLWantReadError:
                    await self._receive()
                    continue
                if not chunk:
                    break
                response += chunk
            return response

    async def _flush(self) -> None:
        if data := self._outgoing.read():
            self._writer.write(data)
            await self._writer.drain()

    async def _receive(self) -> None:
        data = await self._reader.read(65536)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def close(self) -> None:
        self._writer.close()


@dataclass
class Backend:
    name: str
    identity: Identity
    address: tuple[str, int] = ("", 0)
    server_names: list[str | None] = field(default_factory=list)

    @property
    def upstream(self) -> Upstream:
        return Upstream(*self.address)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(DEADLINE):
                line = await reader.readline()
                writer.write(f"{self.name} got ".encode() + line)
                await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()


@pytest.fixture(scope="session")
def identities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Identity]:
    directory: Path = tmp_path_factory.mktemp("pki")
    return {
        "a": issue_identity(directory, "a", ["svc-a.ns.svc.cluster.local", SNI_A, SNI_A_V2]),
        "b": issue_identity(directory, "b", [SNI_B]),
    }


@pytest.fixture
async def backends(identities: dict[str, Identity]) -> AsyncIterator[dict[str, Backend]]:
    servers: list[asyncio.Server] = []
    started: dict[str, Backend] = {}
    for name, identity in identities.items():
        backend = Backend(name, identity)
        context = identity.server_context()

        def remember(_: Any, server_name: str | None, __: Any, backend: Backend = backend) -> None:
            backend.server_names.append(server_name)

        context.sni_callback = remember
        server = await asyncio.start_server(backend.handle, "127.0.0.1", 0, ssl=context)
        backend.address = server.sockets[0].getsockname()[:2]
        servers.append(server)
        started[name] = backend
    yield started
    for server in servers:
        server.close()
        await server.wait_closed()


class EventLog:
    def __init__(self) -> None:
        self.events: list[ConnectionEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: ConnectionEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def kinds(self) -> list[EventKind]:
        return [event.kind for event in self.events]

    async def wait_for(self, kind: EventKind) -> ConnectionEvent:
        async with asyncio.timeout(DEADLINE):
            while True:
                for event in self.events:
                    if event.kind is kind:
                        return event
                self._changed.clear()
                await self._changed.wait()


@dataclass
class RunningGateway:
    gateway: PassthroughGateway
    address: tuple[str, int]
    events: EventLog


GatewayFactory = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture
async def start_gateway() -> AsyncIterator[GatewayFactory]:
    running: list[PassthroughGateway] = []

    async def start(routes: RouteTable, **options: Any) -> RunningGateway:
        events = EventLog()
        options.setdefault("on_event", events)
        gateway = PassthroughGateway(routes, **options)
        address = await gateway.start("127.0.0.1", 0)
        running.append(gateway)
        return RunningGateway(gateway, address, events)

    yield start
    for gateway in running:
        await gateway.stop(drain_timeout=1.0)


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on, so connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def unanswering_port() -> Iterator[int]:
    """A port whose accept queue is full, so a new connect gets no answer (Linux drops the SYN)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(4)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
    yield port
    for sock in [*fillers, listener]:
        sock.close()
