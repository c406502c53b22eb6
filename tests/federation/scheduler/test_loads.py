"""Rules of the load math that Envoy's tables do not show directly."""

from fractions import Fraction

import pytest

from federation.scheduler.loads import (
    HostCounts,
    LocalityInput,
    largest_remainder,
    locality_shares,
    priority_load,
)


def test_panic_is_ignored_while_normalized_total_health_is_100() -> None:
    result = priority_load([HostCounts(1, 10), HostCounts(10, 10)], 140, 50)
    assert result.panic == (False, False)
    assert result.loads == (14, 86)


def test_exactly_the_panic_threshold_is_not_panic() -> None:
    result = priority_load([HostCounts(5, 10), HostCounts(0, 10)], 140, 50)
    assert result.normalized_total_health == 70
    assert result.panic == (False, True)


def test_panic_threshold_zero_turns_panic_off() -> None:
    result = priority_load([HostCounts(1, 10), HostCounts(0, 10)], 140, 0)
    assert result.panic == (False, False)
    assert result.loads == (100, 0)


@pytest.mark.parametrize(("threshold", "panic"), [(50.0, True), (0.0, False)])
def test_with_no_healthy_host_anywhere_the_first_level_with_hosts_takes_everything(
    threshold: float, panic: bool
) -> None:
    result = priority_load([HostCounts(0, 0), HostCounts(0, 3), HostCounts(0, 2)], 140, threshold)
    assert result.loads == (0, 100, 0)
    assert result.panic == (False, panic, panic)


def test_overprovisioning_factor_one_makes_load_follow_health_exactly() -> None:
    assert priority_load([HostCounts(1, 2), HostCounts(2, 2)], 100, 50).loads == (50, 50)


def test_remainder_skips_a_leading_level_without_health() -> None:
    # health (0, 35, 28): floors 0, 55, 44 leave 1, which Envoy gives the first healthy level.
    result = priority_load([HostCounts(0, 4), HostCounts(1, 4), HostCounts(1, 5)], 140, 50)
    assert result.loads == (0, 56, 44)


def test_level_in_panic_balances_over_all_hosts_ignoring_locality_weights() -> None:
    heavy = LocalityInput(weight=9, counts=HostCounts(0, 3), host_weight=3)
    light = LocalityInput(weight=1, counts=HostCounts(1, 1), host_weight=1)
    shares = locality_shares([heavy, light], 140, panic=True)
    assert shares.share_percent == (75, 25)


def test_level_with_nothing_available_shows_the_split_panic_would_use() -> None:
    a = LocalityInput(weight=1, counts=HostCounts(0, 2), host_weight=2)
    b = LocalityInput(weight=5, counts=HostCounts(0, 6), host_weight=6)
    shares = locality_shares([a, b], 140, panic=False)
    assert shares.effective_weights == (0, 0)
    assert shares.share_percent == (25, 75)


def test_locality_without_hosts_gets_no_share() -> None:
    empty = LocalityInput(weight=3, counts=HostCounts(0, 0), host_weight=0)
    full = LocalityInput(weight=1, counts=HostCounts(2, 2), host_weight=2)
    assert locality_shares([empty, full], 140, panic=False).share_percent == (0, 100)


@pytest.mark.parametrize(
    ("values", "expected"),
    [((Fraction(100, 3), Fraction(200, 3)), (33, 67)),
     ((Fraction(100, 3),) * 3, (34, 33, 33)),
     ((Fraction(50), Fraction(50)), (50, 50))],
)  # fmt: skip
def test_largest_remainder_keeps_the_sum(
    values: tuple[Fraction, ...], expected: tuple[int, ...]
) -> None:
    assert largest_remainder(values) == expected
