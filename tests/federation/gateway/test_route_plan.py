from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.config import parse_config
from federation.gateway.route_plan import (
    UnknownClusterError,
    plan_gateway_config,
    static_endpoints,
)
from federation.routing.inputs import gateway_key
from geo import RegionCatalog
from providers.base import Endpoint, Health, Role

CATALOG = RegionCatalog.load()

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1, gateway: {address: 10.9.0.1, port: 15443}}
  - {name: aws-euw1, cloud: aws, region: eu-west-1, gateway: {address: 10.9.0.2, port: 15443}}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1, gateway: {address: 10.9.0.3, port: 15443}}
  - {name: azure-eas, cloud: azure, region: eastasia, gateway: {address: 10.9.0.4, port: 15443}}
  - {name: gcp-use4, cloud: gcp, region: us-east4}
providers:
  - name: local
    kind: static
    endpoints:
      - {cluster: aws-use1, service: ledger.prod, address: 10.0.0.2, port: 9090}
      - {cluster: aws-use1, service: ledger.prod, address: 10.0.0.1, port: 9090, weight: 5}
      - {cluster: aws-use1, service: ledger.prod, address: 10.0.0.3, port: 9090,
         health: unhealthy}
      - {cluster: gcp-euw1, service: payments.prod, address: 10.3.0.1, port: 8080}
      - {cluster: aws-euw1, service: payments.prod, address: 10.2.0.1, port: 8080}
      - {cluster: azure-eas, service: payments.prod, address: 10.4.0.1, port: 8080}
      - {cluster: gcp-use4, service: payments.prod, address: 10.5.0.1, port: 8080}
      - {cluster: gcp-euw1, role: gateway, address: 10.9.1.3, port: 15443, weight: 2}
services:
  - {name: ledger.prod, port: 9090}
  - name: payments.prod
    port: 8080
    routing: {mode: geo}
  - name: orders.prod
    port: 7070
    routing: {mode: failover, failover: [{gcp-euw1: 1, azure-eas: 3}, aws-euw1, aws-use1]}
    retries: {attempts: 0, per_try_timeout: 250ms, backoff_base: 10ms, backoff_max: 5ms}
    circuit_breaker: {max_connections: 7, max_pending_requests: 2}
  - name: search.prod
    port: 6060
    routing: {mode: weighted, weights: {aws-euw1: 10, gcp-euw1: 30}}
"""


def plan(cluster: str = "aws-use1", extra: tuple[Endpoint, ...] = ()) -> dict[str, list[str]]:
    config = parse_config(CONFIG)
    planned = plan_gateway_config(
        config, cluster, [*static_endpoints(config), *extra], version=7, catalog=CATALOG
    )
    assert planned.version == 7
    return {
        route.service: [f"{u.kind}:{u.cluster}:{u.address}" for u in route.upstreams]
        for route in planned.services
    }


def test_a_local_service_goes_to_its_usable_endpoints_heaviest_first() -> None:
    assert plan()["ledger.prod"] == ["endpoint:aws-use1:10.0.0.1", "endpoint:aws-use1:10.0.0.2"]


def test_geo_sends_a_remote_service_to_the_nearest_serving_clusters_gateways_first() -> None:
    # From us-east-1: gcp-use4 has no gateway, then Ireland, Belgium, Hong Kong.
    assert plan()["payments.prod"] == [
        "gateway:aws-euw1:10.9.0.2",
        "gateway:gcp-euw1:10.9.1.3",
        "gateway:gcp-euw1:10.9.0.3",
        "gateway:azure-eas:10.9.0.4",
    ]


def test_failover_follows_the_entries_in_order_heaviest_first_within_a_group() -> None:
    # No one serves orders.prod locally, so every listed cluster but this one is a hop.
    assert plan()["orders.prod"] == [
        "gateway:azure-eas:10.9.0.4",
        "gateway:gcp-euw1:10.9.1.3",
        "gateway:gcp-euw1:10.9.0.3",
        "gateway:aws-euw1:10.9.0.2",
    ]


def test_weighted_orders_clusters_by_weight() -> None:
    assert plan()["search.prod"] == [
        "gateway:gcp-euw1:10.9.1.3",
        "gateway:gcp-euw1:10.9.0.3",
        "gateway:aws-euw1:10.9.0.2",
    ]


@pytest.mark.parametrize("health", [Health.UNHEALTHY, Health.DRAINING])
def test_unhealthy_and_draining_gateways_take_no_new_connections(health: Health) -> None:
    # The config's own declaration of the gateway stays; the discovered duplicate is dropped.
    sick = Endpoint(
        "aws-euw1", Role.GATEWAY, None, "10.9.1.2", 15443, "aws", "eu-west-1", health=health
    )
    assert "gateway:aws-euw1:10.9.1.2" not in plan(extra=(sick,))["search.prod"]


def test_a_discovered_gateway_that_repeats_the_declared_one_is_listed_once() -> None:
    same = Endpoint("aws-euw1", Role.GATEWAY, None, "10.9.0.2", 15443, "aws", "eu-west-1")
    assert plan(extra=(same,))["search.prod"].count("gateway:aws-euw1:10.9.0.2") == 1


def test_traffic_settings_come_from_the_service_with_at_least_one_attempt() -> None:
    config = parse_config(CONFIG)
    planned = plan_gateway_config(config, "aws-use1", [], 0, CATALOG)
    orders = planned.route("orders.prod")
    assert orders is not None
    traffic = orders.traffic
    assert traffic.attempts == 1
    assert traffic.connect_timeout_s == 0.25
    assert traffic.backoff_base_s == 0.01 and traffic.backoff_max_s == 0.01
    assert (traffic.max_connections, traffic.max_pending_requests) == (7, 2)


def test_an_unknown_cluster_is_refused_with_the_known_names() -> None:
    with pytest.raises(UnknownClusterError, match="aws-euw1, aws-use1"):
        plan("nowhere")


CLUSTERS = ("aws-use1", "aws-euw1", "gcp-euw1", "azure-eas", "gcp-use4")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(CLUSTERS),
            st.sampled_from([Role.SERVICE, Role.GATEWAY]),
            st.sampled_from(["ledger.prod", "payments.prod", "orders.prod"]),
            st.integers(1, 3),
            st.sampled_from(list(Health)),
        ),
        max_size=25,
    ),
    st.sampled_from(CLUSTERS),
)
def test_routes_never_loop_back_nor_use_unusable_endpoints(
    specs: list[tuple[str, Role, str, int, Health]], cluster: str
) -> None:
    endpoints = [
        Endpoint(
            c,
            role,
            service if role is Role.SERVICE else None,
            f"10.7.0.{i}",
            8000,
            "x",
            "r",
            weight=weight,
            health=health,
        )
        for i, (c, role, service, weight, health) in enumerate(specs)
    ]
    planned = plan_gateway_config(parse_config(CONFIG), cluster, endpoints, 1, CATALOG)
    unusable = {e.address for e in endpoints if e.health in (Health.UNHEALTHY, Health.DRAINING)}
    for route in planned.services:
        addresses = [u.address for u in route.upstreams]
        assert not unusable & set(addresses)
        assert len(addresses) == len(set(addresses))
        local = [u for u in route.upstreams if u.kind == "endpoint"]
        remote = route.upstreams[len(local) :]
        # Own endpoints first (only when the cluster serves it), then other clusters' gateways.
        assert route.local == bool(local)
        assert route.upstreams[: len(local)] == local
        assert all(u.cluster == cluster for u in local)
        assert all(u.kind == "gateway" and u.cluster != cluster for u in remote)


def test_health_checks_and_ejections_take_endpoints_and_gateways_out() -> None:
    config = parse_config(CONFIG)
    endpoints = static_endpoints(config)
    heaviest = next(e for e in endpoints if e.address == "10.0.0.1")
    down = {heaviest.key, gateway_key("aws-euw1", "10.9.0.2", 15443)}
    planned = plan_gateway_config(config, "aws-use1", endpoints, 1, CATALOG, out_of_service=down)
    ledger = planned.route("ledger.prod")
    payments = planned.route("payments.prod")
    assert ledger is not None and payments is not None
    assert [u.address for u in ledger.upstreams if u.kind == "endpoint"] == ["10.0.0.2"]
    assert "10.9.0.2" not in [u.address for u in payments.upstreams]


def test_a_cluster_whose_known_endpoints_are_all_down_is_not_a_failover_hop() -> None:
    config = parse_config(CONFIG)
    endpoints = [
        *static_endpoints(config),
        Endpoint(
            "azure-eas",
            Role.SERVICE,
            "orders.prod",
            "10.4.0.9",
            7070,
            "azure",
            "eastasia",
            health=Health.UNHEALTHY,
        ),
    ]
    planned = plan_gateway_config(config, "aws-use1", endpoints, 1, CATALOG)
    orders = planned.route("orders.prod")
    assert orders is not None
    # azure-eas is known to serve orders.prod and all of it is down; gcp-euw1 and aws-euw1
    # have no known endpoints of it, so their gateways keep their places.
    assert [u.cluster for u in orders.upstreams] == ["gcp-euw1", "gcp-euw1", "aws-euw1"]
