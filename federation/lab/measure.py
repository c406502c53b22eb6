"""What the traffic client's records say: where requests went, and how fast failover was."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from federation.lab.traffic import RequestRecord


@dataclass(frozen=True, slots=True)
class ClusterTraffic:
    cluster: str
    requests_per_s: float
    share_percent: float


@dataclass(frozen=True, slots=True)
class TrafficWindow:
    clusters: tuple[ClusterTraffic, ...]
    errors_per_s: float


@dataclass(frozen=True, slots=True)
class FailoverTiming:
    to_next_s: float  # kill -> first request answered by the next level
    last_killed_s: float  # kill -> last request answered by the killed cluster (0: none after)


def window(
    records: Iterable[RequestRecord], clusters: Sequence[str], end: float, seconds: float
) -> TrafficWindow:
    """Requests that finished in (end - seconds, end], per cluster."""
    recent = [r for r in records if end - seconds < r.finished <= end]
    served = [r for r in recent if r.ok]
    rows = []
    for cluster in clusters:
        count = sum(1 for r in served if r.cluster == cluster)
        share = 100.0 * count / len(served) if served else 0.0
        rows.append(ClusterTraffic(cluster, count / seconds, share))
    errors = len(recent) - len(served)
    return TrafficWindow(tuple(rows), errors / seconds)


def failover_timing(
    records: Iterable[RequestRecord], killed_at: float, killed: str, next_level: str
) -> FailoverTiming | None:
    """None while no request after the kill has been answered by ``next_level``."""
    records = list(records)
    moved = [r.finished for r in records if r.cluster == next_level and r.finished >= killed_at]
    if not moved:
        return None
    stayed = [r.finished for r in records if r.cluster == killed and r.finished >= killed_at]
    return FailoverTiming(min(moved) - killed_at, max(stayed, default=killed_at) - killed_at)


def failed_outside(
    records: Iterable[RequestRecord], since: float, until: float
) -> list[RequestRecord]:
    """Failed requests that were not open at any time in [since, until] (from the kill being
    sent to the process being gone): those the gateway's retries should have saved."""
    return [r for r in records if not r.ok and not (r.started <= until and r.finished >= since)]


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile (the value at or above ``percent`` of the sample)."""
    if not values:
        raise ValueError("percentile of no values: measure at least one run")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
