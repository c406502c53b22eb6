"""Discovered endpoints and provider status through the API, from a real discovery pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from federation.model import Role
from federation.service import running_service
from tests.federation.api.conftest import CONFIG, Api, api_config

STATIC = (
    CONFIG
    + """
providers:
  - name: local
    kind: static
    endpoints:
"""
    + "".join(
        f"      - {{cluster: {cluster}, service: payments.prod,"
        f" address: 127.0.0.{i}, port: 9443}}\n"
        for i, cluster in enumerate(["aws-use1"] * 5 + ["gcp-euw1"] * 3, start=10)
    )
    + "      - {cluster: azure-weu, role: gateway, address: gw.weu.example, port: 15443}\n"
)


@pytest.fixture
async def discovered() -> AsyncIterator[Api]:
    async with (
        running_service(api_config(STATIC)) as running,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        api = Api(running, session)
        async with asyncio.timeout(10):
            while True:
                _, body, _ = await api.call("GET", "/v1/endpoints?limit=1000", Role.VIEWER)
                if len(body["items"]) == 9:
                    break
                await asyncio.sleep(0.05)
        yield api


async def test_endpoints_page_through_every_item_once(discovered: Api) -> None:
    seen: list[str] = []
    token = ""
    for _ in range(10):
        query = "/v1/endpoints?limit=4" + (f"&page_token={token}" if token else "")
        status, body, _ = await discovered.call("GET", query, Role.VIEWER)
        assert status == 200
        assert len(body["items"]) <= 4
        seen += [item["key"] for item in body["items"]]
        token = body["next_page_token"]
        if token is None:
            break
    assert len(seen) == 9
    assert len(set(seen)) == 9
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("cluster=aws-use1", 5),
        ("cloud=gcp", 3),
        ("service=payments.prod", 8),
        ("region=westeurope", 1),
        ("stale=true", 0),
        ("stale=false", 9),
    ],
)
async def test_endpoint_filters(discovered: Api, query: str, count: int) -> None:
    _, body, _ = await discovered.call("GET", f"/v1/endpoints?{query}", Role.VIEWER)
    assert len(body["items"]) == count


async def test_hostname_gateway_is_a_first_class_endpoint(discovered: Api) -> None:
    _, body, _ = await discovered.call("GET", "/v1/endpoints?cluster=azure-weu", Role.VIEWER)
    (gateway,) = body["items"]
    assert gateway["address"] == "gw.weu.example"
    assert gateway["role"] == "gateway"
    assert gateway["provider"] == "local"


@pytest.mark.parametrize("limit", ["0", "1001", "ten"])
async def test_bad_limit_is_400(discovered: Api, limit: str) -> None:
    status, body, _ = await discovered.call("GET", f"/v1/endpoints?limit={limit}", Role.VIEWER)
    assert status == 400
    assert "1 to 1000" in body["detail"]


async def test_providers_report_their_last_sync(discovered: Api) -> None:
    status, body, _ = await discovered.call("GET", "/v1/providers", Role.VIEWER)
    assert status == 200
    (local,) = body["items"]
    assert local["name"] == "local"
    assert local["endpoints"] == 9
    assert local["last_error"] is None
    assert local["stale"] is False
    assert local["last_success"] is not None
