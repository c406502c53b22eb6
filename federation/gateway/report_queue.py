"""A bounded batch of reports for the control plane, sent by one background loop.

Adding a report never waits: the data path calls ``add`` and moves on. ``run`` sends what has
accumulated at most once every ``interval`` seconds, ``chunk`` reports a request. When the batch
is full, or the control plane is down, reports are dropped and counted through ``on_result``.
The reporters built on it decide what a report is and which reports merge into one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, Protocol, TypeVar

from federation.gateway.control_plane import ControlPlaneError

log = logging.getLogger("meshfed.gateway.reports")

Result = Callable[[str, int], None]  # (sent | refused | dropped, how many events)


class Counted(Protocol):
    count: int  # how many observed events the report stands for


Key = TypeVar("Key", bound=Hashable)
Report = TypeVar("Report", bound=Counted)


class ReportQueue(Generic[Key, Report]):
    def __init__(
        self,
        send: Callable[[Sequence[Report]], Awaitable[bool]],
        on_result: Result,
        *,
        what: str,
        max_pending: int,
        interval: float,
        chunk: int = 1,
        on_taken: Callable[[], None] = lambda: None,
    ) -> None:
        """``send`` answers True when the API took the chunk, False when it refused it, and
        raises ControlPlaneError when the API cannot be reached. ``what`` names the reports
        in logs. ``on_taken`` runs when ``run`` takes the batch to send, so state a reporter
        keeps per batch starts over with the next one."""
        self._send = send
        self._on_result = on_result
        self._what = what
        self._max_pending = max_pending
        self._interval = interval
        self._chunk = chunk
        self._on_taken = on_taken
        self._pending: list[Report] = []
        self._latest: dict[Key, Report] = {}
        self._ready = asyncio.Event()

    def latest(self, key: Key) -> Report | None:
        """The newest report added under ``key`` that is still waiting, to merge into."""
        return self._latest.get(key)

    def add(self, key: Key, report: Report) -> None:
        if len(self._pending) >= self._max_pending:
            self._on_result("dropped", report.count)
            return
        self._pending.append(report)
        self._latest[key] = report
        self._ready.set()

    async def run(self) -> None:
        """Send batches until cancelled; at most one batch every ``interval`` seconds."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending, self._latest = self._pending, [], {}
            self._on_taken()
            await self._send_batch(batch)
            await asyncio.sleep(self._interval)

    async def _send_batch(self, batch: list[Report]) -> None:
        for start in range(0, len(batch), self._chunk):
            chunk = batch[start : start + self._chunk]
            try:
                taken = await self._send(chunk)
            except ControlPlaneError as error:
                lost = sum(r.count for r in batch[start:])
                log.warning(
                    "control plane down; %d %s report(s) dropped",
                    lost,
                    self._what,
                    extra={"error": str(error)},
                )
                self._on_result("dropped", lost)
                return
            self._on_result("sent" if taken else "refused", sum(r.count for r in chunk))
