"""The health of one target as a pure function of its check results.

Follows Envoy: ``unhealthy_threshold`` consecutive failed checks mark a healthy target
unhealthy, ``healthy_threshold`` consecutive passed checks mark an unhealthy one healthy. A new
target starts unhealthy (``initial``) and, as in Envoy's startup rule, its first passed check
marks it healthy at once, whatever ``healthy_threshold`` says, so fresh endpoints take traffic
after one good check. A target whose health is already known (say, restored from the store)
starts with ``initial=HEALTHY`` or with ``awaiting_first_pass=False`` and gets the plain
thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class Health(Enum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class Thresholds:
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3

    def __post_init__(self) -> None:
        if self.healthy_threshold < 1 or self.unhealthy_threshold < 1:
            raise ValueError(
                f"health check thresholds must be 1 or more, got healthy_threshold="
                f"{self.healthy_threshold} unhealthy_threshold={self.unhealthy_threshold}"
            )


@dataclass(frozen=True, slots=True)
class TargetHealth:
    status: Health = Health.UNHEALTHY
    consecutive_passes: int = 0
    consecutive_failures: int = 0
    awaiting_first_pass: bool = True

    @classmethod
    def initial(cls, status: Health = Health.UNHEALTHY) -> TargetHealth:
        return cls(status=status, awaiting_first_pass=status is Health.UNHEALTHY)


def observe(health: TargetHealth, passed: bool, thresholds: Thresholds) -> TargetHealth:
    """The health after one more check result."""
    if passed:
        passes = health.consecutive_passes + 1
        becomes_healthy = health.awaiting_first_pass or passes >= thresholds.healthy_threshold
        return TargetHealth(
            status=Health.HEALTHY if becomes_healthy else health.status,
            consecutive_passes=passes,
            consecutive_failures=0,
            awaiting_first_pass=False,
        )
    failures = health.consecutive_failures + 1
    status = Health.UNHEALTHY if failures >= thresholds.unhealthy_threshold else health.status
    return replace(health, status=status, consecutive_passes=0, consecutive_failures=failures)
