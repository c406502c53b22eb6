"""Every row of the tables in Envoy's load-balancing docs, as one test row each.

Pages: intro/arch_overview/upstream/load_balancing/{priority,locality_weight,panic_threshold}.
A percentage of healthy endpoints is modelled as that many healthy hosts out of 100.
"""

import pytest

from federation.scheduler.loads import HostCounts, LocalityInput, locality_shares, priority_load

FACTOR = 140  # Envoy's default overprovisioning factor, as a percentage
PANIC = 50.0  # Envoy's default panic threshold


def _levels(*healthy_percent: int) -> list[HostCounts]:
    return [HostCounts(healthy=percent, total=100) for percent in healthy_percent]


# priority.rst, first table: two levels, P=1 100% healthy.
@pytest.mark.parametrize(
    ("p0", "expected"),
    [(100, (100, 0)), (72, (100, 0)), (71, (99, 1)), (50, (70, 30)), (25, (35, 65)),
     (0, (0, 100))],
)  # fmt: skip
def test_priority_table_two_levels_p1_fully_healthy(p0: int, expected: tuple[int, int]) -> None:
    assert priority_load(_levels(p0, 100), FACTOR, PANIC).loads == expected


# priority.rst, second table: both levels' health varies.
@pytest.mark.parametrize(
    ("p0", "p1", "expected"),
    [(100, 100, (100, 0)), (72, 72, (100, 0)), (71, 71, (99, 1)), (50, 50, (70, 30)),
     (25, 100, (35, 65)), (25, 25, (50, 50))],
)  # fmt: skip
def test_priority_table_two_levels(p0: int, p1: int, expected: tuple[int, int]) -> None:
    assert priority_load(_levels(p0, p1), FACTOR, PANIC).loads == expected


# priority.rst, third table: three levels. The last row is in the next test.
@pytest.mark.parametrize(
    ("healthy", "expected"),
    [((100, 100, 100), (100, 0, 0)), ((72, 72, 100), (100, 0, 0)), ((71, 71, 100), (99, 1, 0)),
     ((50, 50, 100), (70, 30, 0)), ((25, 100, 100), (35, 65, 0)),
     ((25, 25, 100), (35, 35, 30))],
)  # fmt: skip
def test_priority_table_three_levels(
    healthy: tuple[int, int, int], expected: tuple[int, int, int]
) -> None:
    assert priority_load(_levels(*healthy), FACTOR, PANIC).loads == expected


# Two rows where Envoy's docs round to nearest but Envoy's code (distributeLoad() then
# "remainder to the first healthy priority") floors; the scheduler agrees with the code, so an
# Envoy gateway and meshfed's gateway split traffic the same way.
@pytest.mark.parametrize(
    ("healthy", "documented", "envoy_code"),
    [((25, 25, 20), (36, 36, 28), (37, 35, 28)),  # priority.rst, three levels, last row
     ((5, 65), (7, 93), (8, 92))],  # panic_threshold.rst, second table, last row
)  # fmt: skip
def test_rounding_remainder_goes_to_first_healthy_level_as_envoy_code_does(
    healthy: tuple[int, ...], documented: tuple[int, ...], envoy_code: tuple[int, ...]
) -> None:
    loads = priority_load(_levels(*healthy), FACTOR, PANIC).loads
    assert loads == envoy_code
    # The difference is only where the rounding remainder lands.
    assert sum(abs(a - b) for a, b in zip(loads, documented, strict=True)) == 2


# panic_threshold.rst, first table: P=1 100% healthy, so normalized total health stays 100
# and P=0 never panics.
@pytest.mark.parametrize(
    ("p0", "expected"),
    [(72, (100, 0)), (71, (99, 1)), (50, (70, 30)), (25, (35, 65)), (0, (0, 100))],
)
def test_panic_table_no_panic_while_lower_level_covers(p0: int, expected: tuple[int, int]) -> None:
    result = priority_load(_levels(p0, 100), FACTOR, PANIC)
    assert result.loads == expected
    assert result.panic == (False, False)
    assert result.normalized_total_health == 100


# panic_threshold.rst, second table: the rows consistent with the priority page. Rows
# (50%, 60%) -> 50/50 and (25%, 100%) -> 25/75 are left out: they ignore the overprovisioning
# factor and contradict priority.rst, whose own (25%, 100%) row says 35/65.
@pytest.mark.parametrize(
    ("p0", "p1", "expected", "panic", "normalized"),
    [(72, 72, (100, 0), (False, False), 100),
     (71, 71, (99, 1), (False, False), 100),
     (25, 25, (50, 50), (True, True), 70),
     (5, 65, (8, 92), (True, False), 98)],
)  # fmt: skip
def test_panic_table_both_levels_degraded(
    p0: int,
    p1: int,
    expected: tuple[int, int],
    panic: tuple[bool, bool],
    normalized: int,
) -> None:
    result = priority_load(_levels(p0, p1), FACTOR, PANIC)
    assert result.loads == expected
    assert result.panic == panic
    assert result.normalized_total_health == normalized


# locality_weight.rst: X weight 1, Y weight 2 and 100% available.
@pytest.mark.parametrize(
    ("x_healthy", "expected"),
    [(100, (33, 67)), (70, (33, 67)), (69, (32, 68)), (50, (26, 74)), (25, (15, 85)),
     (0, (0, 100))],
)  # fmt: skip
def test_locality_weight_table(x_healthy: int, expected: tuple[int, int]) -> None:
    x = LocalityInput(weight=1, counts=HostCounts(x_healthy, 100), host_weight=100)
    y = LocalityInput(weight=2, counts=HostCounts(100, 100), host_weight=100)
    assert locality_shares([x, y], FACTOR, panic=False).share_percent == expected
