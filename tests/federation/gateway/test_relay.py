from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from federation.gateway.relay import HeldProtocol, Relay, RelayEnd, RelayTotals

DEADLINE = 15.0
HIGH_WATER = 64 * 1024
# asyncio's selector transport reads at most 256 KiB at a time, so one read may land on top of a
# buffer that is just under the high-water mark before reading pauses.
MAX_READ = 256 * 1024
TRANSFER = 32 * 1024 * 1024


@dataclass
class Joined:
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    client_transport: asyncio.Transport  # the relay's side of the client connection
    upstream_transport: asyncio.Transport
    relay: Relay
    closed: asyncio.Future[RelayTotals]


class _Accepting(HeldProtocol):
    def __init__(self, accepted: asyncio.Future[asyncio.Transport]) -> None:
        self._accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.Transport)
        self._accepted.set_result(transport)


@asynccontextmanager
async def joined(first_bytes: bytes = b"") -> AsyncIterator[Joined]:
    """A real client and a real upstream on 127.0.0.1 with a Relay between them."""
    loop = asyncio.get_running_loop()
    upstream_streams: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
    upstream_streams = asyncio.Queue()

    async def on_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream_streams.put((reader, writer))

    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()
    upstream_server = await asyncio.start_server(on_upstream, "127.0.0.1", 0)
    listener = await loop.create_server(lambda: _Accepting(accepted), "127.0.0.1", 0)
    writers: list[asyncio.StreamWriter] = []
    try:
        async with asyncio.timeout(DEADLINE):
            client = await asyncio.open_connection(*listener.sockets[0].getsockname()[:2])
            writers.append(client[1])
            client_transport = await accepted
            upstream_transport, _ = await loop.create_connection(
                HeldProtocol, *upstream_server.sockets[0].getsockname()[:2]
            )
            assert isinstance(upstream_transport, asyncio.Transport)
            upstream = await upstream_streams.get()
            writers.append(upstream[1])
        closed: asyncio.Future[RelayTotals] = loop.create_future()
        relay = Relay(
            client_transport, upstream_transport, closed.set_result, high_water=HIGH_WATER
        )
        relay.start(first_bytes)
        yield Joined(client, upstream, client_transport, upstream_transport, relay, closed)
    finally:
        for writer in writers:
            writer.transport.abort()
        listener.close()
        upstream_server.close()
        await listener.wait_closed()
        await upstream_server.wait_closed()


async def send_and_finish(writer: asyncio.StreamWriter, total: int) -> str:
    digest, chunk = hashlib.sha256(), bytes(range(256)) * 4096
    for _ in range(total // len(chunk)):
        writer.write(chunk)
        digest.update(chunk)
        await writer.drain()
    writer.write_eof()
    return digest.hexdigest()


async def read_slowly(
    reader: asyncio.StreamReader, watched: asyncio.Transport
) -> tuple[str, int, int]:
    """Read to EOF with a pause between reads; answer digest, size, and peak buffered bytes."""
    digest, size, peak = hashlib.sha256(), 0, 0
    while chunk := await reader.read(64 * 1024):
        digest.update(chunk)
        size += len(chunk)
        peak = max(peak, watched.get_write_buffer_size())
        await asyncio.sleep(0.0005)
    return digest.hexdigest(), size, peak


@pytest.mark.parametrize("direction", ["upstream_to_client", "client_to_upstream"])
async def test_large_transfer_to_a_slow_reader_keeps_the_relay_buffer_bounded(
    direction: str,
) -> None:
    async with joined() as j:
        if direction == "upstream_to_client":
            (sender, receiver), watched = (j.upstream[1], j.client[0]), j.client_transport
        else:
            (sender, receiver), watched = (j.client[1], j.upstream[0]), j.upstream_transport
        async with asyncio.timeout(DEADLINE):
            sent, (received, size, peak) = await asyncio.gather(
                send_and_finish(sender, TRANSFER), read_slowly(receiver, watched)
            )
    assert (received, size) == (sent, TRANSFER)
    # Without back-pressure the relay would buffer most of the 32 MiB here.
    assert 0 < peak <= HIGH_WATER + MAX_READ


async def test_client_that_shuts_its_write_side_still_receives_the_reply() -> None:
    async with joined(first_bytes=b"hello|") as j:
        (client_reader, client_writer), (upstream_reader, upstream_writer) = j.client, j.upstream
        async with asyncio.timeout(DEADLINE):
            client_writer.write(b"request")
            client_writer.write_eof()
            request = await upstream_reader.read()  # to EOF: the half-close was relayed
            upstream_writer.write(b"reply to " + request)
            upstream_writer.write_eof()
            reply = await client_reader.read()
            totals = await j.closed
    assert request == b"hello|request"
    assert reply == b"reply to hello|request"
    assert totals == RelayTotals(len(b"hello|request"), len(reply), RelayEnd.COMPLETED)


async def test_upstream_reset_aborts_the_client_and_is_reported() -> None:
    async with joined() as j:
        client_reader, (_, upstream_writer) = j.client[0], j.upstream
        sock = upstream_writer.get_extra_info("socket")
        # Linger zero turns close() into a TCP reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        async with asyncio.timeout(DEADLINE):
            upstream_writer.write(b"partial")
            await upstream_writer.drain()
            assert await client_reader.readexactly(7) == b"partial"
            upstream_writer.transport.abort()
            totals = await j.closed
            # The relay aborts the client: it sees a reset or EOF, depending on timing.
            with contextlib.suppress(ConnectionResetError):
                while await client_reader.read(1024):
                    pass
    assert totals.end is RelayEnd.UPSTREAM_RESET
    assert totals.bytes_from_upstream == 7


async def test_abort_closes_both_sides_and_reports_aborted() -> None:
    async with joined() as j:
        async with asyncio.timeout(DEADLINE):
            j.relay.abort()
            totals = await j.closed
            assert await j.client[0].read() == b""
            assert await j.upstream[0].read() == b""
    assert totals.end is RelayEnd.ABORTED
