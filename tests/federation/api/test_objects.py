"""Clusters, services and policies through the API: validated, revisioned, audited writes."""

from __future__ import annotations

from federation.model import Role
from tests.federation.api.conftest import Api

SERVICE = {
    "name": "orders.prod",
    "port": 9090,
    "routing": {"mode": "weighted", "weights": {"aws-use1": 3, "gcp-euw1": 1}},
}


async def test_create_then_read_returns_the_object_with_its_revision(api: Api) -> None:
    status, body, response = await api.call("PUT", "/v1/services/orders.prod", json=SERVICE)
    assert status == 201
    revision = body["revision"]
    assert response.headers["ETag"] == f'"{revision}"'
    status, body, _ = await api.call("GET", "/v1/services/orders.prod", Role.VIEWER)
    assert status == 200
    assert body["routing"]["weights"] == {"aws-use1": 3, "gcp-euw1": 1}
    assert body["revision"] == revision
    assert body["origin"] == "api"
    status, listing, _ = await api.call("GET", "/v1/services", Role.VIEWER)
    assert {item["name"] for item in listing["items"]} == {"payments.prod", "orders.prod"}


async def test_file_objects_are_served_with_origin_file(api: Api) -> None:
    status, body, _ = await api.call("GET", "/v1/clusters/gcp-euw1", Role.VIEWER)
    assert status == 200
    assert body["origin"] == "file"
    assert body["region"] == "europe-west1"


async def test_invalid_body_is_400_naming_the_field_and_nothing_is_stored(api: Api) -> None:
    bad = {**SERVICE, "port": 70000, "routing": {"mode": "weighted", "weights": {"aws-usw2": 1}}}
    status, body, response = await api.call("PUT", "/v1/services/orders.prod", json=bad)
    assert status == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    paths = {e["path"]: e for e in body["errors"]}
    assert "port" in paths
    assert "routing.weights.aws-usw2" in paths
    assert "did you mean 'aws-use1'" in paths["routing.weights.aws-usw2"]["hint"]
    status, _, _ = await api.call("GET", "/v1/services/orders.prod")
    assert status == 404


async def test_rejected_update_leaves_the_stored_object_unchanged(api: Api) -> None:
    _, before, _ = await api.call("GET", "/v1/services/payments.prod")
    change = {
        "name": "payments.prod",
        "port": 8080,
        "routing": {"mode": "failover", "failover": ["aws-use1", "no-such-cluster"]},
    }
    status, body, _ = await api.call(
        "PUT",
        "/v1/services/payments.prod",
        json=change,
        headers={"If-Match": f'"{before["revision"]}"'},
    )
    assert status == 400
    assert body["errors"][0]["path"] == "routing.failover[1]"
    _, after, _ = await api.call("GET", "/v1/services/payments.prod")
    assert after == before


async def test_update_with_current_revision_succeeds_and_stale_revision_is_412(api: Api) -> None:
    _, current, _ = await api.call("GET", "/v1/services/payments.prod")
    first = {"name": "payments.prod", "port": 8081}
    status, updated, _ = await api.call(
        "PUT",
        "/v1/services/payments.prod",
        json=first,
        headers={"If-Match": f'"{current["revision"]}"'},
    )
    assert status == 200
    assert updated["port"] == 8081
    assert updated["revision"] > current["revision"]
    status, problem, _ = await api.call(
        "PUT",
        "/v1/services/payments.prod",
        json={"name": "payments.prod", "port": 8082},
        headers={"If-Match": f'"{current["revision"]}"'},
    )
    assert status == 412
    assert f"revision {updated['revision']}" in problem["detail"]
    _, final, _ = await api.call("GET", "/v1/services/payments.prod")
    assert final["port"] == 8081


async def test_replacing_without_if_match_is_428(api: Api) -> None:
    status, problem, _ = await api.call(
        "PUT", "/v1/services/payments.prod", json={"name": "payments.prod", "port": 1}
    )
    assert status == 428
    assert "If-Match" in problem["detail"]


async def test_name_in_body_must_match_the_url(api: Api) -> None:
    status, body, _ = await api.call(
        "PUT", "/v1/services/orders.prod", json={**SERVICE, "name": "other.prod"}
    )
    assert status == 400
    assert body["errors"][0]["path"] == "name"


async def test_malformed_json_is_400(api: Api) -> None:
    status, body, _ = await api.call(
        "PUT",
        "/v1/services/orders.prod",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert "not valid JSON" in body["errors"][0]["message"]


async def test_deleting_a_referenced_cluster_is_409_and_keeps_it(api: Api) -> None:
    _, cluster, _ = await api.call("GET", "/v1/clusters/aws-use1")
    status, body, _ = await api.call(
        "DELETE", "/v1/clusters/aws-use1", headers={"If-Match": f'"{cluster["revision"]}"'}
    )
    assert status == 409
    assert any("aws-use1" in e["message"] for e in body["errors"])
    status, _, _ = await api.call("GET", "/v1/clusters/aws-use1")
    assert status == 200


async def test_delete_with_revision_removes_the_object(api: Api) -> None:
    _, cluster, _ = await api.call("GET", "/v1/clusters/azure-weu")
    status, _, _ = await api.call(
        "DELETE", "/v1/clusters/azure-weu", headers={"If-Match": f'"{cluster["revision"]}"'}
    )
    assert status == 204
    status, _, _ = await api.call("GET", "/v1/clusters/azure-weu")
    assert status == 404


async def test_policies_are_writable_and_checked_like_the_file(api: Api) -> None:
    policy = {
        "name": "deny-batch",
        "action": "deny",
        "to": "payments.prod",
        "from": ["spiffe://acme.mesh/ns/batch/**"],
    }
    status, body, _ = await api.call("PUT", "/v1/policies/deny-batch", json=policy)
    assert status == 201
    assert body["from"] == ["spiffe://acme.mesh/ns/batch/**"]
    bad = {**policy, "name": "bad", "from": ["spiffe://ACME/x"]}
    status, body, _ = await api.call("PUT", "/v1/policies/bad", json=bad)
    assert status == 400
    assert body["errors"][0]["path"] == "from[0]"


async def test_every_write_is_audited_with_actor_and_revisions(api: Api) -> None:
    status, created, _ = await api.call(
        "PUT", "/v1/services/orders.prod", json=SERVICE, role=Role.OPERATOR
    )
    assert status == 201
    records = await api.running.context.audit.read(limit=100)
    last = records[-1]
    assert last.actor == "operator-user"
    assert last.action == "service.create"
    assert last.target == "services/orders.prod"
    assert last.detail == {"before_revision": None, "after_revision": created["revision"]}
