from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.health.state import Health, TargetHealth, Thresholds, observe

H, U = Health.HEALTHY, Health.UNHEALTHY


def _replay(start: TargetHealth, results: str, thresholds: Thresholds) -> list[Health]:
    """Statuses after each result; results are written as 'P' (passed) and 'F' (failed)."""
    statuses, health = [], start
    for result in results:
        health = observe(health, result == "P", thresholds)
        statuses.append(health.status)
    return statuses


@pytest.mark.parametrize(
    ("initial", "results", "expected"),
    [
        # A new target (unhealthy, never passed) turns healthy on its first pass (Envoy).
        (U, "P", [H]),
        (U, "FFP", [U, U, H]),
        # Known healthy: three failures in a row to go down.
        (H, "FF", [H, H]),
        (H, "FFF", [H, H, U]),
        (H, "FFPFF", [H, H, H, H, H]),
        # Once down, two passes in a row to come back: the startup shortcut is spent.
        (H, "FFFP", [H, H, U, U]),
        (H, "FFFPP", [H, H, U, U, H]),
        (H, "FFFPFPP", [H, H, U, U, U, U, H]),
        (U, "PFFFPP", [H, H, H, U, U, H]),
    ],
)
def test_thresholds_turn_consecutive_results_into_transitions(
    initial: Health, results: str, expected: list[Health]
) -> None:
    thresholds = Thresholds(healthy_threshold=2, unhealthy_threshold=3)
    assert _replay(TargetHealth.initial(initial), results, thresholds) == expected


def test_a_restored_unhealthy_target_needs_the_full_healthy_threshold() -> None:
    restored = TargetHealth(status=U, awaiting_first_pass=False)
    assert _replay(restored, "PPP", Thresholds(healthy_threshold=3)) == [U, U, H]


@pytest.mark.parametrize(("healthy", "unhealthy"), [(0, 1), (1, 0)])
def test_thresholds_must_be_at_least_one(healthy: int, unhealthy: int) -> None:
    with pytest.raises(ValueError, match="thresholds must be 1 or more"):
        Thresholds(healthy, unhealthy)


@given(
    initial=st.sampled_from([H, U]),
    results=st.text(alphabet="PF", max_size=60),
    healthy=st.integers(1, 5),
    unhealthy=st.integers(1, 5),
)
def test_status_changes_only_after_a_run_that_reaches_its_threshold(
    initial: Health, results: str, healthy: int, unhealthy: int
) -> None:
    statuses = _replay(TargetHealth.initial(initial), results, Thresholds(healthy, unhealthy))
    previous = initial
    first_pass = results.find("P")
    for index, status in enumerate(statuses):
        seen = results[: index + 1]
        if seen.endswith("F" * unhealthy):
            assert status is U
        if seen.endswith("P" * healthy) or (initial is U and index == first_pass):
            assert status is H
        if status is not previous and not (initial is U and index == first_pass):
            assert seen.endswith("F" * unhealthy if status is U else "P" * healthy)
        previous = status
