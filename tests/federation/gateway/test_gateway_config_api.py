"""GET /v1/gateway/config on a real API server, and the gateway's long-poll client against it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from federation.gateway.control_plane import ControlPlane, follow_routes
from federation.gateway.live_routes import LiveRouteTable
from federation.gateway.route_config import GatewayConfig
from federation.gateway.routes import Upstream
from federation.model import Role
from federation.registry import ENDPOINTS_PREFIX, MergedEndpoint
from federation.service import Running, running_service
from providers.base import Endpoint
from providers.base import Role as EndpointRole
from tests.federation.api.conftest import TOKENS, api_config

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
api: {listen: 127.0.0.1:0}
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1, gateway: {address: 127.0.0.1, port: 15443}}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1, gateway: {address: 127.0.0.2, port: 15443}}
  - {name: azure-weu, cloud: azure, region: westeurope, gateway: {address: 127.0.0.3, port: 15443}}
services:
  - name: payments.prod
    port: 8080
    routing: {mode: failover, failover: [gcp-euw1, azure-weu]}
  - {name: ledger.prod, port: 9090}
"""
DEADLINE = 10.0


def endpoint(cluster: str, service: str, address: str, port: int) -> Endpoint:
    return Endpoint(cluster, EndpointRole.SERVICE, service, address, port, "static", "r")


@dataclass
class ConfigApi:
    running: Running
    session: aiohttp.ClientSession

    async def discover(self, *endpoints: Endpoint) -> None:
        """Write endpoints as the registry persists them, so no discovery timing is involved."""
        for item in endpoints:
            value = json.dumps(MergedEndpoint(item, "test").to_json()).encode()
            await self.running.context.store.put(ENDPOINTS_PREFIX + item.key, value)

    async def get(
        self, role: Role | None = Role.VIEWER, **query: str
    ) -> tuple[int, dict[str, object]]:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
        url = self.running.url + "/v1/gateway/config"
        async with self.session.get(url, params=query, headers=headers) as response:
            body = await response.json(content_type=None) if response.status != 304 else {}
            return response.status, body


@pytest.fixture
async def api() -> AsyncIterator[ConfigApi]:
    async with (
        running_service(api_config(CONFIG)) as running,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session,
    ):
        yield ConfigApi(running, session)


async def test_a_cluster_gets_its_own_endpoints_and_other_clusters_gateways_in_failover_order(
    api: ConfigApi,
) -> None:
    await api.discover(
        endpoint("aws-use1", "ledger.prod", "10.0.0.1", 9090),
        endpoint("gcp-euw1", "payments.prod", "10.1.0.1", 8080),
        endpoint("azure-weu", "payments.prod", "10.2.0.1", 8080),
    )
    status, body = await api.get(cluster="aws-use1")
    assert status == 200
    config = GatewayConfig.model_validate(body)
    assert config.version == await api.running.context.store.revision()
    ledger, payments = config.route("ledger.prod"), config.route("payments.prod")
    assert ledger is not None and payments is not None
    assert ledger.local
    assert [(u.address, u.port, u.kind) for u in ledger.upstreams] == [
        ("10.0.0.1", 9090, "endpoint")
    ]
    assert not payments.local
    assert [(u.address, u.cluster, u.kind) for u in payments.upstreams] == [
        ("127.0.0.2", "gcp-euw1", "gateway"),
        ("127.0.0.3", "azure-weu", "gateway"),
    ]
    assert payments.traffic.attempts == 3
    assert payments.traffic.connect_timeout_s == 1.0


async def test_a_poll_at_the_current_version_answers_when_an_endpoint_changes(
    api: ConfigApi,
) -> None:
    _, body = await api.get(cluster="aws-use1")
    version = GatewayConfig.model_validate(body).version
    poll = asyncio.create_task(api.get(cluster="aws-use1", version=str(version), timeout="8s"))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await api.discover(endpoint("aws-use1", "payments.prod", "10.0.0.9", 8080))
    async with asyncio.timeout(DEADLINE / 2):
        status, body = await poll
    assert status == 200
    config = GatewayConfig.model_validate(body)
    assert config.version > version
    payments = config.route("payments.prod")
    assert payments is not None and payments.local
    # The local endpoint first; other clusters' gateways after it, as fallbacks.
    assert payments.upstreams[0].address == "10.0.0.9"
    assert {u.kind for u in payments.upstreams[1:]} <= {"gateway"}


async def test_a_poll_with_nothing_new_answers_304_after_its_timeout(api: ConfigApi) -> None:
    _, body = await api.get(cluster="aws-use1")
    version = str(GatewayConfig.model_validate(body).version)
    status, _ = await api.get(cluster="aws-use1", version=version, timeout="200ms")
    assert status == 304


async def test_an_older_version_is_answered_at_once(api: ConfigApi) -> None:
    await api.discover(endpoint("aws-use1", "payments.prod", "10.0.0.9", 8080))
    async with asyncio.timeout(2):
        status, body = await api.get(cluster="aws-use1", version="0", timeout="60s")
    assert status == 200
    assert GatewayConfig.model_validate(body).version > 0


@pytest.mark.parametrize(
    ("query", "role", "status", "says"),
    [
        ({"cluster": "nowhere"}, Role.VIEWER, 404, "aws-use1"),
        ({}, Role.VIEWER, 400, "cluster is required"),
        ({"cluster": "aws-use1", "version": "x"}, Role.VIEWER, 400, "version"),
        ({"cluster": "aws-use1", "timeout": "30"}, Role.VIEWER, 400, "unit"),
        ({"cluster": "aws-use1", "timeout": "1h"}, Role.VIEWER, 400, "300s"),
        ({"cluster": "aws-use1"}, None, 401, ""),
    ],
)
async def test_bad_gateway_config_requests_are_refused_as_problems(
    api: ConfigApi, query: dict[str, str], role: Role | None, status: int, says: str
) -> None:
    answered, body = await api.get(role, **query)
    assert answered == status
    assert says in str(body.get("detail"))


async def test_a_gateway_following_the_api_swaps_in_new_routes(api: ConfigApi) -> None:
    routes = LiveRouteTable(GatewayConfig(cluster="aws-use1", version=0, services=[]))
    applied: asyncio.Queue[GatewayConfig] = asyncio.Queue()

    def apply(config: GatewayConfig) -> None:
        routes.replace(config)
        applied.put_nowait(config)

    control_plane = ControlPlane(api.session, api.running.url, TOKENS[Role.VIEWER])
    follower = asyncio.create_task(follow_routes(control_plane, "aws-use1", apply, wait=5))
    try:
        async with asyncio.timeout(DEADLINE):
            await applied.get()
            assert routes.upstreams("ledger.prod", None, None) == ()
            await api.discover(endpoint("aws-use1", "ledger.prod", "10.0.0.7", 9090))
            await applied.get()
        assert routes.upstreams("ledger.prod", 9090, None) == (
            Upstream("10.0.0.7", 9090, "aws-use1"),
        )
        # An AUTO_PASSTHROUGH name for another port is another route.
        assert routes.upstreams("ledger.prod", 8080, None) == ()
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
