"""An ejection that ends wakes the gateway's long-poll though nothing is written: the wait is
bounded by the next moment an endpoint's in-service verdict flips by the clock alone."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from federation.api.app import build_app
from federation.api.context import ApiContext
from federation.audit_log import AuditLog
from federation.gateway.control_plane import ControlPlane, follow_routes
from federation.gateway.live_routes import LiveRouteTable
from federation.gateway.route_config import GatewayConfig
from federation.metrics import Metrics
from federation.model import Role
from federation.registry import ENDPOINTS_PREFIX, MergedEndpoint
from federation.resources import ConfigState
from federation.routing.health_records import HEALTH_PREFIX, HealthRecord
from federation.store.base import Record
from federation.store.memory import MemoryStore
from federation.tokens import TokenRegistry
from providers.base import Endpoint
from providers.base import Role as EndpointRole
from tests.federation.api.conftest import API_HEADER, TOKENS, api_config

CONFIG = (
    API_HEADER
    + """clusters: [{name: aws-use1, cloud: aws, region: us-east-1}]
services: [{name: ledger.prod, port: 9090}]
"""
)
DEADLINE = 10.0
EJECTION = 1.0  # seconds
PROMPT = 1.0  # how soon after the ejection ends a held poll must answer


def ledger(address: str) -> Endpoint:
    return Endpoint("aws-use1", EndpointRole.SERVICE, "ledger.prod", address, 9090, "static", "r")


RETURNING, STEADY = ledger("10.0.0.1"), ledger("10.0.0.2")


class CountingStore(MemoryStore):
    """A memory store that counts listings by prefix: how often an answer read its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.listings: Counter[str] = Counter()

    async def list_prefix(self, prefix: str) -> list[Record]:
        self.listings[prefix] += 1
        return await super().list_prefix(prefix)


@dataclass
class BareApi:
    """The real API app without ``serve``'s background loops, so no expiry write can wake a poll:
    only the clock can."""

    url: str
    ctx: ApiContext
    store: CountingStore
    session: aiohttp.ClientSession

    async def put(self, key: str, value: bytes) -> None:
        await self.ctx.store.put(key, value)

    async def eject(self, endpoint: Endpoint, until: float) -> None:
        await self.put(HEALTH_PREFIX + endpoint.key, HealthRecord(ejected_until=until).to_json())

    async def poll(self, **query: str) -> tuple[int, GatewayConfig | None]:
        headers = {"Authorization": f"Bearer {TOKENS[Role.VIEWER]}"}
        params = {"cluster": "aws-use1", **query}
        url = self.url + "/v1/gateway/config"
        async with self.session.get(url, params=params, headers=headers) as response:
            if response.status != 200:
                return response.status, None
            return 200, GatewayConfig.model_validate_json(await response.read())


@pytest.fixture
async def bare_api() -> AsyncIterator[BareApi]:
    config = api_config(CONFIG)
    store = CountingStore()
    metrics = Metrics()
    ctx = ApiContext(
        store=store,
        config=ConfigState(store, config),
        tokens=TokenRegistry(store, config.api.tokens),
        audit=AuditLog(store, metrics),
        metrics=metrics,
    )
    await ctx.config.seed(config)
    for endpoint in (RETURNING, STEADY):
        value = json.dumps(MergedEndpoint(endpoint, "test").to_json()).encode()
        await store.put(ENDPOINTS_PREFIX + endpoint.key, value)
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        timeout = aiohttp.ClientTimeout(total=DEADLINE)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield BareApi(f"http://127.0.0.1:{runner.addresses[0][1]}", ctx, store, session)
    finally:
        await runner.cleanup()
        await store.close()


def addresses(config: GatewayConfig | None) -> list[str]:
    assert config is not None
    route = config.route("ledger.prod")
    assert route is not None
    return [u.address for u in route.upstreams]


async def test_an_ending_ejection_answers_a_held_poll_within_a_second_without_any_write(
    bare_api: BareApi,
) -> None:
    ends = time.time() + EJECTION
    await bare_api.eject(RETURNING, ends)
    _, held = await bare_api.poll()
    assert addresses(held) == ["10.0.0.2"]
    assert held is not None
    version = str(held.version)
    bare_api.store.listings.clear()

    status, answer = await bare_api.poll(version=version, timeout="8s")
    answered = time.time()

    assert status == 200
    assert ends <= answered < ends + PROMPT
    assert addresses(answer) == ["10.0.0.1", "10.0.0.2"]
    # Nothing was written while it waited, so what it read to time the wait is what it answers.
    assert [bare_api.store.listings[p] for p in (ENDPOINTS_PREFIX, HEALTH_PREFIX)] == [1, 1]
    # Nothing was written: the same revision, with different routes.
    assert answer is not None and answer.version == held.version
    assert await bare_api.ctx.store.revision() == held.version
    # Nothing more is pending, so the same version now waits out its timeout: no spin.
    started = time.monotonic()
    assert await bare_api.poll(version=version, timeout="300ms") == (304, None)
    assert time.monotonic() - started >= 0.3


async def test_a_poll_whose_version_is_already_stale_answers_at_once_reading_inputs_once(
    bare_api: BareApi,
) -> None:
    _, held = await bare_api.poll()
    assert held is not None
    # A route input written after the held version, with an ejection ending inside the timeout.
    await bare_api.eject(RETURNING, time.time() + 30)
    bare_api.store.listings.clear()

    async with asyncio.timeout(PROMPT):
        status, answer = await bare_api.poll(version=str(held.version), timeout="60s")

    assert status == 200 and answer is not None
    assert answer.version > held.version
    assert addresses(answer) == ["10.0.0.2"]
    assert [bare_api.store.listings[p] for p in (ENDPOINTS_PREFIX, HEALTH_PREFIX)] == [1, 1]


async def test_an_idle_poll_answers_304_after_its_timeout_when_no_ejection_is_pending(
    bare_api: BareApi,
) -> None:
    # An ejection already over, and one that outlasts the poll: neither cuts the wait short.
    await bare_api.eject(STEADY, time.time() - 60)
    await bare_api.eject(RETURNING, time.time() + 60)
    _, held = await bare_api.poll()
    assert held is not None
    started = time.monotonic()
    assert await bare_api.poll(version=str(held.version), timeout="400ms") == (304, None)
    assert time.monotonic() - started >= 0.4


async def test_a_following_gateway_applies_routes_that_changed_at_the_same_version(
    bare_api: BareApi,
) -> None:
    await bare_api.eject(RETURNING, time.time() + EJECTION)
    routes = LiveRouteTable(GatewayConfig(cluster="aws-use1", version=0, services=[]))
    applied: asyncio.Queue[GatewayConfig] = asyncio.Queue()

    def apply(config: GatewayConfig) -> None:
        routes.replace(config)
        applied.put_nowait(config)

    control_plane = ControlPlane(bare_api.session, bare_api.url, TOKENS[Role.VIEWER])
    follower = asyncio.create_task(follow_routes(control_plane, "aws-use1", apply, wait=5))
    try:
        async with asyncio.timeout(DEADLINE):
            first = await applied.get()
            assert [u.address for u in routes.upstreams("ledger.prod", 9090, None)] == ["10.0.0.2"]
            second = await applied.get()
        assert second.version == first.version
        assert [u.address for u in routes.upstreams("ledger.prod", 9090, None)] == [
            "10.0.0.1",
            "10.0.0.2",
        ]
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
