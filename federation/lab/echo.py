"""A cluster's TLS echo service: answers each line with the cluster's name and the line.

Run as ``python -m federation.lab.echo --cluster NAME --listen HOST:PORT --cert F --key F``,
so the lab can kill it like any other process. Naming the cluster in every answer is how the
traffic client learns where a request was served.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl

_IDLE_TIMEOUT = 10.0


def answer(cluster: str, line: bytes) -> bytes:
    return cluster.encode() + b" " + line


async def serve(cluster: str, host: str, port: int, context: ssl.SSLContext) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_IDLE_TIMEOUT):
                while line := await reader.readline():
                    writer.write(answer(cluster, line))
                    await writer.drain()
        except (OSError, ssl.SSLError, TimeoutError):
            pass  # a client that resets or idles only ends its own connection
        finally:
            writer.close()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await asyncio.start_server(echo, host, port, ssl=context)
    print(f"echo {cluster} listening on {host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m federation.lab.echo")
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    asyncio.run(serve(args.cluster, host, int(port), context))


if __name__ == "__main__":
    main()
