"""The passthrough listener: route each TLS connection by its SNI without terminating it."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from federation.gateway.alerts import AlertDescription, fatal_alert
from federation.gateway.clienthello import DEFAULT_MAX_HELLO_BYTES, ClientHello
from federation.gateway.events import ConnectionEvent, EventKind, Rejected
from federation.gateway.governance import Connected, Governance, TrafficPolicy
from federation.gateway.hello_protocol import HelloProtocol, TerminatedProtocol, Terminator
from federation.gateway.relay import DEFAULT_HIGH_WATER, HeldProtocol, Relay, RelayEnd, RelayTotals
from federation.gateway.routes import RouteTable, UnknownSubsetError, Upstream
from federation.gateway.sni import RouteName, UnknownRouteNameError, parse_route_name

logger = logging.getLogger(__name__)

EventHook = Callable[[ConnectionEvent], None]

_END_KINDS = {
    RelayEnd.COMPLETED: EventKind.RELAYED,
    RelayEnd.CLIENT_RESET: EventKind.CLIENT_RESET,
    RelayEnd.UPSTREAM_RESET: EventKind.UPSTREAM_RESET,
    RelayEnd.ABORTED: EventKind.ABORTED,
}
# A TLS client that is told why reports it ("unrecognized name") instead of a bare EOF; a client
# that never spoke TLS, or stopped mid-hello, would not understand an alert.
_ALERTS = {
    EventKind.NO_SNI: AlertDescription.UNRECOGNIZED_NAME,
    EventKind.UNKNOWN_ROUTE: AlertDescription.UNRECOGNIZED_NAME,
    EventKind.UNKNOWN_SUBSET: AlertDescription.UNRECOGNIZED_NAME,
    EventKind.MALFORMED: AlertDescription.DECODE_ERROR,
    EventKind.NOT_CLIENT_HELLO: AlertDescription.DECODE_ERROR,
    EventKind.OVERSIZED: AlertDescription.DECODE_ERROR,
    EventKind.NO_UPSTREAM: AlertDescription.INTERNAL_ERROR,
    EventKind.UPSTREAMS_UNREACHABLE: AlertDescription.INTERNAL_ERROR,
}


@dataclass(slots=True)
class _Connection:
    """What one connection's task has learnt so far (so mutable); every event is built from it."""

    connection_id: int
    client: HelloProtocol
    started: float
    address: str | None = None
    sni: str | None = None
    route: RouteName | None = None
    upstream: Upstream | None = None
    upstream_transport: asyncio.Transport | None = None
    relay: Relay | None = None
    connect_seconds: float | None = None
    peer_id: str | None = None

    def event(
        self, kind: EventKind, detail: str = "", *, upstream: Upstream | None = None
    ) -> ConnectionEvent:
        relay = self.relay
        return ConnectionEvent(
            connection_id=self.connection_id,
            kind=kind,
            client=self.address,
            sni=self.sni,
            route=self.route,
            upstream=upstream or self.upstream,
            bytes_in=0 if relay is None else relay.bytes_from_client,
            bytes_out=0 if relay is None else relay.bytes_from_upstream,
            duration=asyncio.get_running_loop().time() - self.started,
            detail=detail,
            connect_seconds=self.connect_seconds,
            peer_id=self.peer_id,
        )

    def abort(self) -> None:
        if self.relay is not None:
            self.relay.abort()
            return
        for transport in (self.client.transport, self.upstream_transport):
            if transport is not None:
                transport.abort()


class PassthroughGateway:
    """Accepts TLS connections, routes each by SNI to an upstream, relays bytes both ways."""

    def __init__(
        self,
        routes: RouteTable,
        *,
        hello_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_hello_bytes: int = DEFAULT_MAX_HELLO_BYTES,
        high_water: int = DEFAULT_HIGH_WATER,
        on_event: EventHook | None = None,
        governance: Governance | None = None,
        terminator: Terminator | None = None,
    ) -> None:
        """Without ``governance`` every candidate is tried once, ``connect_timeout`` each."""
        self._routes = routes
        self._hello_timeout = hello_timeout
        self._governance = governance or Governance(lambda _: TrafficPolicy(connect_timeout))
        self._terminator = terminator
        self._max_hello_bytes = max_hello_bytes
        self._high_water = high_water
        self._on_event = on_event
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._relaying: Counter[str] = Counter()

    @property
    def active_connections(self) -> int:
        return len(self._tasks)

    def relaying_by_service(self) -> Mapping[str, int]:
        """Connections relaying bytes right now, by the service they were routed to."""
        return {service: count for service, count in self._relaying.items() if count}

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> tuple[str, int]:
        """Listen on host:port (0 picks a free port) and answer the bound address.

        ``reuse_port``: share the port with other gateway processes (SO_REUSEPORT); the kernel
        spreads new connections over them, so one host runs a gateway per core."""
        loop = asyncio.get_running_loop()
        terminator = self._terminator
        if terminator is None:
            self._server = await loop.create_server(
                lambda: HelloProtocol(self._accept, self._max_hello_bytes, self._hello_timeout),
                host,
                port,
                reuse_port=reuse_port,
            )
        else:
            self._server = await loop.create_server(
                lambda: TerminatedProtocol(self._accept, terminator),
                host,
                port,
                ssl=terminator.server_context,
                ssl_handshake_timeout=self._hello_timeout,
                reuse_port=reuse_port,
            )
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def stop(self, drain_timeout: float) -> None:
        """Stop accepting, give open connections drain_timeout seconds, then abort the rest."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=drain_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()

    def _accept(self, client: HelloProtocol) -> None:
        assert client.transport is not None
        if self._server is None:
            # Accepted in the instant between stop() and the listener closing.
            client.transport.abort()
            return
        loop = asyncio.get_running_loop()
        connection_id = next(self._ids)
        peer = client.transport.get_extra_info("peername")
        address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else None
        connection = _Connection(connection_id, client, loop.time(), address)
        task = loop.create_task(self._serve(connection), name=f"gateway-connection-{connection_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, connection: _Connection) -> None:
        client = connection.client.transport
        assert client is not None
        try:
            totals = await self._route_and_relay(connection)
            self._emit(connection.event(_END_KINDS[totals.end], _describe(totals)))
        except Rejected as rejection:
            alert = _ALERTS.get(rejection.kind)
            # Past a terminated handshake an alert would travel as application data.
            if alert is not None and self._terminator is None and not client.is_closing():
                client.write(fatal_alert(alert))
            client.close()
            self._emit(rejection.reported(connection.event(rejection.kind, rejection.detail)))
        except asyncio.CancelledError:
            connection.abort()
            self._emit(
                connection.event(
                    EventKind.ABORTED,
                    "cancelled: the gateway stopped before the connection finished",
                )
            )
            raise
        except Exception as error:
            # The boundary of one connection (a RouteTable bug, say): nothing escapes to the loop.
            logger.exception("connection %d failed", connection.connection_id)
            connection.abort()
            self._emit(connection.event(EventKind.INTERNAL_ERROR, repr(error)))

    async def _route_and_relay(self, connection: _Connection) -> RelayTotals:
        # Settles within hello_timeout: the protocol's timer rejects a hello that is late.
        hello = await connection.client.hello
        connection.sni = hello.server_name
        try:
            route = parse_route_name(hello.server_name)
        except UnknownRouteNameError as error:
            raise Rejected(EventKind.UNKNOWN_ROUTE, str(error)) from None
        connection.route = route
        try:
            candidates = self._routes.upstreams(route.service, route.port, route.subset)
        except UnknownSubsetError as error:
            raise Rejected(EventKind.UNKNOWN_SUBSET, str(error)) from None
        if not candidates:
            raise Rejected(
                EventKind.NO_UPSTREAM, f"the route table has no upstream for {route.service!r}"
            )
        if self._terminator is not None:
            client = connection.client.transport
            assert client is not None
            connection.peer_id = self._terminator.authorize(client, route.service)
        with self._governance.active_connection():
            connected = await self._connect(connection, route.service, candidates)
            try:
                return await self._relay(connection, connected, hello, route.service)
            finally:
                connected.permit.release()

    async def _relay(
        self, connection: _Connection, connected: Connected, hello: ClientHello, service: str
    ) -> RelayTotals:
        client = connection.client.transport
        assert client is not None
        closed: asyncio.Future[RelayTotals] = asyncio.get_running_loop().create_future()
        connection.relay = Relay(
            client, connected.transport, _resolver(closed), high_water=self._high_water
        )
        connection.upstream = connected.upstream
        connection.connect_seconds = connected.connect_seconds
        connection.relay.start(hello.raw)
        self._relaying[service] += 1
        try:
            return await closed
        finally:
            self._relaying[service] -= 1

    async def _connect(
        self, connection: _Connection, service: str, candidates: Sequence[Upstream]
    ) -> Connected:
        def progress(kind: EventKind, upstream: Upstream, detail: str) -> None:
            self._emit(connection.event(kind, detail, upstream=upstream))

        dial = _dial
        if self._terminator is not None and connection.sni is not None:
            # The next hop routes on the same name: a remote gateway by SNI, a workload's cert.
            dial = functools.partial(self._terminator.dial, server_name=connection.sni)
        connected = await self._governance.connect(service, candidates, dial, progress)
        # Kept on the connection so a cancelled relay start still aborts it.
        connection.upstream_transport = connected.transport
        return connected

    def _emit(self, event: ConnectionEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            # A broken metrics hook must not take connections down with it.
            logger.exception("gateway event hook failed on %s", event.kind)


async def _dial(upstream: Upstream) -> asyncio.Transport:
    transport, _ = await asyncio.get_running_loop().create_connection(
        HeldProtocol, upstream.address, upstream.port
    )
    return transport


def _resolver(closed: asyncio.Future[RelayTotals]) -> Callable[[RelayTotals], None]:
    def resolve(totals: RelayTotals) -> None:
        # The waiting task may have been cancelled by stop(), which cancels this future too.
        if not closed.done():
            closed.set_result(totals)

    return resolve


def _describe(totals: RelayTotals) -> str:
    return f"{totals.end}" if totals.error is None else f"{totals.end}: {totals.error}"
