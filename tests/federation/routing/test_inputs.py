"""The config model and stored records mapped onto the scheduler's input types."""

from __future__ import annotations

import pytest

from federation import model
from federation.routing.health_records import HealthRecord
from federation.routing.inputs import (
    combined,
    configured_gateway,
    next_verdict_change,
    out_of_service,
    placement,
    service_spec,
)
from federation.scheduler import EndpointState, RoutingMode
from geo import RegionCatalog
from providers.base import Health

NOW = 1000.0


def test_failover_groups_and_canary_rules_keep_their_meaning() -> None:
    spec = model.ServiceSpec.model_validate(
        {
            "name": "payments.prod",
            "port": 8080,
            "routing": {
                "mode": "failover",
                "failover": [{"aws-use1": 70, "gcp-euw1": 30}, "azure-weu"],
                "overprovisioning_factor": 1.2,
                "panic_threshold": 30,
                "canary": [
                    {"header": "x-canary", "value": "v2", "cluster": "gcp-euw1"},
                    {"header": "x-user", "regex": r"qa-\d+", "cluster": "azure-weu"},
                ],
            },
        }
    )
    routing = service_spec(spec).routing
    assert routing.mode is RoutingMode.FAILOVER
    assert list(routing.failover) == [{"aws-use1": 70, "gcp-euw1": 30}, {"azure-weu": 1}]
    assert (routing.overprovisioning_factor, routing.panic_threshold) == (1.2, 30)
    exact, pattern = routing.canary
    assert exact.matches({"X-Canary": "v2"}) and not exact.matches({"x-canary": "v20"})
    assert pattern.matches({"x-user": "qa-17"}) and not pattern.matches({"x-user": "qa-17b"})


def test_cluster_placement_comes_from_the_region_catalog() -> None:
    cluster = model.ClusterSpec(name="gcp-euw1", cloud="gcp", region="europe-west1")
    found = placement(cluster, RegionCatalog.load())
    assert found is not None
    assert (found.region_key, found.continent) == ("gcp:europe-west1", "EU")
    unknown = model.ClusterSpec(name="x", cloud="gcp", region="mars-north1")
    assert placement(unknown, RegionCatalog.load()) is None


def test_configured_gateway_has_the_registry_key_of_a_discovered_one() -> None:
    cluster = model.ClusterSpec.model_validate(
        {
            "name": "aws-use1",
            "cloud": "aws",
            "region": "us-east-1",
            "gateway": {"address": "10.0.0.1", "port": 15443},
        }
    )
    gateway = configured_gateway(cluster)
    assert gateway is not None
    assert gateway.key == "aws-use1/gateway/-/10.0.0.1:15443"
    assert gateway.service is None


BASE = EndpointState("k", "c", "127.0.0.2", 9443, service="s")


@pytest.mark.parametrize(
    ("reported", "record", "health"),
    [
        (Health.UNKNOWN, None, "healthy"),
        (Health.UNKNOWN, HealthRecord(healthy=False), "unhealthy"),
        (Health.UNKNOWN, HealthRecord(healthy=True), "healthy"),
        (Health.UNHEALTHY, HealthRecord(healthy=True), "unhealthy"),
        (Health.DRAINING, None, "unhealthy"),
        (Health.HEALTHY, HealthRecord(healthy=False), "healthy"),
        (Health.HEALTHY, HealthRecord(ejected_until=NOW + 1), "ejected"),
        (Health.UNKNOWN, HealthRecord(healthy=True, ejected_until=NOW), "healthy"),
        (Health.UNKNOWN, HealthRecord(healthy=False, ejected_until=NOW + 1), "ejected"),
    ],
)
def test_source_health_active_checks_and_ejection_combine(
    reported: Health, record: HealthRecord | None, health: str
) -> None:
    assert combined(BASE, reported, record, NOW).health == health


@pytest.mark.parametrize(
    ("reported", "records", "expected"),
    [
        ({}, {}, None),
        # An ejection of an otherwise healthy endpoint ends, and routes change, at its end.
        ({}, {"e1": HealthRecord(ejected_until=NOW + 5)}, NOW + 5),
        (
            {},
            {"e1": HealthRecord(ejected_until=NOW + 9), "e2": HealthRecord(ejected_until=NOW + 2)},
            NOW + 2,
        ),
        # Over already: nothing left to wait for.
        ({}, {"e1": HealthRecord(ejected_until=NOW)}, None),
        ({}, {"e1": HealthRecord(ejected_until=NOW - 1)}, None),
        # Still failing its active checks once the ejection ends: it stays out.
        ({}, {"e1": HealthRecord(healthy=False, ejected_until=NOW + 5)}, None),
        ({"e1": Health.UNHEALTHY}, {"e1": HealthRecord(ejected_until=NOW + 5)}, None),
        ({"e1": Health.DRAINING}, {"e1": HealthRecord(ejected_until=NOW + 5)}, None),
        # A source's own health overrides the checks, so the ejection is all that holds it.
        (
            {"e1": Health.HEALTHY},
            {"e1": HealthRecord(healthy=False, ejected_until=NOW + 5)},
            NOW + 5,
        ),
        ({}, {"e1": HealthRecord(healthy=True)}, None),
    ],
)
def test_the_next_verdict_change_is_the_first_ejection_end_that_returns_an_endpoint(
    reported: dict[str, Health], records: dict[str, HealthRecord], expected: float | None
) -> None:
    assert next_verdict_change(reported, records, NOW) == expected


def test_an_endpoint_is_out_of_service_until_its_ejection_ends() -> None:
    records = {"e1": HealthRecord(ejected_until=NOW + 5), "e2": HealthRecord(healthy=False)}
    assert out_of_service({}, records, NOW) == {"e1", "e2"}
    assert out_of_service({}, records, NOW + 5) == {"e2"}
