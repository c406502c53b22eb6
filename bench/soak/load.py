"""Paced TLS traffic through the gateway: line round trips over reused connections, each
connection closed and reopened after a fixed number of requests, so both requests and new
connections (SNI routing, upstream connects) keep flowing."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from dataclasses import dataclass, field

from bench.soak.processes import SNI

REQUEST_TIMEOUT = 2.0
REQUESTS_PER_CONNECTION = 50
PER_WORKER_RATE = 50.0  # requests/s one paced worker aims at
MAX_WORKERS = 200  # bounds the sockets the bench holds open at once
PAYLOAD = b"ping\n"
EXPECTED = b"echo: ping\n"


@dataclass
class LoadStats:
    ok: int = 0
    connections: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def attempted(self) -> int:
        return self.ok + sum(self.errors.values())


@dataclass(frozen=True, slots=True)
class StepResult:
    target_rps: int
    seconds: float
    achieved_rps: float
    success_percent: float
    new_connections_per_s: float
    errors: dict[str, int]

    def to_json(self) -> dict[str, object]:
        return {
            "target_rps": self.target_rps,
            "seconds": round(self.seconds, 1),
            "achieved_rps": round(self.achieved_rps, 1),
            "success_percent": round(self.success_percent, 2),
            "new_connections_per_s": round(self.new_connections_per_s, 1),
            "errors": self.errors,
        }


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.used = reader, writer, 0

    def close(self) -> None:
        self.writer.close()


async def _open(gateway: tuple[str, int], context: ssl.SSLContext) -> _Connection:
    reader, writer = await asyncio.open_connection(*gateway, ssl=context, server_hostname=SNI)
    return _Connection(reader, writer)


async def _request(connection: _Connection) -> bool:
    connection.writer.write(PAYLOAD)
    await connection.writer.drain()
    connection.used += 1
    return await connection.reader.readline() == EXPECTED


async def _worker(
    gateway: tuple[str, int], context: ssl.SSLContext, rate: float, until: float, stats: LoadStats
) -> None:
    loop = asyncio.get_running_loop()
    interval = 1 / rate
    next_at = loop.time()
    connection: _Connection | None = None
    try:
        while loop.time() < until:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    if connection is None:
                        connection = await _open(gateway, context)
                        stats.connections += 1
                    answered = await _request(connection)
                stats.ok += answered
                if not answered:
                    stats.errors["wrong reply"] += 1
            except TimeoutError:
                stats.errors["timeout"] += 1
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
                stats.errors[type(exc).__name__] += 1
            if connection is not None and (
                connection.used >= REQUESTS_PER_CONNECTION or connection.writer.is_closing()
            ):
                connection.close()
                connection = None
            next_at += interval
            # An open loop that fell behind does not burst to catch up: the step reports the
            # rate it achieved instead.
            next_at = max(next_at, loop.time() - interval)
            await asyncio.sleep(max(0.0, next_at - loop.time()))
    finally:
        if connection is not None:
            connection.close()


async def run_step(
    gateway: tuple[str, int], context: ssl.SSLContext, target_rps: int, seconds: float
) -> StepResult:
    workers = min(MAX_WORKERS, max(1, round(target_rps / PER_WORKER_RATE)))
    stats = LoadStats()
    loop = asyncio.get_running_loop()
    started = loop.time()
    until = started + seconds
    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(_worker(gateway, context, target_rps / workers, until, stats))
    elapsed = loop.time() - started
    attempted = stats.attempted
    return StepResult(
        target_rps=target_rps,
        seconds=elapsed,
        achieved_rps=stats.ok / elapsed,
        success_percent=100.0 * stats.ok / attempted if attempted else 0.0,
        new_connections_per_s=stats.connections / elapsed,
        errors=dict(stats.errors),
    )
