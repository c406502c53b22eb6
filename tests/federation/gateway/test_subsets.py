"""Subsets narrow the gateway's choice as Istio's DestinationRule subsets do: by endpoint labels,
planned by the control plane and applied by the gateway's live route table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.config import parse_config
from federation.gateway.live_routes import LiveRouteTable
from federation.gateway.route_config import GatewayConfig
from federation.gateway.route_plan import plan_gateway_config, static_endpoints
from federation.gateway.routes import UnknownSubsetError, Upstream
from federation.model import MeshfedConfig, SubsetSpec
from geo import RegionCatalog
from providers.base import Endpoint, Health, Role

CATALOG = RegionCatalog.load()
SERVICE = "payments.prod"

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1, gateway: {address: 10.9.0.1, port: 15443}}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1, gateway: {address: 10.9.0.3, port: 15443}}
  - {name: azure-eas, cloud: azure, region: eastasia, gateway: {address: 10.9.0.4, port: 15443}}
  - {name: aws-euw1, cloud: aws, region: eu-west-1, gateway: {address: 10.9.0.2, port: 15443}}
services:
  - name: payments.prod
    port: 8080
    routing: {mode: failover, failover: [aws-use1, gcp-euw1, azure-eas, aws-euw1]}
    subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
      - {name: canary, labels: {version: v2, track: canary}}
  - {name: ledger.prod, port: 9090}
"""


def instance(
    cluster: str, address: str, health: Health = Health.UNKNOWN, **labels: str
) -> Endpoint:
    return Endpoint(
        cluster,
        Role.SERVICE,
        SERVICE,
        address,
        8080,
        "static",
        "r",
        labels=tuple(sorted(labels.items())),
        health=health,
    )


ENDPOINTS = [
    instance("aws-use1", "10.0.0.1", version="v1"),
    instance("aws-use1", "10.0.0.2", version="v2", track="canary"),
    instance("aws-use1", "10.0.0.3", version="v2"),
    instance("aws-use1", "10.0.0.4"),
    # gcp-euw1 is known to serve v1 only.
    instance("gcp-euw1", "10.3.0.1", version="v1"),
    # azure-eas serves v1; its only v2 endpoint is down.
    instance("azure-eas", "10.4.0.1", version="v1"),
    instance("azure-eas", "10.4.0.2", Health.UNHEALTHY, version="v2"),
    # aws-euw1: meshfed sees none of its endpoints, so its gateway may serve any subset.
]


PARSED = parse_config(CONFIG)


def planned(cluster: str = "aws-use1", endpoints: list[Endpoint] = ENDPOINTS) -> GatewayConfig:
    return plan_gateway_config(PARSED, cluster, endpoints, 3, CATALOG)


def subsets_by_address(cluster: str) -> dict[str, list[str]]:
    route = planned(cluster).route(SERVICE)
    assert route is not None
    return {u.address: u.subsets for u in route.upstreams}


def test_a_route_carries_the_subsets_its_service_defines() -> None:
    config = planned()
    payments, ledger = config.route(SERVICE), config.route("ledger.prod")
    assert payments is not None and ledger is not None
    assert payments.subsets == ["v1", "v2", "canary"]
    assert ledger.subsets == []


@pytest.mark.parametrize(
    ("address", "subsets"),
    [
        ("10.0.0.1", ["v1"]),
        # Every label of a subset must match; extra labels on the endpoint do not matter.
        ("10.0.0.2", ["v2", "canary"]),
        ("10.0.0.3", ["v2"]),
        ("10.0.0.4", []),
    ],
)
def test_a_local_endpoint_serves_the_subsets_whose_labels_it_carries(
    address: str, subsets: list[str]
) -> None:
    assert subsets_by_address("aws-use1")[address] == subsets


@pytest.mark.parametrize(
    ("cluster", "gateway", "subsets"),
    [
        # Known to have usable endpoints of v1 only.
        ("aws-use1", "10.9.0.3", ["v1"]),
        # Its v2 endpoint is unhealthy, so only v1 is worth the hop.
        ("aws-use1", "10.9.0.4", ["v1"]),
        # No endpoint of it known: its gateway may know some of every subset.
        ("aws-use1", "10.9.0.2", ["v1", "v2", "canary"]),
        # From elsewhere, this cluster's gateway serves what its endpoints do.
        ("gcp-euw1", "10.9.0.1", ["v1", "v2", "canary"]),
    ],
)
def test_a_remote_gateway_is_kept_for_the_subsets_its_cluster_can_serve(
    cluster: str, gateway: str, subsets: list[str]
) -> None:
    assert subsets_by_address(cluster)[gateway] == subsets


@pytest.mark.parametrize(
    ("health", "subsets"),
    [
        (Health.HEALTHY, ["v1", "v2", "canary"]),
        (Health.DRAINING, ["v1"]),
        (Health.UNHEALTHY, ["v1"]),
    ],
)
def test_a_remote_cluster_serves_a_subset_only_while_an_endpoint_of_it_is_usable(
    health: Health, subsets: list[str]
) -> None:
    canary = instance("gcp-euw1", "10.3.0.2", health, version="v2", track="canary")
    route = planned("azure-eas", [*ENDPOINTS, canary]).route(SERVICE)
    assert route is not None
    gcp = next(u for u in route.upstreams if u.address == "10.9.0.3")
    assert gcp.subsets == subsets


def live(cluster: str = "aws-use1") -> LiveRouteTable:
    return LiveRouteTable(planned(cluster))


@pytest.mark.parametrize(
    ("subset", "addresses"),
    [
        # Own endpoints first, then the gateways of clusters that may serve the subset.
        ("v1", ["10.0.0.1", "10.9.0.3", "10.9.0.4", "10.9.0.2"]),
        ("v2", ["10.0.0.2", "10.0.0.3", "10.9.0.2"]),
        ("canary", ["10.0.0.2", "10.9.0.2"]),
        # Istio's empty subset: every endpoint.
        (
            None,
            ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.9.0.3", "10.9.0.4", "10.9.0.2"],
        ),
        ("", ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.9.0.3", "10.9.0.4", "10.9.0.2"]),
    ],
)
def test_the_live_table_narrows_a_subset_to_its_upstreams(
    subset: str | None, addresses: list[str]
) -> None:
    assert [u.address for u in live().upstreams(SERVICE, 8080, subset)] == addresses


def test_a_subset_the_service_does_not_define_is_refused_with_the_ones_it_does() -> None:
    with pytest.raises(UnknownSubsetError, match=r"'v3'.*canary, v1, v2"):
        live().upstreams(SERVICE, 8080, "v3")
    with pytest.raises(UnknownSubsetError, match="subsets: none"):
        live().upstreams("ledger.prod", 9090, "v1")


def test_a_defined_subset_with_no_upstream_left_is_empty_not_unknown() -> None:
    v1_only = [e for e in ENDPOINTS if e.address in ("10.0.0.1", "10.0.0.4")]
    defined = PARSED.services[0].subsets
    config = plan_gateway_config(with_subsets(defined), "aws-use1", v1_only, 3, CATALOG)
    assert LiveRouteTable(config).upstreams(SERVICE, 8080, "v2") == ()


def test_an_answer_that_predates_subsets_lets_every_subset_reach_every_upstream() -> None:
    # A server before subsets sent neither field: the gateway reads both as their defaults.
    old = planned().model_dump(mode="json", exclude={"services": {"__all__": {"subsets"}}})
    for route in old["services"]:
        for upstream in route["upstreams"]:
            del upstream["subsets"]
    table = LiveRouteTable(GatewayConfig.model_validate(old))
    everything = table.upstreams(SERVICE, 8080, None)
    assert len(everything) == 7
    assert table.upstreams(SERVICE, 8080, "v3") == everything


def test_a_table_with_the_same_version_but_new_routes_is_applied() -> None:
    # An ended ejection changes routes at an unchanged store revision.
    table = live()
    again = planned(endpoints=[e for e in ENDPOINTS if e.address != "10.0.0.1"])
    assert again.version == table.version
    table.replace(again)
    assert Upstream("10.0.0.1", 8080, "aws-use1") not in table.upstreams(SERVICE, 8080, "v1")


LABELS = st.dictionaries(st.sampled_from(["version", "track", "zone"]), st.sampled_from("ab"))


@given(
    st.lists(LABELS, max_size=8),
    st.lists(LABELS.filter(bool), min_size=1, max_size=4),
)
def test_an_endpoint_is_offered_for_a_subset_iff_it_carries_all_the_subsets_labels(
    endpoint_labels: list[dict[str, str]], subset_labels: list[dict[str, str]]
) -> None:
    subsets = [SubsetSpec(name=f"s{i}", labels=labels) for i, labels in enumerate(subset_labels)]
    endpoints = [
        instance("aws-use1", f"10.0.1.{i}", **labels) for i, labels in enumerate(endpoint_labels)
    ]
    table = LiveRouteTable(
        plan_gateway_config(with_subsets(subsets), "aws-use1", endpoints, 1, CATALOG)
    )
    everything = table.upstreams(SERVICE, 8080, None)
    for subset in subsets:
        expected = [
            u
            for u, labels in zip(everything, sorted_labels(endpoints), strict=True)
            if labels.items() >= subset.labels.items()
        ]
        assert list(table.upstreams(SERVICE, 8080, subset.name)) == expected


def with_subsets(subsets: list[SubsetSpec]) -> MeshfedConfig:
    config = PARSED
    single = config.clusters[:1]  # no other cluster, so every upstream is a local endpoint
    service = config.services[0].model_copy(update={"subsets": subsets})
    return config.model_copy(update={"clusters": single, "services": [service]})


def sorted_labels(endpoints: list[Endpoint]) -> list[dict[str, str]]:
    # The plan lists equal-weight endpoints by address.
    return [dict(e.labels) for e in sorted(endpoints, key=lambda e: (e.address, e.port))]


def test_static_endpoints_carry_their_labels_into_subsets() -> None:
    text = CONFIG + (
        "providers:\n"
        "  - name: local\n"
        "    kind: static\n"
        "    endpoints:\n"
        "      - {cluster: aws-use1, service: payments.prod, address: 10.0.0.1, port: 8080,\n"
        "         labels: {version: v2, track: canary}}\n"
        "      - {cluster: aws-use1, service: payments.prod, address: 10.0.0.2, port: 8080}\n"
    )
    config = parse_config(text)
    table = LiveRouteTable(
        plan_gateway_config(config, "aws-use1", static_endpoints(config), 0, CATALOG)
    )
    local = [u.address for u in table.upstreams(SERVICE, 8080, "canary") if u.cluster == "aws-use1"]
    assert local == ["10.0.0.1"]
