"""Passive outlier detection: eject endpoints whose live traffic keeps failing.

Follows Envoy's consecutive-failure detection with local-origin errors split out
(``split_external_local_origin_errors``):

- A 5xx response, a reset or a per-try timeout counts towards ``consecutive_5xx`` (Envoy maps
  the latter two to 503/504). Any response below 500 resets that counter.
- A connect failure counts towards ``consecutive_connect_failures``; any outcome that proves the
  connection was made (a response, a reset) resets it.
- An ejection lasts ``base_ejection_time * n`` for the n-th ejection, capped at
  ``max(max_ejection_time, base_ejection_time)``. As in Envoy, n decays by one for every
  ``interval`` the endpoint spends back in service.
- ``max_ejection_percent``: an endpoint is ejected only when
  ``100 * (ejected + 1) / hosts <= max_ejection_percent`` — exact arithmetic, no rounding, the
  rule current Envoy applies (older Envoy and gRPC allowed one ejection past the cap; meshfed
  never does, and has no ``always_eject_one_host``). So 10% of 5 hosts ejects nobody.

Departures: a counter that reached its threshold while the cap blocked ejection stays there,
so the endpoint is ejected on its next failure once there is room (Envoy only triggers on the
exact count). Reports about an endpoint that is already ejected are ignored, so late responses
from requests in flight cannot lengthen an ejection. Time is passed in as ``now`` (seconds on any
monotonic clock); nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from federation.retry import Outcome, OutcomeKind


@dataclass(frozen=True, slots=True)
class OutlierSettings:
    consecutive_5xx: int = 5
    consecutive_connect_failures: int = 5
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_percent: int = 10
    interval: float = 10.0

    def __post_init__(self) -> None:
        for name in ("consecutive_5xx", "consecutive_connect_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"outlier detection {name} must be 1 or more")
        if self.base_ejection_time <= 0 or self.interval <= 0:
            raise ValueError("outlier detection base_ejection_time and interval must be positive")
        if not 0 <= self.max_ejection_percent <= 100:
            raise ValueError(
                f"max_ejection_percent {self.max_ejection_percent} must be within 0..100"
            )

    @property
    def ejection_cap(self) -> float:
        return max(self.max_ejection_time, self.base_ejection_time)


@dataclass(frozen=True, slots=True)
class Ejection:
    host: str
    until: float
    duration: float
    times: int
    cause: str

    @property
    def explanation(self) -> str:
        return f"ejected {_ordinal(self.times)} time for {self.duration:g}s after {self.cause}"


@dataclass(frozen=True, slots=True)
class OutlierDiff:
    """What one call changed, for the scheduler to apply incrementally."""

    ejected: tuple[Ejection, ...] = ()
    returned: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ejected or self.returned or self.refused)

    def merged(self, other: OutlierDiff) -> OutlierDiff:
        return OutlierDiff(
            self.ejected + other.ejected,
            self.returned + other.returned,
            self.refused + other.refused,
        )


@dataclass(slots=True)
class _HostRecord:
    consecutive_5xx: int = 0
    consecutive_connect_failures: int = 0
    times_ejected: int = 0
    returned_at: float | None = None
    ejection: Ejection | None = None


class OutlierDetector:
    """Outlier state for one upstream cluster in Envoy's sense: one service's endpoints."""

    def __init__(self, settings: OutlierSettings, hosts: Iterable[str] = ()) -> None:
        self.settings = settings
        self._hosts: dict[str, _HostRecord] = {h: _HostRecord() for h in hosts}

    def set_hosts(self, hosts: Iterable[str], now: float) -> OutlierDiff:
        """Replace the membership; departed endpoints are forgotten, not reported as returned."""
        wanted = set(hosts)
        self._hosts = {h: self._hosts.get(h, _HostRecord()) for h in wanted}
        return self.expire(now)

    def expire(self, now: float) -> OutlierDiff:
        returned = []
        for host, record in sorted(self._hosts.items()):
            if record.ejection is not None and record.ejection.until <= now:
                record.ejection = None
                record.returned_at = now
                record.consecutive_5xx = 0
                record.consecutive_connect_failures = 0
                returned.append(host)
        return OutlierDiff(returned=tuple(returned))

    def record(self, host: str, outcome: Outcome, now: float) -> OutlierDiff:
        """Count one outcome for ``host``; an unknown host is ignored."""
        diff = self.expire(now)
        record = self._hosts.get(host)
        if record is None or record.ejection is not None:
            return diff
        _count(record, outcome)
        cause = self._tripped(record)
        if cause is None:
            return diff
        if not self._room_for_one_more():
            ejected = len(self.ejected(now))
            refusal = (
                f"{host} not ejected after {cause}: {ejected} of {len(self._hosts)} hosts "
                f"already ejected and max_ejection_percent is {self.settings.max_ejection_percent}"
            )
            return diff.merged(OutlierDiff(refused=(refusal,)))
        return diff.merged(OutlierDiff(ejected=(self._eject(host, record, cause, now),)))

    def ejected(self, now: float) -> frozenset[str]:
        return frozenset(
            host
            for host, record in self._hosts.items()
            if record.ejection is not None and record.ejection.until > now
        )

    def ejection(self, host: str, now: float) -> Ejection | None:
        record = self._hosts.get(host)
        if record is None or record.ejection is None or record.ejection.until <= now:
            return None
        return record.ejection

    def _tripped(self, record: _HostRecord) -> str | None:
        if record.consecutive_5xx >= self.settings.consecutive_5xx:
            return f"{record.consecutive_5xx} consecutive 5xx"
        if record.consecutive_connect_failures >= self.settings.consecutive_connect_failures:
            return f"{record.consecutive_connect_failures} consecutive connect failures"
        return None

    def _room_for_one_more(self) -> bool:
        active = sum(1 for r in self._hosts.values() if r.ejection is not None)
        return 100 * (active + 1) <= self.settings.max_ejection_percent * len(self._hosts)

    def _eject(self, host: str, record: _HostRecord, cause: str, now: float) -> Ejection:
        if record.returned_at is not None:
            healthy_intervals = math.floor((now - record.returned_at) / self.settings.interval)
            record.times_ejected = max(0, record.times_ejected - healthy_intervals)
        record.times_ejected += 1
        duration = min(
            self.settings.base_ejection_time * record.times_ejected, self.settings.ejection_cap
        )
        record.ejection = Ejection(host, now + duration, duration, record.times_ejected, cause)
        return record.ejection


def _count(record: _HostRecord, outcome: Outcome) -> None:
    if outcome.kind is OutcomeKind.CONNECT_FAILURE:
        record.consecutive_connect_failures += 1
        return
    record.consecutive_connect_failures = 0
    if outcome.status is not None and outcome.status < 500:
        record.consecutive_5xx = 0
    elif outcome.status is None or outcome.status <= 599:
        record.consecutive_5xx += 1


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
