"""The scheduler's own input types; the service maps its config and registry onto these."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from federation.scheduler.errors import InvalidEndpointError, RoutingSpecError


class RoutingMode(StrEnum):
    GEO = "geo"
    WEIGHTED = "weighted"
    FAILOVER = "failover"


@dataclass(frozen=True, slots=True)
class CanaryRule:
    """Requests whose `header` matches go to `cluster` first while it has a healthy endpoint.

    `value` is compared exactly unless `regex` is set, in which case it must match the whole
    header value (a partial match on `v2` would otherwise also catch `v20`).
    """

    header: str
    value: str
    cluster: str
    regex: bool = False
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern: re.Pattern[str] | None = None
        if self.regex:
            try:
                pattern = re.compile(self.value)
            except re.error as exc:
                raise RoutingSpecError(
                    f"canary rule for header {self.header!r}: {self.value!r} is not a valid "
                    f"regular expression ({exc}); fix the pattern or drop `regex`"
                ) from exc
        object.__setattr__(self, "_pattern", pattern)

    def matches(self, headers: Mapping[str, str]) -> bool:
        # HTTP header names are case-insensitive (RFC 9110 §5.1).
        wanted = self.header.lower()
        for name, value in headers.items():
            if name.lower() != wanted:
                continue
            if self._pattern is not None:
                return self._pattern.fullmatch(value) is not None
            return value == self.value
        return False


def _check_weight(where: str, cluster: str, weight: int) -> None:
    if weight < 0:
        raise RoutingSpecError(
            f"{where}: cluster {cluster!r} has weight {weight}; weights must be 0 or more"
        )


@dataclass(frozen=True, slots=True)
class RoutingSpec:
    """How one service spreads traffic over clusters (DESIGN.md, "Routing semantics")."""

    mode: RoutingMode
    weights: Mapping[str, int] = field(default_factory=dict)
    # One entry a priority level: a cluster -> weight group; a lone cluster is {name: 1}.
    failover: Sequence[Mapping[str, int]] = ()
    overprovisioning_factor: float = 1.4
    panic_threshold: float = 50.0
    canary: Sequence[CanaryRule] = ()

    def __post_init__(self) -> None:
        if self.overprovisioning_factor <= 0:
            raise RoutingSpecError(
                f"overprovisioning_factor {self.overprovisioning_factor} must be above 0 "
                "(1.4 is Envoy's default)"
            )
        if not 0 <= self.panic_threshold <= 100:
            raise RoutingSpecError(
                f"panic_threshold {self.panic_threshold} must be a percentage in [0, 100] "
                "(0 turns panic off)"
            )
        if self.mode is RoutingMode.FAILOVER and not self.failover:
            raise RoutingSpecError("mode failover needs at least one `failover` entry")
        if self.mode is RoutingMode.WEIGHTED and not self.weights:
            raise RoutingSpecError("mode weighted needs `weights` naming at least one cluster")
        for name, weight in self.weights.items():
            _check_weight("weights", name, weight)
        seen: set[str] = set()
        for index, entry in enumerate(self.failover):
            for name, weight in entry.items():
                _check_weight(f"failover[{index}]", name, weight)
                if name in seen:
                    raise RoutingSpecError(
                        f"failover[{index}]: cluster {name!r} already appears in an earlier "
                        "entry; a cluster belongs to one priority level"
                    )
                seen.add(name)

    @property
    def overprovisioning_percent(self) -> int:
        # Envoy carries the factor as an integer percentage (ClusterLoadAssignment.Policy
        # overprovisioning_factor, default 140); integer maths reproduces its tables exactly.
        return round(self.overprovisioning_factor * 100)

    def named_clusters(self) -> frozenset[str]:
        names = set(self.weights)
        for entry in self.failover:
            names.update(entry)
        return frozenset(names)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    port: int
    routing: RoutingSpec


@dataclass(frozen=True, slots=True)
class ClusterPlacement:
    name: str
    region_key: str  # "cloud:code", e.g. "aws:us-east-1"
    continent: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class EndpointState:
    """One address traffic can go to.

    `service=None` marks a cluster's east-west gateway: it stands in for every service that the
    routing spec sends to that cluster but that has no endpoints of its own there.
    """

    key: str
    cluster: str
    address: str
    port: int
    weight: int = 1
    healthy: bool = True
    ejected: bool = False
    service: str | None = None

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise InvalidEndpointError(
                f"endpoint {self.key!r} has weight {self.weight}; use 0 or more (0 drains it)"
            )

    @property
    def available(self) -> bool:
        # DESIGN.md: an endpoint is unhealthy when checks fail or outlier detection ejected it.
        return self.healthy and not self.ejected

    @property
    def health(self) -> str:
        if self.ejected:
            return "ejected"
        return "healthy" if self.healthy else "unhealthy"


@dataclass(frozen=True, slots=True)
class ClientPoint:
    region_key: str
    continent: str
    lat: float
    lon: float
