"""POST /v3/discovery:endpoints on a real server: Envoy's schema, and Envoy's own priority and
locality arithmetic applied to the answer gives the loads and shares /v1/resolve reports."""

from __future__ import annotations

from typing import Any

import pytest
from envoy_data_plane.envoy.config.endpoint.v3 import ClusterLoadAssignment
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryResponse

from federation.eds import CLUSTER_LOAD_ASSIGNMENT
from federation.model import Role
from federation.scheduler.loads import HostCounts, LocalityInput, locality_shares, priority_load
from tests.federation.api.conftest import Api
from tests.federation.routing.conftest import eventually, resolve, serving

PANIC_THRESHOLD = 50

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
api: {listen: 127.0.0.1:0}
clusters:
  - {name: aws-euw2, cloud: aws, region: eu-west-2, zone: eu-west-2a}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1}
  - {name: aws-use1, cloud: aws, region: us-east-1}
  - {name: azure-weu, cloud: azure, region: westeurope}
providers:
  - name: local
    kind: static
    endpoints:
%s
services:
  - {name: geo.prod, port: 8080, routing: {mode: geo}}
  - {name: split.prod, port: 8080,
     routing: {mode: weighted, weights: {aws-euw2: 70, gcp-euw1: 30}}}
  - {name: fail.prod, port: 8080,
     routing: {mode: failover, overprovisioning_factor: 1.2,
               failover: [{aws-euw2: 3, gcp-euw1: 1}, aws-use1, azure-weu]}}
"""

# (cluster, service, healthy?) - each service has a degraded cluster somewhere.
ENDPOINTS = [
    ("aws-euw2", "geo.prod", True),
    ("aws-euw2", "geo.prod", False),
    ("aws-euw2", "geo.prod", False),
    ("gcp-euw1", "geo.prod", True),
    ("aws-use1", "geo.prod", True),
    ("aws-euw2", "split.prod", True),
    ("gcp-euw1", "split.prod", True),
    ("gcp-euw1", "split.prod", False),
    ("aws-euw2", "fail.prod", True),
    ("aws-euw2", "fail.prod", False),
    ("gcp-euw1", "fail.prod", True),
    ("aws-use1", "fail.prod", False),
    ("aws-use1", "fail.prod", True),
    ("azure-weu", "fail.prod", True),
]
SERVICES = ("geo.prod", "split.prod", "fail.prod")


def config_text() -> str:
    lines = [
        f"      - {{cluster: {cluster}, service: {service}, address: 127.0.0.{i + 2}, "
        f"port: 9443, health: {'healthy' if up else 'unhealthy'}}}"
        for i, (cluster, service, up) in enumerate(ENDPOINTS)
    ]
    return CONFIG % "\n".join(lines)


def request(region: str | None, names: list[str], version: str = "") -> dict[str, Any]:
    node: dict[str, Any] = {"id": "gw-1", "cluster": "east-west"}
    if region is not None:
        node["locality"] = {"region": region, "zone": "a"}
    return {
        "version_info": version,
        "node": node,
        "resource_names": names,
        "type_url": CLUSTER_LOAD_ASSIGNMENT,
    }


async def eds(api: Api, body: dict[str, Any], role: Role | None = Role.VIEWER) -> Any:
    status, answer, _ = await api.call("POST", "/v3/discovery:endpoints", role, json=body)
    return status, answer


async def all_discovered(api: Api) -> None:
    async def probe() -> bool | None:
        totals = 0
        for service in SERVICES:
            body = await resolve(api, f"service={service}&client_region=aws:eu-west-2")
            totals += sum(level["total"] for level in body["levels"])
        return True if totals == len(ENDPOINTS) else None

    await eventually(probe, 10, "discovery writes every static endpoint")


def envoy_view(assignment: dict[str, Any]) -> dict[str, Any]:
    """Envoy's arithmetic on one ClusterLoadAssignment: priority loads, then locality shares."""
    factor = assignment["policy"]["overprovisioning_factor"]
    priorities: dict[int, list[dict[str, Any]]] = {}
    for group in assignment["endpoints"]:
        priorities.setdefault(group.get("priority", 0), []).append(group)
    assert sorted(priorities) == list(range(len(priorities))), "priorities must be contiguous"

    def counts(groups: list[dict[str, Any]]) -> HostCounts:
        hosts = [e for g in groups for e in g["lb_endpoints"]]
        # Envoy counts HEALTHY and UNKNOWN hosts as healthy.
        up = sum(1 for e in hosts if e["health_status"] in ("HEALTHY", "UNKNOWN"))
        return HostCounts(up, len(hosts))

    levels = [priorities[p] for p in sorted(priorities)]
    load = priority_load([counts(groups) for groups in levels], factor, PANIC_THRESHOLD)
    shares = {}
    for index, groups in enumerate(levels):
        split = locality_shares(
            [
                LocalityInput(
                    g.get("load_balancing_weight", 0),
                    counts([g]),
                    sum(e.get("load_balancing_weight", 1) for e in g["lb_endpoints"]),
                )
                for g in groups
            ],
            factor,
            load.panic[index],
        )
        for group, share in zip(groups, split.share_percent, strict=True):
            shares[group["locality"]["sub_zone"]] = share
    return {"loads": list(load.loads), "shares": shares}


def resolve_view(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "loads": [level["load_percent"] for level in body["levels"]],
        "shares": {c["name"]: c["share_percent"] for lv in body["levels"] for c in lv["clusters"]},
    }


@pytest.fixture
async def api() -> Any:
    async with serving(config_text()) as api:
        await all_discovered(api)
        yield api


@pytest.mark.parametrize(
    ("node_region", "client_region"),
    [("aws:eu-west-2", "aws:eu-west-2"), ("us-east-1", "aws:us-east-1"), ("westeurope", None)],
)
async def test_envoy_math_on_the_answer_matches_resolve_for_every_mode(
    api: Api, node_region: str, client_region: str | None
) -> None:
    client_region = client_region or "azure:westeurope"
    for _attempt in range(5):
        status, answer = await eds(api, request(node_region, list(SERVICES)))
        assert status == 200, answer
        resolved = {
            s: await resolve(api, f"service={s}&client_region={client_region}") for s in SERVICES
        }
        if all(str(body["version"]) == answer["version_info"] for body in resolved.values()):
            break
    else:
        raise AssertionError("the routing version kept moving between EDS and resolve")
    DiscoveryResponse.from_dict(answer)  # Envoy's message types reject unknown fields
    assignments = {a["cluster_name"]: a for a in answer["resources"]}
    assert sorted(assignments) == sorted(SERVICES)
    degraded_levels = 0
    for service, body in resolved.items():
        assignment = assignments[service]
        parsed = ClusterLoadAssignment.from_dict(
            {k: v for k, v in assignment.items() if k != "@type"}
        )
        assert [(g.priority, len(g.lb_endpoints)) for g in parsed.endpoints] == [
            (g.get("priority", 0), len(g["lb_endpoints"])) for g in assignment["endpoints"]
        ]
        assert envoy_view(assignment) == resolve_view(body), service
        degraded_levels += sum(1 for level in body["levels"] if level["healthy"] < level["total"])
    assert degraded_levels >= 3


async def test_failover_assignment_carries_priorities_weights_health_and_factor(api: Api) -> None:
    _, answer = await eds(api, request("aws:eu-west-2", ["fail.prod"]))
    (assignment,) = answer["resources"]
    assert assignment["@type"] == CLUSTER_LOAD_ASSIGNMENT
    assert assignment["policy"] == {"overprovisioning_factor": 120}
    groups = {g["locality"]["sub_zone"]: g for g in assignment["endpoints"]}
    assert {name: (g["priority"], g["load_balancing_weight"]) for name, g in groups.items()} == {
        "aws-euw2": (0, 3),
        "gcp-euw1": (0, 1),
        "aws-use1": (1, 1),
        "azure-weu": (2, 1),
    }
    assert groups["aws-euw2"]["locality"] == {
        "region": "eu-west-2",
        "zone": "eu-west-2a",
        "sub_zone": "aws-euw2",
    }
    statuses = sorted(e["health_status"] for e in groups["aws-euw2"]["lb_endpoints"])
    assert statuses == ["HEALTHY", "UNHEALTHY"]
    first = groups["gcp-euw1"]["lb_endpoints"][0]
    assert first["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.12",
        "port_value": 9443,
    }
    assert first["load_balancing_weight"] == 1


async def test_same_version_is_not_modified_and_each_answer_has_its_own_nonce(api: Api) -> None:
    status, first = await eds(api, request("aws:eu-west-2", ["geo.prod"]))
    assert status == 200
    _, second = await eds(api, request("aws:eu-west-2", ["geo.prod"]))
    assert first["nonce"] != second["nonce"]
    status, _ = await eds(api, request("aws:eu-west-2", ["geo.prod"], second["version_info"]))
    assert status == 304
    status, third = await eds(api, request("aws:eu-west-2", ["geo.prod"], "0"))
    assert status == 200 and third["version_info"] == second["version_info"]


async def test_unknown_names_are_left_out_and_no_names_means_every_service(api: Api) -> None:
    _, answer = await eds(api, request("aws:eu-west-2", ["nope.prod", "split.prod"]))
    assert [a["cluster_name"] for a in answer["resources"]] == ["split.prod"]
    _, answer = await eds(api, request("aws:eu-west-2", []))
    assert sorted(a["cluster_name"] for a in answer["resources"]) == sorted(SERVICES)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (request("mars-north-1", ["geo.prod"]), "node.locality.region"),
        (request("aws:mars-north-1", ["geo.prod"]), "node.locality.region"),
        ({**request(None, []), "type_url": "type.googleapis.com/x.Cluster"}, "type_url"),
        ({"resource_names": "geo.prod"}, "resource_names"),
    ],
)
async def test_bad_requests_are_problems_naming_the_field(
    api: Api, body: dict[str, Any], path: str
) -> None:
    status, answer = await eds(api, body)
    assert status == 400, answer
    assert [e["path"] for e in answer["errors"]] == [path]


async def test_a_node_without_locality_is_placed_by_its_address(api: Api) -> None:
    status, answer = await eds(api, request(None, ["geo.prod"]))
    assert status == 200
    assert answer["resources"][0]["cluster_name"] == "geo.prod"


async def test_eds_needs_a_viewer_token(api: Api) -> None:
    status, _ = await eds(api, request("aws:eu-west-2", []), role=None)
    assert status == 401
