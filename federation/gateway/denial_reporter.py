"""mtls mode: callers the gateway refused, sent to the control plane's audit log in batches.

Refusals are traffic an attacker controls, so observing one only merges it into a bounded
in-memory batch: alike refusals (same caller, service, kind, policy and reason) become one entry
with a count and the first and last time seen. A federated partner can mint any number of
distinct SPIFFE IDs, though, so within one batch at most ``max_distinct`` distinct callers a
(service, kind, policy, caller's trust domain) get entries of their own; the rest fold into one
overflow entry with their count, how many distinct callers they were and a few sample IDs. A
batch thus holds entries in proportion to the services, policies and federated trust domains,
not to the IDs presented. Reasons are capped, since a failed verification quotes certificate
content the caller chose.

One request carries a whole batch, at most one every ``interval`` seconds; what does not fit,
or what a control plane that is down cannot take, is dropped and counted. The
``meshfed.gateway.audit`` log line stays the local record of each refusal.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field

from federation.gateway.control_plane import MAX_SAMPLE_PEER_IDS, DenialKind, ReportedDenial
from federation.gateway.events import ConnectionEvent, EventKind
from federation.gateway.report_queue import ReportQueue, Result
from trust.spiffe_id import parse_spiffe_id

# The API takes this many entries a request; a batch is never larger, so one request sends it.
MAX_BATCH = 500
# The API refuses longer reasons; a policy decision quotes the caller's SPIFFE ID.
MAX_REASON = 1024
# A failed verification quotes certificate content the caller chose; the start says enough.
MAX_REJECTED_REASON = 256
# Distinct callers a group keeps entries for in one batch, before the rest fold into overflow.
MAX_DISTINCT = 20
# An overflow entry counts distinct callers up to this many, so its memory stays bounded.
MAX_COUNTED_DISTINCT = 1000

Send = Callable[[str, Sequence[ReportedDenial]], Awaitable[bool]]
_KINDS: dict[EventKind, DenialKind] = {
    EventKind.DENIED: "denied",
    EventKind.PEER_REJECTED: "peer_rejected",
}
_Key = tuple[str | None, str, DenialKind, str | None, str]  # caller, service, kind, policy, reason
_Group = tuple[str, DenialKind, str | None, str | None]  # service, kind, policy, trust domain


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


@dataclass(slots=True)
class _Overflow:
    group: _Group
    count: int
    first_seen: float
    last_seen: float
    callers: set[str] = field(default_factory=set)  # SPIFFE IDs, or reasons when unverified
    samples: list[str] = field(default_factory=list)

    def fold(self, caller: str, peer_id: str | None, now: float) -> None:
        self.count += 1
        self.last_seen = now
        if len(self.callers) < MAX_COUNTED_DISTINCT:
            self.callers.add(caller)
        full = len(self.samples) >= MAX_SAMPLE_PEER_IDS
        if peer_id is not None and not full and peer_id not in self.samples:
            self.samples.append(peer_id)

    def report(self) -> ReportedDenial:
        service, kind, policy, trust_domain = self.group
        whose = f"of trust domain {trust_domain}" if trust_domain else "with unverified SVIDs"
        reason = (
            f"{len(self.callers)} more distinct callers {whose} refused alike in one batch, "
            f"past {MAX_DISTINCT} with entries of their own"
        )
        return ReportedDenial(
            None,
            service,
            kind,
            policy,
            reason,
            self.count,
            self.first_seen,
            self.last_seen,
            distinct_peers=len(self.callers),
            sample_peer_ids=tuple(self.samples),
        )


class DenialReporter:
    def __init__(
        self,
        send: Send,
        on_result: Result,
        *,
        cluster: str,
        max_pending: int = MAX_BATCH,
        max_distinct: int = MAX_DISTINCT,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        async def send_batch(batch: Sequence[_Refusals | _Overflow]) -> bool:
            return await send(cluster, [entry.report() for entry in batch])

        self._clock = clock
        self._max_distinct = max_distinct
        self._distinct: dict[_Group, int] = {}  # callers with entries in the pending batch
        self._queue: ReportQueue[Hashable, _Refusals | _Overflow] = ReportQueue(
            send_batch,
            on_result,
            what="denial",
            max_pending=min(max_pending, MAX_BATCH),
            interval=interval,
            chunk=MAX_BATCH,
            on_taken=self._distinct.clear,
        )

    def observe(self, event: ConnectionEvent) -> None:
        kind = _KINDS.get(event.kind)
        if kind is None or event.route is None:
            return
        reason = event.detail[: MAX_REASON if kind == "denied" else MAX_REJECTED_REASON]
        key = (event.peer_id, event.route.service, kind, event.policy, reason)
        now = self._clock()
        refusals = self._queue.latest(key)
        if isinstance(refusals, _Refusals):
            refusals.count += 1
            refusals.last_seen = now
            return
        group = (event.route.service, kind, event.policy, _trust_domain(event.peer_id))
        if self._distinct.get(group, 0) < self._max_distinct:
            self._distinct[group] = self._distinct.get(group, 0) + 1
            self._queue.add(key, _Refusals(key, 1, now, now))
            return
        overflow = self._queue.latest(group)
        caller = event.peer_id or reason
        if isinstance(overflow, _Overflow):
            overflow.fold(caller, event.peer_id, now)
            return
        overflow = _Overflow(group, 0, now, now)
        overflow.fold(caller, event.peer_id, now)
        self._queue.add(group, overflow)

    async def run(self) -> None:
        """Send batches until cancelled; at most one batch every ``interval`` seconds."""
        await self._queue.run()


def _trust_domain(peer_id: str | None) -> str | None:
    return None if peer_id is None else parse_spiffe_id(peer_id).trust_domain
