"""The soak's TLS backend: answers each line with ``echo: <line>``. Run as its own process so
its CPU is not the load generator's; prints its port on stdout once listening."""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(b"echo: " + line)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass  # a client gone mid-line is the load generator closing, not a failure here
    finally:
        writer.close()


async def serve(cert: str, key: str) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, ssl=context, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.cert, args.key))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
