"""Health, readiness, metrics, OpenAPI, problem details and request ids."""

from __future__ import annotations

import aiohttp

from federation.model import Role
from federation.service import running_service
from tests.federation.api.conftest import Api, api_config
from tests.support.redis_server import RedisServer


async def test_readyz_reports_store_and_config(api: Api) -> None:
    status, body, _ = await api.call("GET", "/readyz", role=None)
    assert status == 200
    assert body == {"ready": True, "checks": {"config": "ok", "store": "ok"}}


async def test_readyz_follows_a_real_redis_store_going_down_and_up() -> None:
    with RedisServer() as redis:
        async with (
            running_service(api_config(), store_url=redis.url) as running,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        ):
            url = running.url + "/readyz"
            async with http.get(url) as response:
                assert response.status == 200
            redis.stop()
            async with http.get(url) as response:
                body = await response.json()
                assert response.status == 503
                assert body["checks"]["store"].startswith("unreachable")
            redis.start()
            async with http.get(url) as response:
                assert response.status == 200


async def test_metrics_count_requests_by_route(api: Api) -> None:
    await api.call("GET", "/v1/services", Role.VIEWER)
    async with api.session.get(api.url("/metrics")) as response:
        text = await response.text()
    assert 'meshfed_http_requests_total{method="GET",route="/v1/services",status="200"}' in text


async def test_unknown_path_is_problem_json_404(api: Api) -> None:
    status, body, response = await api.call("GET", "/v1/nothing-here")
    assert status == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert set(body) >= {"type", "title", "status", "detail", "errors"}


async def test_request_id_is_echoed_or_made(api: Api) -> None:
    _, _, response = await api.call("GET", "/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    _, _, response = await api.call("GET", "/healthz", headers={"X-Request-Id": "bad id\u00e9"})
    assert response.headers["X-Request-Id"] != "bad id\u00e9"
    assert len(response.headers["X-Request-Id"]) == 16


async def test_openapi_describes_every_route_with_the_validation_models(api: Api) -> None:
    status, spec, _ = await api.call("GET", "/openapi.json", role=None)
    assert status == 200
    assert spec["openapi"].startswith("3.1")
    put = spec["paths"]["/v1/services/{name}"]["put"]
    schema_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    service_schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert service_schema["additionalProperties"] is False
    assert "routing" in service_schema["properties"]
    assert put["security"] == [{"bearer": []}]
    assert "412" in put["responses"]
    for path in ("/v1/clusters/{name}", "/v1/policies/{name}", "/v1/endpoints", "/readyz"):
        assert path in spec["paths"]
