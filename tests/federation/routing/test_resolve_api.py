"""GET /v1/resolve on a real server: the DESIGN.md shape, client location, errors, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from federation.api.resolve import Resolution
from federation.model import Role
from tests.federation.api.conftest import Api
from tests.federation.routing.conftest import eventually, resolve, serving
from tests.support.mmdb_factory import write_city_db

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
api: {listen: 127.0.0.1:0}
geoip: {default_location: aws:us-east-1%s}
clusters:
  - {name: aws-euw2, cloud: aws, region: eu-west-2}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1}
  - {name: aws-use1, cloud: aws, region: us-east-1}
providers:
  - name: local
    kind: static
    endpoints:
      - {cluster: aws-euw2, service: payments.prod, address: 127.0.0.2, port: 9443}
      - {cluster: gcp-euw1, service: payments.prod, address: 127.0.0.3, port: 9443}
      - {cluster: aws-use1, service: payments.prod, address: 127.0.0.4, port: 9443}
services:
  - {name: payments.prod, port: 8080, routing: {mode: geo}}
"""


async def discovered(api: Api) -> dict[str, Any]:
    async def three_endpoints() -> dict[str, Any] | None:
        body = await resolve(api, "service=payments.prod&client_region=aws:eu-west-2")
        levels = body["levels"]
        return body if sum(level["total"] for level in levels) == 3 else None

    body, _ = await eventually(three_endpoints, 5, "discovery writes three endpoints")
    return body


async def test_resolve_by_region_answers_the_design_shape() -> None:
    async with serving(CONFIG % "") as api:
        body = await discovered(api)
    Resolution.model_validate(body)
    assert body["client"] == {
        "ip": None,
        "location": {
            "lat": body["client"]["location"]["lat"],
            "lon": body["client"]["location"]["lon"],
            "country": "GB",
        },
        "region": "aws:eu-west-2",
        "source": "region",
    }
    levels = body["levels"]
    assert [[c["name"] for c in level["clusters"]] for level in levels] == [
        ["aws-euw2"],
        ["gcp-euw1"],
        ["aws-use1"],
    ]
    assert sum(level["load_percent"] for level in levels) == 100
    assert body["pick"] == {"cluster": "aws-euw2", "address": "127.0.0.2", "port": 9443}
    assert body["explain"] == []


async def test_resolve_by_ip_uses_the_geoip_city_database(tmp_path: Path) -> None:
    db = write_city_db(
        tmp_path / "city.mmdb", [("81.2.69.0/24", "London", "GB", "EU", 51.51, -0.09)]
    )
    async with serving(CONFIG % f", city_db: {db}") as api:
        await discovered(api)
        body = await resolve(api, "service=payments.prod&client_ip=81.2.69.142&explain=true")
    assert body["client"] == {
        "ip": "81.2.69.142",
        "location": {"lat": 51.51, "lon": -0.09, "country": "GB"},
        "region": "aws:eu-west-2",
        "source": "geoip",
    }
    assert body["explain"][0].startswith("client located by GeoIP2 City: London, GB")
    assert any("aws-euw2 is" in line and "km from the client" in line for line in body["explain"])
    assert any(line.startswith("priority 0 (") for line in body["explain"])


async def test_resolve_by_ip_without_a_database_uses_the_default_location() -> None:
    async with serving(CONFIG % "") as api:
        await discovered(api)
        body = await resolve(api, "service=payments.prod&client_ip=81.2.69.142")
    assert body["client"]["source"] == "default"
    assert body["client"]["region"] == "aws:us-east-1"
    assert body["pick"]["cluster"] == "aws-use1"


async def test_bad_queries_are_problems_that_say_what_to_change() -> None:
    cases = {
        "service=payments.prod&client_ip=1.2.3": (400, "client_ip"),
        "service=payments.prod&client_ip=81.2.69.142&client_region=aws:us-east-1": (
            400,
            "client_ip",
        ),
        "service=payments.prod": (400, "client"),
        "service=payments.prod&client_region=aws:eu-wst-2": (400, "client_region"),
        "client_region=aws:eu-west-2": (400, "service"),
        "service=nope.prod&client_region=aws:eu-west-2": (404, None),
    }
    details = {}
    async with serving(CONFIG % "") as api:
        for query, (status, path) in cases.items():
            got, body, response = await api.call("GET", f"/v1/resolve?{query}", Role.VIEWER)
            details[query] = str(body["detail"])
            assert got == status, (query, body)
            assert response.headers["Content-Type"].startswith("application/problem+json")
            errors: Any = body["errors"]
            if path is not None:
                assert errors[0]["path"] == path, query
                assert errors[0]["hint"], query
    assert "did you mean 'eu-west-2'" in details["service=payments.prod&client_region=aws:eu-wst-2"]


async def test_resolve_needs_a_token() -> None:
    async with serving(CONFIG % "") as api:
        status, _, _ = await api.call("GET", "/v1/resolve?service=payments.prod", None)
    assert status == 401


async def test_a_service_written_on_the_api_is_resolvable_within_a_second() -> None:
    async with serving(CONFIG % "") as api:
        await discovered(api)
        status, body, _ = await api.call(
            "PUT",
            "/v1/services/orders.prod",
            Role.OPERATOR,
            json={"port": 8080, "routing": {"mode": "weighted", "weights": {"aws-use1": 1}}},
        )
        assert status in (200, 201), body

        async def routable() -> dict[str, Any] | None:
            got, answer, _ = await api.call(
                "GET", "/v1/resolve?service=orders.prod&client_region=aws:eu-west-2", Role.VIEWER
            )
            return answer if got == 200 else None

        answer, elapsed = await eventually(routable, 1.0, "the new service resolves")
    assert elapsed < 1.0
    assert [c["name"] for c in answer["levels"][0]["clusters"]] == ["aws-use1"]


async def test_resolve_is_in_openapi_and_counted_in_metrics() -> None:
    async with serving(CONFIG % "") as api:
        await discovered(api)
        await api.call(
            "GET", "/v1/resolve?service=nope.prod&client_region=aws:eu-west-2", Role.VIEWER
        )
        _, document, _ = await api.call("GET", "/openapi.json", None)
        spec: Any = document
        async with api.session.get(api.url("/metrics")) as response:
            metrics = await response.text()
    operation = spec["paths"]["/v1/resolve"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Resolution"}
    assert "client" in spec["components"]["schemas"]["Resolution"]["properties"]
    assert 'meshfed_resolve_requests_total{outcome="ok",service="payments.prod"}' in metrics
    assert 'meshfed_resolve_requests_total{outcome="unknown_service",service="-"} 1.0' in metrics
    assert "meshfed_resolve_duration_seconds_count" in metrics
