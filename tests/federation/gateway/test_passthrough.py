from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence

import pytest

from federation.gateway.events import EventKind
from federation.gateway.passthrough import PassthroughGateway
from federation.gateway.routes import StaticRouteTable, Upstream
from tests.federation.gateway.conftest import (
    DEADLINE,
    SNI_A,
    SNI_A_V2,
    SNI_B,
    Backend,
    GatewayFactory,
    HelloSender,
    TlsClient,
    send_at_once,
)
from tests.federation.gateway.hellos import (
    captured_client_hello,
    client_hello_message,
    frame,
    unframe,
)

UNRECOGNIZED_NAME_ALERT = b"\x15\x03\x03\x00\x02\x02\x70"
DECODE_ERROR_ALERT = b"\x15\x03\x03\x00\x02\x02\x32"
INTERNAL_ERROR_ALERT = b"\x15\x03\x03\x00\x02\x02\x50"


def routes_to(backends: dict[str, Backend]) -> StaticRouteTable:
    return StaticRouteTable(
        {"svc-a.ns": [backends["a"].upstream], "svc-b.ns": [backends["b"].upstream]}
    )


async def request_through(
    address: tuple[str, int],
    server_name: str,
    backend: Backend,
    send_hello: HelloSender = send_at_once,
) -> bytes:
    context = backend.identity.client_context()
    client = await TlsClient.connect(address, server_name, context, send_hello)
    try:
        return await client.exchange(b"ping\n")
    finally:
        client.close()


async def send_raw(address: tuple[str, int], data: bytes, *, eof: bool = False) -> bytes:
    """Send bytes as they are; answer everything the gateway sends back before it closes."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        async with asyncio.timeout(DEADLINE):
            writer.write(data)
            if eof:
                writer.write_eof()
            await writer.drain()
            return await reader.read()
    finally:
        writer.close()


async def test_auto_passthrough_sni_reaches_its_backend_which_the_client_verifies(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    gw = await start_gateway(routes_to(backends))
    # The client trusts only backend A's CA and checks the name: had the gateway terminated TLS,
    # or sent the connection to B, the handshake would fail.
    assert await request_through(gw.address, SNI_A, backends["a"]) == b"a got ping\n"
    event = await gw.events.wait_for(EventKind.RELAYED)
    assert backends["a"].server_names == [SNI_A]
    assert backends["b"].server_names == []
    assert (event.sni, event.upstream) == (SNI_A, backends["a"].upstream)
    assert event.route is not None and event.route.service == "svc-a.ns"
    assert event.bytes_in > 500 and event.bytes_out > 500
    assert event.duration > 0


async def test_plain_service_host_name_routes_to_its_backend(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    gw = await start_gateway(routes_to(backends))
    assert await request_through(gw.address, SNI_B, backends["b"]) == b"b got ping\n"
    assert backends["b"].server_names == [SNI_B]


async def test_hello_sent_in_one_byte_segments_still_routes(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    async def one_byte_at_a_time(writer: asyncio.StreamWriter, hello: bytes) -> None:
        for i in range(len(hello)):
            writer.write(hello[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0.0005)

    gw = await start_gateway(routes_to(backends))
    response = await request_through(
        gw.address, SNI_A, backends["a"], send_hello=one_byte_at_a_time
    )
    assert response == b"a got ping\n"


async def test_hello_split_across_many_records_is_replayed_unchanged(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    sent: list[bytes] = []

    async def in_small_records(writer: asyncio.StreamWriter, hello: bytes) -> None:
        sent.append(frame(unframe(hello), fragment_size=64))
        writer.write(sent[0])
        await writer.drain()

    gw = await start_gateway(routes_to(backends))
    response = await request_through(gw.address, SNI_A, backends["a"], send_hello=in_small_records)
    assert response == b"a got ping\n"
    assert (len(sent[0]) - len(unframe(sent[0]))) // 5 >= 8  # record headers: really many


async def test_route_table_is_asked_with_the_port_and_subset_from_sni(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    asked: list[tuple[str, int | None, str | None]] = []

    class Recording:
        def upstreams(
            self, service: str, port: int | None, subset: str | None
        ) -> Sequence[Upstream]:
            asked.append((service, port, subset))
            return [backends["a"].upstream]

    gw = await start_gateway(Recording())
    await request_through(gw.address, SNI_A_V2, backends["a"])
    assert asked == [("svc-a.ns", 443, "v2")]


@pytest.mark.parametrize(
    ("first_bytes", "eof", "kind", "answer"),
    [
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", False, EventKind.NOT_TLS, b"", id="plain-http"
        ),
        pytest.param(
            captured_client_hello(None), False, EventKind.NO_SNI, UNRECOGNIZED_NAME_ALERT,
            id="no-sni",
        ),
        pytest.param(
            captured_client_hello("www.example.com"), False, EventKind.UNKNOWN_ROUTE,
            UNRECOGNIZED_NAME_ALERT, id="unknown-sni",
        ),
        pytest.param(
            captured_client_hello("svc-c.ns.svc.cluster.local"), False, EventKind.NO_UPSTREAM,
            INTERNAL_ERROR_ALERT, id="service-without-upstreams",
        ),
        pytest.param(
            # The start of a hello whose record runs past the 4 KiB bound set below.
            frame(client_hello_message(SNI_A, padding=8000))[:1000], False,
            EventKind.OVERSIZED, DECODE_ERROR_ALERT, id="oversized",
        ),
        pytest.param(
            captured_client_hello(SNI_A)[:100], True, EventKind.TRUNCATED, b"",
            id="truncated-then-eof",
        ),
        pytest.param(
            frame(b"\x02\x00\x00\x02\x03\x03"), False, EventKind.NOT_CLIENT_HELLO,
            DECODE_ERROR_ALERT, id="server-hello",
        ),
        pytest.param(
            frame(b"\x01\x00\x00\x28" + b"\xff" * 40), False, EventKind.MALFORMED,
            DECODE_ERROR_ALERT, id="malformed",
        ),
    ],
)  # fmt: skip
async def test_unroutable_connections_are_closed_and_reported_by_kind(
    backends: dict[str, Backend],
    start_gateway: GatewayFactory,
    first_bytes: bytes,
    eof: bool,
    kind: EventKind,
    answer: bytes,
) -> None:
    gw = await start_gateway(routes_to(backends), max_hello_bytes=4096)
    assert await send_raw(gw.address, first_bytes, eof=eof) == answer
    event = await gw.events.wait_for(kind)
    assert event.detail
    assert gw.events.kinds() == [kind]
    assert backends["a"].server_names == backends["b"].server_names == []


async def test_tls_client_is_told_its_server_name_is_unrecognized(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    gw = await start_gateway(routes_to(backends))
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        await request_through(gw.address, "www.example.com", backends["a"])
    event = await gw.events.wait_for(EventKind.UNKNOWN_ROUTE)
    assert event.sni == "www.example.com"


async def test_slow_hello_times_out_and_closes(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    gw = await start_gateway(routes_to(backends), hello_timeout=0.2)
    assert await send_raw(gw.address, captured_client_hello(SNI_A)[:50]) == b""
    event = await gw.events.wait_for(EventKind.HELLO_TIMEOUT)
    assert "50 bytes read" in event.detail


async def test_refusing_first_upstream_falls_back_to_the_second(
    backends: dict[str, Backend], start_gateway: GatewayFactory, free_port: int
) -> None:
    refusing = Upstream("127.0.0.1", free_port)
    table = StaticRouteTable({"svc-a.ns": [refusing, backends["a"].upstream]})
    gw = await start_gateway(table)
    assert await request_through(gw.address, SNI_A, backends["a"]) == b"a got ping\n"
    relayed = await gw.events.wait_for(EventKind.RELAYED)
    assert gw.events.kinds() == [EventKind.UPSTREAM_CONNECT_FAILED, EventKind.RELAYED]
    assert gw.events.events[0].upstream == refusing
    assert relayed.upstream == backends["a"].upstream


async def test_unanswering_upstream_times_out_and_the_next_candidate_is_used(
    backends: dict[str, Backend], start_gateway: GatewayFactory, unanswering_port: int
) -> None:
    silent = Upstream("127.0.0.1", unanswering_port)
    table = StaticRouteTable({"svc-a.ns": [silent, backends["a"].upstream]})
    gw = await start_gateway(table, connect_timeout=0.2)
    assert await request_through(gw.address, SNI_A, backends["a"]) == b"a got ping\n"
    failed = await gw.events.wait_for(EventKind.UPSTREAM_CONNECT_FAILED)
    assert failed.upstream == silent
    assert "0.2s" in failed.detail


async def test_all_upstreams_refusing_closes_the_client_with_an_internal_error(
    backends: dict[str, Backend], start_gateway: GatewayFactory, free_port: int
) -> None:
    refusing = Upstream("127.0.0.1", free_port)
    gw = await start_gateway(StaticRouteTable({"svc-a.ns": [refusing, refusing]}))
    assert await send_raw(gw.address, captured_client_hello(SNI_A)) == INTERNAL_ERROR_ALERT
    event = await gw.events.wait_for(EventKind.UPSTREAMS_UNREACHABLE)
    assert gw.events.kinds().count(EventKind.UPSTREAM_CONNECT_FAILED) == 2
    assert f"127.0.0.1:{free_port}" in event.detail


async def test_failing_event_hook_does_not_break_relaying(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("metrics backend down")

    gw = await start_gateway(routes_to(backends), on_event=broken)
    assert await request_through(gw.address, SNI_A, backends["a"]) == b"a got ping\n"
    assert await request_through(gw.address, SNI_A, backends["a"]) == b"a got ping\n"


async def test_stop_refuses_new_connections_and_lets_open_ones_finish(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    gw = await start_gateway(routes_to(backends))
    open_client = await TlsClient.connect(
        gw.address, SNI_A, backends["a"].identity.client_context()
    )
    try:
        stopping = asyncio.create_task(gw.gateway.stop(drain_timeout=DEADLINE))
        with pytest.raises((ConnectionRefusedError, ConnectionResetError)):
            async with asyncio.timeout(DEADLINE):
                while True:  # the listener closes within a loop iteration or two
                    _, writer = await asyncio.open_connection(*gw.address)
                    writer.close()
                    await asyncio.sleep(0.01)
        assert not stopping.done()
        assert await open_client.exchange(b"ping\n") == b"a got ping\n"
    finally:
        open_client.close()
    async with asyncio.timeout(DEADLINE):
        await stopping
    assert EventKind.RELAYED in gw.events.kinds()
    assert gw.gateway.active_connections == 0


async def test_stop_aborts_connections_still_open_when_the_drain_time_runs_out(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    gw = await start_gateway(routes_to(backends))
    idle = await TlsClient.connect(gw.address, SNI_A, backends["a"].identity.client_context())
    try:
        async with asyncio.timeout(DEADLINE):
            await gw.gateway.stop(drain_timeout=0.2)
        event = await gw.events.wait_for(EventKind.ABORTED)
        assert event.upstream == backends["a"].upstream
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await idle.exchange(b"ping\n")
    finally:
        idle.close()


async def test_hello_and_everything_after_it_reach_the_upstream_byte_for_byte(
    start_gateway: GatewayFactory,
) -> None:
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def record_then_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()  # to EOF: the client's half-close must come through
        received.set_result(data)
        writer.write(b"reply after your EOF")
        writer.close()

    upstream = await asyncio.start_server(record_then_reply, "127.0.0.1", 0)
    try:
        port = upstream.sockets[0].getsockname()[1]
        gw = await start_gateway(StaticRouteTable({"svc-a.ns": [Upstream("127.0.0.1", port)]}))
        hello = frame(unframe(captured_client_hello(SNI_A)), fragment_size=100)
        reader, writer = await asyncio.open_connection(*gw.address)
        async with asyncio.timeout(DEADLINE):
            writer.write(hello + b"same segment")
            await writer.drain()
            writer.write(b"|later")
            writer.write_eof()
            assert await reader.read() == b"reply after your EOF"
            assert await received == hello + b"same segment|later"
        writer.close()
        event = await gw.events.wait_for(EventKind.RELAYED)
        assert (event.bytes_in, event.bytes_out) == (len(hello) + 18, 20)
    finally:
        upstream.close()
        await upstream.wait_closed()


async def test_gateways_sharing_a_port_with_reuse_port_both_serve_it(
    backends: dict[str, Backend], free_port: int
) -> None:
    first, second = PassthroughGateway(routes_to(backends)), PassthroughGateway(routes_to(backends))
    address = await first.start("127.0.0.1", free_port, reuse_port=True)
    try:
        with pytest.raises(OSError):
            await PassthroughGateway(routes_to(backends)).start(*address)
        assert await second.start(*address, reuse_port=True) == address
        # Either process may take a connection; every one of them is relayed.
        for _ in range(4):
            client = await TlsClient.connect(
                address, SNI_A, backends["a"].identity.client_context()
            )
            assert await client.exchange(b"ping\n") == b"a got ping\n"
            client.close()
    finally:
        await first.stop(drain_timeout=1.0)
        await second.stop(drain_timeout=1.0)
