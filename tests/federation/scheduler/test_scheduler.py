"""The Scheduler: resolve answers, picks, canaries and incremental rebuilds."""

import random
from collections import Counter

import pytest

from federation.scheduler.errors import (
    InvalidEndpointError,
    UnknownEndpointError,
    UnknownServiceError,
)
from federation.scheduler.model import (
    CanaryRule,
    ClusterPlacement,
    RoutingMode,
    RoutingSpec,
    ServiceSpec,
)
from federation.scheduler.scheduler import Scheduler
from tests.federation.scheduler.builders import LONDON, PLACEMENTS, VIRGINIA, endpoints

GEO = RoutingSpec(RoutingMode.GEO)


def _scheduler(*services: ServiceSpec) -> Scheduler:
    scheduler = Scheduler()
    for placement in PLACEMENTS.values():
        scheduler.set_cluster(placement)
    for service in services:
        scheduler.set_service(service)
    return scheduler


def _observed_cluster_shares(scheduler: Scheduler, service: str, picks: int) -> dict[str, float]:
    resolution = scheduler.resolve(service, LONDON)
    rng = random.Random(42)
    counts = Counter(resolution.pick(rng).cluster for _ in range(picks))
    return {cluster: 100 * count / picks for cluster, count in counts.items()}


def test_resolve_dict_has_the_documented_shape() -> None:
    scheduler = _scheduler(ServiceSpec("payments.prod", 8080, GEO))
    scheduler.apply_endpoints(added=endpoints("payments.prod", "aws-euw2", 3, 3))
    answer = scheduler.resolve("payments.prod", LONDON).to_dict(random.Random(0))
    assert set(answer) == {"service", "version", "levels", "pick", "explain"}
    assert answer["version"] == scheduler.version
    (level,) = answer["levels"]
    assert set(level) == {"priority", "load_percent", "panic", "healthy", "total", "clusters"}
    assert (level["load_percent"], level["healthy"], level["total"]) == (100, 3, 3)
    (cluster,) = level["clusters"]
    assert set(cluster) == {
        "name", "share_percent", "weight", "healthy", "total", "distance_km", "endpoints"
    }  # fmt: skip
    assert cluster["endpoints"][0] == {"address": "127.0.0.1", "port": 9000, "health": "healthy"}
    assert 0 < cluster["distance_km"] < 50
    assert answer["pick"]["cluster"] == "aws-euw2"


def test_geo_spills_from_the_clients_region_as_it_loses_health() -> None:
    scheduler = _scheduler(ServiceSpec("s", 80, GEO))
    scheduler.apply_endpoints(
        added=[*endpoints("s", "aws-euw2", 4, 2), *endpoints("s", "gcp-euw1", 2, 2)]
    )
    levels = scheduler.resolve("s", LONDON).levels
    # 2/4 healthy: health min(100, 140 x 2 / 4) = 70, the rest to the same continent.
    assert [level.load_percent for level in levels] == [70, 30]
    assert [c.name for level in levels for c in level.clusters] == ["aws-euw2", "gcp-euw1"]


def test_ejected_endpoints_count_as_unhealthy() -> None:
    scheduler = _scheduler(ServiceSpec("s", 80, GEO))
    scheduler.apply_endpoints(
        added=[*endpoints("s", "aws-euw2", 4, 4), *endpoints("s", "gcp-euw1", 2, 2)]
    )
    for key in ("aws-euw2/s/0", "aws-euw2/s/1"):
        scheduler.set_health(key, healthy=True, ejected=True)
    resolution = scheduler.resolve("s", LONDON)
    assert [level.load_percent for level in resolution.levels] == [70, 30]
    assert any("2 ejected" in line for line in resolution.explain())
    health = [e["health"] for e in resolution.to_dict()["levels"][0]["clusters"][0]["endpoints"]]
    assert health == ["ejected", "ejected", "healthy", "healthy"]


def test_panic_level_picks_unhealthy_hosts_too() -> None:
    scheduler = _scheduler(ServiceSpec("s", 80, RoutingSpec(RoutingMode.GEO)))
    scheduler.apply_endpoints(added=endpoints("s", "aws-euw2", 4, 1))
    resolution = scheduler.resolve("s", LONDON)
    assert resolution.levels[0].panic
    rng = random.Random(3)
    ports = {resolution.pick(rng).port for _ in range(400)}
    assert ports == {9000, 9001, 9002, 9003}
    assert any("panic" in line for line in resolution.explain())


def test_weighted_split_is_respected_over_100k_picks() -> None:
    spec = RoutingSpec(RoutingMode.WEIGHTED, weights={"aws-use1": 70, "gcp-euw1": 30})
    scheduler = _scheduler(ServiceSpec("s", 80, spec))
    scheduler.apply_endpoints(
        added=[*endpoints("s", "aws-use1", 3, 3), *endpoints("s", "gcp-euw1", 5, 5, weight=2)]
    )
    shares = {c.name: c.share_percent for c in scheduler.resolve("s", LONDON).levels[0].clusters}
    assert shares == {"aws-use1": 70, "gcp-euw1": 30}
    observed = _observed_cluster_shares(scheduler, "s", 100_000)
    for cluster, share in shares.items():
        assert abs(observed[cluster] - share) <= 1.0


def test_failover_reaches_a_cluster_through_its_gateway() -> None:
    spec = RoutingSpec(RoutingMode.FAILOVER, failover=[{"gcp-euw1": 1}, {"aws-use1": 1}])
    scheduler = _scheduler(ServiceSpec("s", 80, spec))
    scheduler.apply_endpoints(
        added=[*endpoints("s", "gcp-euw1", 1, 0), *endpoints(None, "aws-use1", 1, 1)]
    )
    resolution = scheduler.resolve("s", LONDON)
    assert [level.load_percent for level in resolution.levels] == [0, 100]
    picked = resolution.pick(random.Random(0))
    assert (picked.cluster, picked.key) == ("aws-use1", "aws-use1/gateway/0")


def test_service_endpoints_win_over_the_gateway_in_the_same_cluster() -> None:
    spec = RoutingSpec(RoutingMode.WEIGHTED, weights={"aws-use1": 1})
    scheduler = _scheduler(ServiceSpec("s", 80, spec))
    scheduler.apply_endpoints(
        added=[*endpoints(None, "aws-use1", 1, 1), *endpoints("s", "aws-use1", 2, 2)]
    )
    (cluster,) = scheduler.resolve("s", LONDON).levels[0].clusters
    assert [e.service for e in cluster.endpoints] == ["s", "s"]


@pytest.mark.parametrize(
    ("rule", "headers", "canary"),
    [
        (CanaryRule("x-canary", "v2", "gcp-euw1"), {"X-Canary": "v2"}, True),
        (CanaryRule("x-canary", "v2", "gcp-euw1"), {"x-canary": "v20"}, False),
        (CanaryRule("x-user", r"qa-\d+", "gcp-euw1", regex=True), {"x-user": "qa-17"}, True),
        (CanaryRule("x-user", r"qa-\d+", "gcp-euw1", regex=True), {"x-user": "qa-17b"}, False),
        (CanaryRule("x-canary", "v2", "gcp-euw1"), {}, False),
    ],
)
def test_matching_canary_header_goes_to_the_canary_cluster_first(
    rule: CanaryRule, headers: dict[str, str], canary: bool
) -> None:
    spec = RoutingSpec(RoutingMode.GEO, canary=[rule])
    scheduler = _scheduler(ServiceSpec("s", 80, spec))
    scheduler.apply_endpoints(
        added=[*endpoints("s", "aws-euw2", 2, 2), *endpoints("s", "gcp-euw1", 1, 1)]
    )
    resolution = scheduler.resolve("s", LONDON, headers)
    first = resolution.levels[0]
    if canary:
        assert [c.name for c in first.clusters] == ["gcp-euw1"]
        assert first.load_percent == 100
        assert resolution.canary == rule
    else:
        # Without the header the canary cluster takes no traffic at all.
        assert [c.name for level in resolution.levels for c in level.clusters] == ["aws-euw2"]


def test_canary_without_healthy_endpoints_falls_back_to_normal_routing() -> None:
    spec = RoutingSpec(RoutingMode.GEO, canary=[CanaryRule("x-canary", "v2", "gcp-euw1")])
    scheduler = _scheduler(ServiceSpec("s", 80, spec))
    scheduler.apply_endpoints(
        added=[*endpoints("s", "aws-euw2", 2, 2), *endpoints("s", "gcp-euw1", 1, 0)]
    )
    resolution = scheduler.resolve("s", LONDON, {"x-canary": "v2"})
    assert resolution.canary is None
    assert [c.name for level in resolution.levels for c in level.clusters] == ["aws-euw2"]


def _two_services() -> Scheduler:
    scheduler = _scheduler(ServiceSpec("a", 80, GEO), ServiceSpec("b", 80, GEO))
    scheduler.apply_endpoints(
        added=[*endpoints("a", "aws-euw2", 2, 2), *endpoints("b", "gcp-euw1", 2, 2)]
    )
    for service in ("a", "b"):
        for client in (LONDON, VIRGINIA):
            scheduler.resolve(service, client)
    return scheduler


def test_health_change_rebuilds_only_the_tables_of_its_service() -> None:
    scheduler = _two_services()
    built, version = scheduler.tables_built, scheduler.version
    scheduler.set_health("aws-euw2/a/0", healthy=False)
    assert scheduler.version == version + 1
    assert scheduler.cached_tables == 2
    assert scheduler.refresh() == 2
    scheduler.resolve("b", LONDON)
    assert scheduler.tables_built == built + 2
    assert scheduler.resolve("a", LONDON).levels[0].healthy == 1


def test_unchanged_health_report_changes_nothing() -> None:
    scheduler = _two_services()
    built, version = scheduler.tables_built, scheduler.version
    scheduler.set_health("aws-euw2/a/0", healthy=True)
    assert (scheduler.tables_built, scheduler.version, scheduler.refresh()) == (built, version, 0)


def test_gateway_change_invalidates_services_that_name_its_cluster() -> None:
    spec = RoutingSpec(RoutingMode.WEIGHTED, weights={"aws-use1": 1})
    scheduler = _scheduler(ServiceSpec("named", 80, spec), ServiceSpec("other", 80, GEO))
    scheduler.apply_endpoints(added=endpoints("other", "gcp-euw1", 1, 1))
    scheduler.resolve("named", LONDON)
    scheduler.resolve("other", LONDON)
    scheduler.apply_endpoints(added=endpoints(None, "aws-use1", 1, 1))
    assert scheduler.refresh() == 1
    assert scheduler.resolve("named", LONDON).levels[0].healthy == 1


def test_moving_a_cluster_invalidates_only_services_with_endpoints_there() -> None:
    scheduler = _two_services()
    assert scheduler.resolve("b", VIRGINIA).levels[0].rule == "geo: clusters on other continents"
    moved = ClusterPlacement("gcp-euw1", "gcp:us-east4", "NA", 39.0, -77.5)
    scheduler.set_cluster(moved)
    assert scheduler.refresh() == 2  # b's two tables; a has nothing in gcp-euw1
    assert scheduler.resolve("b", VIRGINIA).levels[0].rule.endswith("continent NA")


def test_removing_endpoints_is_idempotent() -> None:
    scheduler = _two_services()
    scheduler.apply_endpoints(removed=["aws-euw2/a/0"])
    version = scheduler.version
    scheduler.apply_endpoints(removed=["aws-euw2/a/0"])
    assert scheduler.version == version
    assert scheduler.resolve("a", LONDON).levels[0].total == 1


def test_changing_a_service_spec_rebuilds_it() -> None:
    scheduler = _two_services()
    weighted = RoutingSpec(RoutingMode.WEIGHTED, weights={"gcp-euw1": 1})
    scheduler.set_service(ServiceSpec("a", 80, weighted))
    scheduler.apply_endpoints(added=endpoints("a", "gcp-euw1", 1, 1))
    clusters = [c.name for level in scheduler.resolve("a", LONDON).levels for c in level.clusters]
    assert clusters == ["gcp-euw1"]


def test_unknown_names_raise_specific_errors() -> None:
    scheduler = _two_services()
    with pytest.raises(UnknownServiceError, match="known: a, b"):
        scheduler.resolve("nope", LONDON)
    with pytest.raises(UnknownEndpointError, match="apply_endpoints"):
        scheduler.set_health("nope", healthy=False)
    scheduler.remove_service("a")
    with pytest.raises(UnknownServiceError):
        scheduler.remove_service("a")


def test_distances_come_from_the_injected_function() -> None:
    scheduler = Scheduler(distance_km=lambda lat1, lon1, lat2, lon2: abs(lat1 - lat2) * 1000)
    for placement in PLACEMENTS.values():
        scheduler.set_cluster(placement)
    scheduler.set_service(ServiceSpec("s", 80, GEO))
    scheduler.apply_endpoints(added=endpoints("s", "gcp-euw1", 1, 1))
    answer = scheduler.resolve("s", LONDON).to_dict()
    assert answer["levels"][0]["clusters"][0]["distance_km"] == pytest.approx(1110.0)
    assert answer["pick"] is None  # no RNG given, no pick


def test_negative_endpoint_weight_is_refused() -> None:
    with pytest.raises(InvalidEndpointError, match="0 or more"):
        endpoints("s", "aws-euw2", 1, 1, weight=-1)


def test_resubmitting_the_same_service_spec_keeps_its_tables() -> None:
    scheduler = _two_services()
    built, version = scheduler.tables_built, scheduler.version
    scheduler.set_service(ServiceSpec("a", 80, GEO))
    scheduler.resolve("a", LONDON)
    assert (scheduler.tables_built, scheduler.version) == (built, version)


def test_removed_cluster_placement_moves_its_clusters_to_the_last_level() -> None:
    scheduler = _two_services()
    scheduler.remove_cluster("aws-euw2")
    assert scheduler.refresh() == 2
    (level,) = scheduler.resolve("a", LONDON).levels
    assert level.rule == "geo: clusters on other continents"
    assert (
        scheduler.resolve("a", LONDON).to_dict()["levels"][0]["clusters"][0]["distance_km"] is None
    )


def test_canary_cluster_named_by_the_spec_leaves_the_normal_levels_for_matching_requests() -> None:
    rule = CanaryRule("x-canary", "v2", "gcp-euw1")
    spec = RoutingSpec(RoutingMode.WEIGHTED, weights={"aws-euw2": 1, "gcp-euw1": 1}, canary=[rule])
    scheduler = _scheduler(ServiceSpec("s", 80, spec))
    scheduler.apply_endpoints(
        added=[*endpoints("s", "aws-euw2", 2, 2), *endpoints("s", "gcp-euw1", 4, 2)]
    )
    normal = scheduler.resolve("s", LONDON)
    assert [c.name for c in normal.levels[0].clusters] == ["aws-euw2", "gcp-euw1"]
    levels = scheduler.resolve("s", LONDON, {"x-canary": "v2"}).levels
    # The canary cluster is level 0 alone; at 2/4 healthy it keeps 70% and sheds 30%.
    assert [[c.name for c in level.clusters] for level in levels] == [["gcp-euw1"], ["aws-euw2"]]
    assert [level.load_percent for level in levels] == [70, 30]
    assert levels[0].rule.startswith("canary")


def test_explain_names_each_levels_rule_and_each_clusters_distance() -> None:
    scheduler = _scheduler(ServiceSpec("s", 80, GEO))
    scheduler.apply_endpoints(
        added=[*endpoints("s", "aws-euw2", 1, 1), *endpoints("s", "aws-use1", 1, 1)]
    )
    explain = scheduler.resolve("s", LONDON).explain()
    assert any("clusters in the client's region aws:eu-west-2" in line for line in explain)
    assert any("clusters on other continents" in line for line in explain)
    assert any(line.startswith("aws-use1 is") and "km" in line for line in explain)
