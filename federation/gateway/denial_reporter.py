"""mtls mode: callers the gateway refused, sent to the control plane's audit log in batches.

Refusals are traffic an attacker controls, so observing one only merges it into a bounded
in-memory batch: alike refusals (same caller, service, kind, policy and reason) become one entry
with a count and the first and last time seen. One request carries a whole batch, at most one
every ``interval`` seconds; what does not fit, or what a control plane that is down cannot take,
is dropped and counted. The ``meshfed.gateway.audit`` log line stays the local record of each.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from federation.gateway.control_plane import DenialKind, ReportedDenial
from federation.gateway.events import ConnectionEvent, EventKind
from federation.gateway.report_queue import ReportQueue, Result

# The API takes this many entries a request; a batch is never larger, so one request sends it.
MAX_BATCH = 500
# The API refuses longer reasons; verification errors quote certificate names of any length.
MAX_REASON = 1024

Send = Callable[[str, Sequence[ReportedDenial]], Awaitable[bool]]
_KINDS: dict[EventKind, DenialKind] = {
    EventKind.DENIED: "denied",
    EventKind.PEER_REJECTED: "peer_rejected",
}
_Key = tuple[str | None, str, DenialKind, str | None, str]


@dataclass(slots=True)
class _Refusals:
    key: _Key
    count: int
    first_seen: float
    last_seen: float

    def report(self) -> ReportedDenial:
        peer_id, service, kind, policy, reason = self.key
        return ReportedDenial(
            peer_id, service, kind, policy, reason, self.count, self.first_seen, self.last_seen
        )


class DenialReporter:
    def __init__(
        self,
        send: Send,
        on_result: Result,
        *,
        cluster: str,
        max_pending: int = MAX_BATCH,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        async def send_batch(batch: Sequence[_Refusals]) -> bool:
            return await send(cluster, [refusals.report() for refusals in batch])

        self._clock = clock
        self._queue: ReportQueue[_Key, _Refusals] = ReportQueue(
            send_batch,
            on_result,
            what="denial",
            max_pending=min(max_pending, MAX_BATCH),
            interval=interval,
            chunk=MAX_BATCH,
        )

    def observe(self, event: ConnectionEvent) -> None:
        kind = _KINDS.get(event.kind)
        if kind is None or event.route is None:
            return
        key = (event.peer_id, event.route.service, kind, event.policy, event.detail[:MAX_REASON])
        now = self._clock()
        refusals = self._queue.latest(key)
        if refusals is not None:
            refusals.count += 1
            refusals.last_seen = now
            return
        self._queue.add(key, _Refusals(key, 1, now, now))

    async def run(self) -> None:
        """Send batches until cancelled; at most one batch every ``interval`` seconds."""
        await self._queue.run()
