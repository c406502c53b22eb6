"""The lab's traffic client: a steady stream of short TLS requests through one gateway.

Every request opens a new TLS connection, so each one is a fresh routing decision at the
gateway; it sends one line and reads the answer, which names the cluster that served it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestRecord:
    started: float  # time.monotonic()
    finished: float
    cluster: str | None  # who answered; None when the request failed
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.cluster is not None


@dataclass(frozen=True, slots=True)
class TrafficTarget:
    address: tuple[str, int]  # the gateway the client talks to
    server_name: str  # the SNI, which the answering service's certificate must match
    ca_file: str


class TrafficClient:
    """Sends ``rate`` requests a second until cancelled; at most ``max_in_flight`` at once,
    keeping the last ``max_records`` outcomes."""

    def __init__(
        self,
        target: TrafficTarget,
        *,
        rate: float = 50.0,
        timeout: float = 2.0,
        max_in_flight: int = 64,
        max_records: int = 100_000,
    ) -> None:
        self._target = target
        self._interval = 1.0 / rate
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max_in_flight)
        self._context = ssl.create_default_context(cafile=target.ca_file)
        self.records: deque[RequestRecord] = deque(maxlen=max_records)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            sequence = 0
            next_at = time.monotonic()
            while True:
                await self._slots.acquire()
                sequence += 1
                group.create_task(self._request(sequence))
                next_at += self._interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _request(self, sequence: int) -> None:
        started = time.monotonic()
        try:
            cluster = await self._exchange(sequence)
            record = RequestRecord(started, time.monotonic(), cluster)
        except (OSError, ssl.SSLError, TimeoutError, ValueError) as error:
            record = RequestRecord(started, time.monotonic(), None, repr(error))
        finally:
            self._slots.release()
        self.records.append(record)

    async def _exchange(self, sequence: int) -> str:
        line = f"request {sequence}\n".encode()
        async with asyncio.timeout(self._timeout):
            reader, writer = await asyncio.open_connection(
                *self._target.address,
                ssl=self._context,
                server_hostname=self._target.server_name,
            )
            try:
                writer.write(line)
                await writer.drain()
                answer = await reader.readline()
            finally:
                writer.close()
        cluster, _, echoed = answer.partition(b" ")
        if echoed != line:
            raise ValueError(f"answer {answer!r} does not echo {line!r}")
        return cluster.decode()
