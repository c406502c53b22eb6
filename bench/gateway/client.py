"""The Python side of the load: new TLS connections (one request each, full handshake) and
1 MiB downloads on kept-alive connections, from a few threads (OpenSSL releases the GIL)."""

from __future__ import annotations

import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.gateway.peers import BIG_PATH, MIB, SNI

IO_TIMEOUT = 10.0


class ClientError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Run:
    count: int
    seconds: float
    latencies: tuple[float, ...]
    errors: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def percentile_ms(self, q: int) -> float | None:
        if len(self.latencies) < 2:
            return None
        return statistics.quantiles(self.latencies, n=100)[q - 1] * 1000


def client_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    # No ticket is offered back, so each connection pays the full handshake.
    context.options |= ssl.OP_NO_TICKET
    return context


def _request(path: str, close: bool) -> bytes:
    connection = "close" if close else "keep-alive"
    return f"GET {path} HTTP/1.1\r\nHost: {SNI}\r\nConnection: {connection}\r\n\r\n".encode()


def _read_response(sock: ssl.SSLSocket, buffer: bytearray) -> int:
    """Reads one response whose body length is in Content-Length; returns the body size."""
    view, head, filled = memoryview(buffer), b"", 0
    while b"\r\n\r\n" not in head:
        n = sock.recv_into(view)
        if n == 0:
            raise ClientError("the connection closed before the response headers ended")
        head += bytes(view[:n])
    header, _, body = head.partition(b"\r\n\r\n")
    status = header.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 200"):
        raise ClientError(f"expected 200, got {status!r}")
    length = next(
        int(line.split(b":", 1)[1])
        for line in header.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    filled = len(body)
    while filled < length:
        n = sock.recv_into(view)
        if n == 0:
            raise ClientError(f"the connection closed after {filled} of {length} body bytes")
        filled += n
    return length


def _connect(context: ssl.SSLContext, port: int) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return context.wrap_socket(raw, server_hostname=SNI)


def _threads(
    work: Callable[[float], tuple[int, list[float], int]], threads: int, seconds: float
) -> Run:
    results: list[tuple[int, list[float], int]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        outcome = work(deadline)
        with lock:
            results.append(outcome)

    started = time.monotonic()
    # Daemon threads: on Ctrl-C the peers stop at once and the workers do not hold the exit.
    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    latencies = tuple(sorted(x for _, lat, _ in results for x in lat))
    return Run(sum(c for c, _, _ in results), elapsed, latencies, sum(e for _, _, e in results))


def new_connections(port: int, context: ssl.SSLContext, threads: int, seconds: float) -> Run:
    """Connect, handshake, one small request, close; latency is connect to last body byte."""

    def work(deadline: float) -> tuple[int, list[float], int]:
        buffer, latencies, errors = bytearray(64 * 1024), [], 0
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                with _connect(context, port) as sock:
                    sock.sendall(_request("/", close=True))
                    _read_response(sock, buffer)
            except (OSError, ClientError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)
        return len(latencies), latencies, errors

    return _threads(work, threads, seconds)


def downloads(port: int, context: ssl.SSLContext, threads: int, seconds: float) -> Run:
    """1 MiB bodies back to back on one kept-alive connection per thread; count = MiB read."""

    def work(deadline: float) -> tuple[int, list[float], int]:
        buffer, latencies = bytearray(256 * 1024), []
        try:
            with _connect(context, port) as sock:
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    sock.sendall(_request(BIG_PATH, close=False))
                    if _read_response(sock, buffer) != MIB:
                        raise ClientError(f"{BIG_PATH} did not return {MIB} bytes")
                    latencies.append(time.perf_counter() - began)
        except (OSError, ClientError):
            return len(latencies), latencies, 1
        return len(latencies), latencies, 0

    return _threads(work, threads, seconds)
