"""Properties of the load math and the pick that must hold for any health pattern."""

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.scheduler.loads import HostCounts, LocalityInput, locality_shares, priority_load
from federation.scheduler.model import RoutingMode, RoutingSpec, ServiceSpec
from federation.scheduler.scheduler import Scheduler
from tests.federation.scheduler.builders import LONDON, PLACEMENTS, endpoints


@st.composite
def host_counts(draw: st.DrawFn, min_total: int = 0) -> HostCounts:
    total = draw(st.integers(min_total, 40))
    return HostCounts(draw(st.integers(0, total)), total)


levels_st = st.lists(host_counts(), min_size=1, max_size=5)
factor_st = st.integers(100, 200)
threshold_st = st.sampled_from([0.0, 10.0, 50.0, 100.0]) | st.floats(0, 100)


@given(levels_st, factor_st, threshold_st)
def test_loads_sum_to_100_whenever_any_level_has_hosts(
    levels: list[HostCounts], factor: int, threshold: float
) -> None:
    loads = priority_load(levels, factor, threshold).loads
    assert all(load >= 0 for load in loads)
    assert sum(loads) == (100 if any(level.total for level in levels) else 0)


@given(levels_st, factor_st, threshold_st)
def test_level_without_healthy_hosts_gets_nothing_unless_nothing_is_healthy(
    levels: list[HostCounts], factor: int, threshold: float
) -> None:
    result = priority_load(levels, factor, threshold)
    if result.normalized_total_health == 0:
        # Envoy: everything to P=0, which only panic lets pick an unhealthy host.
        first = next((i for i, level in enumerate(levels) if level.total), None)
        assert [i for i, load in enumerate(result.loads) if load] == (
            [] if first is None else [first]
        )
        return
    for level, load in zip(levels, result.loads, strict=True):
        if level.healthy == 0:
            assert load == 0


@given(levels_st, factor_st, threshold_st, st.data())
def test_more_health_in_a_level_never_lowers_its_load(
    levels: list[HostCounts], factor: int, threshold: float, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(levels) - 1))
    level = levels[index]
    if level.healthy == level.total:
        return
    better = [*levels]
    better[index] = HostCounts(level.healthy + 1, level.total)
    before = priority_load(levels, factor, threshold).loads[index]
    assert priority_load(better, factor, threshold).loads[index] >= before


@given(
    st.lists(
        st.tuples(st.integers(1, 100), host_counts(), st.integers(1, 5)), min_size=1, max_size=6
    ),
    factor_st,
    st.booleans(),
)
def test_shares_sum_to_100_within_a_level_with_hosts(
    rows: list[tuple[int, HostCounts, int]], factor: int, panic: bool
) -> None:
    localities = [LocalityInput(w, counts, counts.total * ew) for w, counts, ew in rows]
    shares = locality_shares(localities, factor, panic).share_percent
    has_hosts = any(loc.counts.total for loc in localities)
    assert sum(shares) == (100 if has_hosts else 0)


CLUSTERS = ["aws-euw2", "gcp-euw1", "azure-weu", "aws-use1"]


@settings(max_examples=8, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 6), st.integers(0, 6), st.integers(1, 4)), min_size=4,
             max_size=4),
    st.lists(st.integers(0, 5), min_size=4, max_size=4),
    st.sampled_from(list(RoutingMode)),
)  # fmt: skip
def test_picks_follow_the_computed_cluster_shares(
    shape: list[tuple[int, int, int]], weights: list[int], mode: RoutingMode
) -> None:
    named = dict(zip(CLUSTERS, weights, strict=True))
    spec = RoutingSpec(
        mode,
        weights=named if any(weights) else {CLUSTERS[0]: 1},
        failover=[{name: 1} for name in CLUSTERS],
    )
    scheduler = Scheduler()
    for name in CLUSTERS:
        scheduler.set_cluster(PLACEMENTS[name])
    scheduler.set_service(ServiceSpec("s", 80, spec))
    for name, (total, healthy, weight) in zip(CLUSTERS, shape, strict=True):
        scheduler.apply_endpoints(
            added=endpoints("s", name, total, min(healthy, total), weight=weight)
        )
    resolution = scheduler.resolve("s", LONDON)
    expected: dict[str, float] = {}
    for level in resolution.levels:
        assert sum(c.share_percent for c in level.clusters) == 100
        level_weight = sum(c.effective_weight for c in level.clusters)
        for cluster in level.clusters:
            if level_weight:
                share = level.load_percent * cluster.effective_weight / level_weight
                expected[cluster.name] = expected.get(cluster.name, 0.0) + share
    if not sum(expected.values()):
        return
    picks = 100_000
    rng = random.Random(99)
    observed = Counter(resolution.pick(rng).cluster for _ in range(picks))
    for name in {*expected, *observed}:
        assert abs(100 * observed[name] / picks - expected.get(name, 0.0)) <= 1.0
