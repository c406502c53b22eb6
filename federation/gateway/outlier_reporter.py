"""Tells the control plane about connect failures without ever slowing a connection down.

Observing an event only appends to a bounded in-memory batch; a background task sends the
batch. Consecutive outcomes for one endpoint are merged into one report with a count, in order,
so outlier detection sees the same sequence of failures and successes. A success is reported
only for an endpoint with a failure reported since its last success, since that is the only
success that changes outlier state. When the batch is full, or the control plane is down,
reports are dropped and counted: the data path never waits for the control plane.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from federation.gateway.control_plane import ControlPlaneError, ReportedOutcome
from federation.gateway.events import PROGRESS_KINDS, ConnectionEvent, EventKind

log = logging.getLogger("meshfed.gateway.outliers")

Send = Callable[[str, str, ReportedOutcome, int], Awaitable[bool]]
Result = Callable[[str, int], None]  # (sent | refused | dropped, how many outcomes)


@dataclass(slots=True)
class _Run:
    service: str
    endpoint: str
    outcome: ReportedOutcome
    count: int


class OutlierReporter:
    def __init__(
        self,
        send: Send,
        on_result: Result,
        *,
        cluster: str | None = None,
        max_pending: int = 1000,
        interval: float = 0.5,
    ) -> None:
        """``cluster``: report only upstreams in it. Outlier detection tracks service
        endpoints; another cluster's gateway is not one, and the API would refuse it."""
        self._send = send
        self._cluster = cluster
        self._on_result = on_result
        self._max_pending = max_pending
        self._interval = interval
        self._pending: list[_Run] = []
        self._suspect: set[tuple[str, str]] = set()
        self._ready = asyncio.Event()

    def observe(self, event: ConnectionEvent) -> None:
        if event.route is None or event.upstream is None:
            return
        if self._cluster is not None and event.upstream.cluster != self._cluster:
            return
        key = (event.route.service, f"{event.upstream.address}:{event.upstream.port}")
        if event.kind is EventKind.UPSTREAM_CONNECT_FAILED:
            self._suspect.add(key)
            self._add(key, "connect-failure")
        elif (
            event.kind not in PROGRESS_KINDS
            and event.connect_seconds is not None
            and key in self._suspect
        ):
            self._suspect.discard(key)
            self._add(key, "success")

    def _add(self, key: tuple[str, str], outcome: ReportedOutcome) -> None:
        for run in reversed(self._pending):
            if (run.service, run.endpoint) == key:
                if run.outcome == outcome:
                    run.count += 1
                    return
                break
        if len(self._pending) >= self._max_pending:
            self._on_result("dropped", 1)
            return
        self._pending.append(_Run(*key, outcome, 1))
        self._ready.set()

    async def run(self) -> None:
        """Send batches until cancelled; at most one batch every ``interval`` seconds."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            await self._send_batch(batch)
            await asyncio.sleep(self._interval)

    async def _send_batch(self, batch: list[_Run]) -> None:
        for index, run in enumerate(batch):
            try:
                taken = await self._send(run.service, run.endpoint, run.outcome, run.count)
            except ControlPlaneError as error:
                lost = sum(r.count for r in batch[index:])
                log.warning(
                    "control plane down; %d outlier report(s) dropped",
                    lost,
                    extra={"error": str(error)},
                )
                self._on_result("dropped", lost)
                return
            self._on_result("sent" if taken else "refused", run.count)
