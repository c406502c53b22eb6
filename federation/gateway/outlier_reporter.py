"""Tells the control plane about connect failures without ever slowing a connection down.

Consecutive outcomes for one endpoint are merged into one report with a count, in order, so
outlier detection sees the same sequence of failures and successes. A success is reported only
for an endpoint with a failure reported since its last success, since that is the only success
that changes outlier state. Batching, the bound and dropping are ReportQueue's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from federation.gateway.control_plane import ReportedOutcome
from federation.gateway.events import PROGRESS_KINDS, ConnectionEvent, EventKind
from federation.gateway.report_queue import ReportQueue, Result

Send = Callable[[str, str, ReportedOutcome, int], Awaitable[bool]]


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

        async def send_run(runs: Sequence[_Run]) -> bool:
            (run,) = runs  # the outliers API takes one endpoint's outcome a request
            return await send(run.service, run.endpoint, run.outcome, run.count)

        self._cluster = cluster
        self._queue: ReportQueue[tuple[str, str], _Run] = ReportQueue(
            send_run, on_result, what="outlier", max_pending=max_pending, interval=interval
        )
        self._suspect: set[tuple[str, str]] = set()

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
        run = self._queue.latest(key)
        if run is not None and run.outcome == outcome:
            run.count += 1
            return
        self._queue.add(key, _Run(*key, outcome, 1))

    async def run(self) -> None:
        """Send batches until cancelled; at most one batch every ``interval`` seconds."""
        await self._queue.run()
