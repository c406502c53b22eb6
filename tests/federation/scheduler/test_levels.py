"""Which clusters land in which priority level."""

import pytest

from federation.scheduler.errors import RoutingSpecError
from federation.scheduler.levels import ClientLocality, plan_levels
from federation.scheduler.model import RoutingMode, RoutingSpec
from tests.federation.scheduler.builders import PLACEMENTS

LONDON = ClientLocality("aws:eu-west-2", "EU")


def test_geo_levels_are_region_then_continent_then_rest() -> None:
    serving = ["aws-use1", "aws-euw2", "gcp-euw1", "azure-weu", "gcp-ase1"]
    plans = plan_levels(RoutingSpec(RoutingMode.GEO), LONDON, PLACEMENTS, serving)
    assert [plan.clusters for plan in plans] == [
        ("aws-euw2",),
        ("azure-weu", "gcp-euw1"),
        ("aws-use1", "gcp-ase1"),
    ]
    assert "aws:eu-west-2" in plans[0].rule
    assert "EU" in plans[1].rule


def test_geo_drops_empty_levels_and_uses_configured_weights_inside_a_level() -> None:
    spec = RoutingSpec(RoutingMode.GEO, weights={"gcp-euw1": 3})
    plans = plan_levels(spec, LONDON, PLACEMENTS, ["gcp-euw1", "azure-weu"])
    assert [plan.localities for plan in plans] == [(("azure-weu", 1), ("gcp-euw1", 3))]


def test_geo_puts_a_cluster_without_placement_in_the_last_level() -> None:
    plans = plan_levels(RoutingSpec(RoutingMode.GEO), LONDON, PLACEMENTS, ["aws-euw2", "onprem"])
    assert [plan.clusters for plan in plans] == [("aws-euw2",), ("onprem",)]


def test_failover_level_k_is_entry_k() -> None:
    spec = RoutingSpec(
        RoutingMode.FAILOVER,
        failover=[{"aws-use1": 70, "gcp-euw1": 30}, {"azure-weu": 1}],
    )
    plans = plan_levels(spec, LONDON, PLACEMENTS, [])
    assert [plan.localities for plan in plans] == [
        (("aws-use1", 70), ("gcp-euw1", 30)),
        (("azure-weu", 1),),
    ]
    assert [plan.rule for plan in plans] == ["failover: entry 1 of 2", "failover: entry 2 of 2"]


def test_weighted_is_one_level_and_weight_zero_drains_a_cluster() -> None:
    spec = RoutingSpec(RoutingMode.WEIGHTED, weights={"aws-use1": 70, "gcp-euw1": 0})
    plans = plan_levels(spec, LONDON, PLACEMENTS, ["aws-euw2"])
    assert [plan.localities for plan in plans] == [(("aws-use1", 70),)]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mode": RoutingMode.FAILOVER}, "failover"),
        ({"mode": RoutingMode.WEIGHTED}, "weights"),
        ({"mode": RoutingMode.GEO, "panic_threshold": 120}, "panic_threshold"),
        ({"mode": RoutingMode.GEO, "overprovisioning_factor": 0}, "overprovisioning_factor"),
        ({"mode": RoutingMode.GEO, "weights": {"a": -1}}, "weight -1"),
        ({"mode": RoutingMode.FAILOVER, "failover": [{"a": 1}, {"a": 1}]}, "earlier entry"),
    ],
)
def test_invalid_routing_spec_is_refused_with_the_fix(
    kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(RoutingSpecError, match=fragment):
        RoutingSpec(**kwargs)  # type: ignore[arg-type]
