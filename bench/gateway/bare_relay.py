"""The least a Python asyncio TCP proxy can do per connection, as a floor to read meshfed by.

Every accepted connection is dialled through to one fixed backend and relayed both ways with
protocols on the same event loop meshfed uses: no ClientHello parse, no routing, no limits,
no metrics, no log. What this costs per connection above nginx is the price of the runtime;
what meshfed costs above this is meshfed's own.

    python -m bench.gateway.bare_relay LISTEN_PORT BACKEND_PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

from federation.gateway.command import event_loop_factory

HOST = "127.0.0.1"


class _Held(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).pause_reading()


class _Leg(asyncio.Protocol):
    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.peer: _Leg = self

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        if self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.peer.transport.close()


class _Accepted(asyncio.Protocol):
    def __init__(self, backend_port: int) -> None:
        self._backend_port = backend_port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._transport.pause_reading()
        self._dialling = asyncio.get_running_loop().create_task(self._join(data))

    async def _join(self, first: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            upstream, _ = await loop.create_connection(_Held, HOST, self._backend_port)
        except OSError:
            self._transport.abort()
            return
        upstream = cast(asyncio.Transport, upstream)
        client, backend = _Leg(self._transport), _Leg(upstream)
        client.peer, backend.peer = backend, client
        self._transport.set_protocol(client)
        upstream.set_protocol(backend)
        self._transport.resume_reading()
        upstream.resume_reading()
        upstream.write(first)


async def serve(port: int, backend_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Accepted(backend_port), HOST, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, backend_port = (int(arg) for arg in sys.argv[1:3])
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve(port, backend_port))


if __name__ == "__main__":
    main()
