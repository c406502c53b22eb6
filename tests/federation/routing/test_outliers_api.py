"""POST /v1/outliers on a real server: ejection, the max_ejection_percent cap, timed return."""

from __future__ import annotations

import time
from typing import Any

from federation.model import Role
from tests.federation.api.conftest import Api
from tests.federation.routing.conftest import eventually, resolve, serving

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
api: {listen: 127.0.0.1:0}
clusters:
  - {name: aws-euw2, cloud: aws, region: eu-west-2}
providers:
  - name: local
    kind: static
    endpoints:
      - {cluster: aws-euw2, service: payments.prod, address: 127.0.0.2, port: 9443, health: healthy}
      - {cluster: aws-euw2, service: payments.prod, address: 127.0.0.3, port: 9443, health: healthy}
      - {cluster: aws-euw2, service: payments.prod, address: 127.0.0.4, port: 9443, health: healthy}
      - {cluster: aws-euw2, service: payments.prod, address: 127.0.0.5, port: 9443, health: healthy}
      - {cluster: aws-euw2, service: orders.prod, address: 127.0.0.6, port: 9443, health: healthy}
services:
  - name: payments.prod
    port: 8080
    routing: {mode: geo}
    outlier_detection: {consecutive_5xx: 3, consecutive_connect_failures: 2,
                        base_ejection_time: 1s, max_ejection_percent: 50}
  - {name: orders.prod, port: 8080, routing: {mode: geo}}
"""
QUERY = "service=payments.prod&client_region=aws:eu-west-2"


async def health_by_address(api: Api) -> dict[str, str]:
    body = await resolve(api, QUERY)
    return {
        e["address"]: e["health"]
        for level in body["levels"]
        for cluster in level["clusters"]
        for e in cluster["endpoints"]
    }


async def report(api: Api, endpoint: str, outcome: str, count: int = 1, **extra: Any) -> Any:
    body = {"service": "payments.prod", "endpoint": endpoint, "outcome": outcome, "count": count}
    return await api.call("POST", "/v1/outliers", Role.OPERATOR, json={**body, **extra})


async def wait_for_discovery(api: Api) -> None:
    async def four() -> dict[str, str] | None:
        found = await health_by_address(api)
        return found if len(found) == 4 else None

    await eventually(four, 5, "discovery writes the endpoints")


async def test_consecutive_5xx_eject_up_to_the_cap_and_hosts_return_after_the_ejection_time() -> (
    None
):
    async with serving(CONFIG) as api:
        await wait_for_discovery(api)
        status, first, _ = await report(api, "127.0.0.2:9443", "5xx", count=3)
        ejected_at = time.monotonic()
        assert status == 200, first
        [ejection] = first["ejected"]
        assert ejection["endpoint"] == "127.0.0.2:9443"
        assert ejection["duration_s"] == 1.0
        assert "3 consecutive 5xx" in ejection["reason"]

        async def seen_ejected() -> dict[str, str] | None:
            found = await health_by_address(api)
            return found if found["127.0.0.2"] == "ejected" else None

        await eventually(seen_ejected, 1, "resolve shows the ejection")
        explained = await resolve(api, QUERY + "&explain=true")
        assert any(
            line.startswith("127.0.0.2:9443 in aws-euw2 is ejected by outlier detection: ")
            and "after 3 consecutive 5xx" in line
            for line in explained["explain"]
        )
        records = await api.running.context.audit.read(limit=100)
        assert (records[-1].action, records[-1].actor) == ("outlier.eject", "operator-user")
        assert records[-1].detail["ejected"] == ["127.0.0.2:9443"]
        _, second, _ = await report(api, "127.0.0.3:9443", "connect-failure", count=2)
        assert [e["endpoint"] for e in second["ejected"]] == ["127.0.0.3:9443"]
        _, third, _ = await report(api, "127.0.0.4:9443", "5xx", count=3)
        assert third["ejected"] == []
        assert "max_ejection_percent is 50" in third["refused"][0]

        async def returned() -> dict[str, str] | None:
            found = await health_by_address(api)
            return found if found["127.0.0.2"] == "healthy" else None

        await eventually(returned, 3, "the first ejected host returns")
        assert time.monotonic() - ejected_at >= 0.9


async def test_a_success_resets_the_count() -> None:
    async with serving(CONFIG) as api:
        await wait_for_discovery(api)
        await report(api, "127.0.0.2:9443", "5xx", count=2)
        await report(api, "127.0.0.2:9443", "success")
        _, body, _ = await report(api, "127.0.0.2:9443", "5xx", count=2)
    assert body["ejected"] == []


async def test_service_without_outlier_detection_ignores_reports_with_202() -> None:
    async with serving(CONFIG) as api:
        await wait_for_discovery(api)
        status, body, _ = await report(
            api, "127.0.0.6:9443", "5xx", count=50, service="orders.prod"
        )
    assert status == 202
    assert body["applied"] is False
    assert "no outlier_detection" in body["detail"]


async def test_bad_reports_are_problems() -> None:
    async with serving(CONFIG) as api:
        await wait_for_discovery(api)
        unknown_host = await report(api, "127.0.0.99:9443", "5xx")
        unknown_service = await report(api, "127.0.0.2:9443", "5xx", service="nope.prod")
        bad_outcome = await report(api, "127.0.0.2:9443", "4xx")
        viewer = await api.call(
            "POST",
            "/v1/outliers",
            Role.VIEWER,
            json={"service": "payments.prod", "endpoint": "127.0.0.2:9443", "outcome": "5xx"},
        )
    assert unknown_host[0] == 404
    assert "not an endpoint of service 'payments.prod'" in unknown_host[1]["detail"]
    assert unknown_service[0] == 404
    assert bad_outcome[0] == 400
    assert bad_outcome[1]["errors"][0]["path"] == "outcome"
    assert viewer[0] == 403
