"""Envoy's priority-load and locality-weight arithmetic, on plain counts.

Everything here is exact arithmetic on purpose: Envoy works with integer health scores and
integer priority loads, and only integer maths reproduces its documented tables digit for digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class HostCounts:
    healthy: int
    total: int


@dataclass(frozen=True, slots=True)
class PriorityLoad:
    """Where traffic goes across priority levels, plus the numbers that explain it."""

    loads: tuple[int, ...]  # percent a level, summing to 100 when any level has hosts
    panic: tuple[bool, ...]
    health: tuple[int, ...]  # integer health scores, 0..100
    normalized_total_health: int


@dataclass(frozen=True, slots=True)
class LocalityInput:
    weight: int
    counts: HostCounts
    host_weight: int  # sum of the endpoint weights of all its hosts, healthy or not


@dataclass(frozen=True, slots=True)
class LocalityShares:
    effective_weights: tuple[int, ...]
    share_percent: tuple[int, ...]  # sums to 100 when any locality has hosts


def availability(counts: HostCounts, overprovisioning_percent: int) -> int:
    """Overprovisioned availability, not yet capped: 140 x healthy / total at factor 1.4."""
    if counts.total == 0:
        return 0
    return overprovisioning_percent * counts.healthy // counts.total


def health_score(counts: HostCounts, overprovisioning_percent: int) -> int:
    # Envoy priority levels: health = min(100, factor x 100 x healthy / total), integer.
    return min(100, availability(counts, overprovisioning_percent))


def below_panic_threshold(counts: HostCounts, panic_threshold: float) -> bool:
    # Compared without division, so exactly 50% at threshold 50 is not below it. A level with
    # no hosts has nothing to balance over, so it is never reported in panic.
    return counts.healthy * 100 < panic_threshold * counts.total


def priority_load(
    levels: Sequence[HostCounts], overprovisioning_percent: int, panic_threshold: float
) -> PriorityLoad:
    health = tuple(health_score(level, overprovisioning_percent) for level in levels)
    normalized = min(100, sum(health))
    # Envoy panic threshold: panic is only considered once the levels together cannot take
    # all traffic (normalized total health below 100); the load split itself stays the
    # priority-level split either way (both Envoy pages; see routing.md for total panic).
    panic = tuple(
        normalized < 100 and below_panic_threshold(level, panic_threshold) for level in levels
    )
    if normalized == 0:
        return PriorityLoad(_all_to_first_level_with_hosts(levels), panic, health, 0)
    loads: list[int] = []
    remaining = 100
    for score in health:
        # Envoy distributeLoad(): floor(health x 100 / normalized), capped by what is left.
        load = min(remaining, score * 100 // normalized)
        loads.append(load)
        remaining -= load
    if remaining:
        # Envoy recalculatePerPriorityState(): the flooring remainder goes to the first level
        # with any health. Two rows of Envoy's docs tables round differently; see routing.md.
        first_healthy = next(index for index, score in enumerate(health) if score > 0)
        loads[first_healthy] += remaining
    return PriorityLoad(tuple(loads), panic, health, normalized)


def _all_to_first_level_with_hosts(levels: Sequence[HostCounts]) -> tuple[int, ...]:
    # Envoy panic threshold page: with every host unhealthy all traffic goes to P=0, which
    # balances over all its hosts in panic (or, with panic off, finds "no healthy upstream").
    # P=0 here is the first level that has hosts at all: an empty level could take nothing.
    first = next((index for index, level in enumerate(levels) if level.total > 0), None)
    return tuple(100 if index == first else 0 for index in range(len(levels)))


def locality_shares(
    localities: Sequence[LocalityInput], overprovisioning_percent: int, panic: bool
) -> LocalityShares:
    """Split one level's load over its localities (Envoy locality weighted load balancing).

    effective weight = weight x min(100, availability). A level in panic ignores localities
    and balances over all its hosts (Envoy hostSourceToUse(): AllHosts), so a locality's
    weight is then its hosts' endpoint weight. When nothing in the level is available it gets
    no load; its shares then show that panic split, so they still sum to 100.
    """
    if panic:
        effective = tuple(loc.host_weight for loc in localities)
    else:
        effective = tuple(
            loc.weight * min(100, availability(loc.counts, overprovisioning_percent))
            for loc in localities
        )
    split = effective if sum(effective) else tuple(loc.host_weight for loc in localities)
    total = sum(split)
    if total == 0:
        return LocalityShares(effective, tuple(0 for _ in localities))
    return LocalityShares(
        effective, largest_remainder([Fraction(weight * 100, total) for weight in split])
    )


def largest_remainder(values: Sequence[Fraction]) -> tuple[int, ...]:
    """Round values that sum to a whole number so the integers keep that sum.

    Used for display shares only: the locality table in Envoy's docs rounds to nearest
    (32.4% -> 32, 32.9% -> 33), which plain flooring would not reproduce.
    """
    floors = [value.numerator // value.denominator for value in values]
    missing = round(sum(values)) - sum(floors)
    by_fraction = sorted(range(len(values)), key=lambda index: floors[index] - values[index])
    for index in by_fraction[:missing]:
        floors[index] += 1
    return tuple(floors)
