"""HealthService: replicas split the endpoints between them; verdicts land in the store."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from federation.config import parse_config
from federation.health.checks import HttpProbe, TcpProbe, TlsProbe
from federation.health_service import HealthService, probe_for
from federation.model import HealthCheckSpec
from federation.registry import ENDPOINTS_PREFIX, MergedEndpoint
from federation.resources import ConfigState
from federation.routing.health_records import HEALTH_PREFIX, HealthRecord
from federation.routing.live import LiveRouting, RoutedEndpoint
from federation.routing.membership import Membership
from federation.scheduler import EndpointState
from federation.store.memory import MemoryStore
from geo import RegionCatalog
from providers.base import Endpoint, Health, Role
from tests.federation.routing.conftest import eventually

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1, gateway: {address: 127.0.0.9, port: 1}}
services:
  - name: payments.prod
    port: 8080
    health_check: {kind: tcp, interval: 100ms, timeout: 200ms, unhealthy_threshold: 2}
"""


@asynccontextmanager
async def replica(store: MemoryStore, name: str) -> AsyncIterator[HealthService]:
    routing = LiveRouting(store, RegionCatalog.load())
    await routing.load()
    service = HealthService(store, routing, Membership(store, name, ttl=0.3))
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(routing.run()), group.create_task(service.run())]
        try:
            yield service
        finally:
            for task in tasks:
                task.cancel()


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    config = parse_config(CONFIG)
    await ConfigState(store, config).seed(config)
    for index in range(2, 12):
        endpoint = Endpoint(
            "aws-use1", Role.SERVICE, "payments.prod", f"127.0.0.{index}", 1, "static", "r"
        )
        value = json.dumps(MergedEndpoint(endpoint, "local").to_json()).encode()
        await store.put(ENDPOINTS_PREFIX + endpoint.key, value)
    yield store
    await store.close()


async def test_two_replicas_check_disjoint_halves_that_cover_every_endpoint(
    store: MemoryStore,
) -> None:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(replica(store, "replica-a"))
        b = await stack.enter_async_context(replica(store, "replica-b"))

        async def split() -> tuple[frozenset[str], frozenset[str]] | None:
            mine, theirs = a.checked_keys(), b.checked_keys()
            return (mine, theirs) if len(mine | theirs) == 11 and not mine & theirs else None

        (mine, theirs), _ = await eventually(split, 3, "the replicas split the endpoints")
    assert mine and theirs
    assert "aws-use1/gateway/-/127.0.0.9:1" in mine | theirs


async def test_a_failing_endpoint_is_stored_unhealthy_with_the_reason(store: MemoryStore) -> None:
    key = "aws-use1/service/payments.prod/127.0.0.2:1"
    async with replica(store, "only"):

        async def stored() -> HealthRecord | None:
            record = await store.get(HEALTH_PREFIX + key)
            return None if record is None else HealthRecord.from_json(record.value)

        record, _ = await eventually(stored, 3, "the unhealthy verdict is written")
    assert record.healthy is False
    assert "2 consecutive failed check(s)" in record.check_detail
    assert "connect failed" in record.check_detail


def test_probe_follows_the_service_health_check_kind() -> None:
    endpoint = RoutedEndpoint(EndpointState("k", "c", "::1", 8443), Health.UNKNOWN)
    tls = ssl.create_default_context()
    assert isinstance(probe_for(endpoint, HealthCheckSpec(kind="tcp"), tls), TcpProbe)
    assert isinstance(probe_for(endpoint, HealthCheckSpec(kind="tls"), tls), TlsProbe)
    http = probe_for(endpoint, HealthCheckSpec(kind="http", path="/ready"), tls)
    assert isinstance(http, HttpProbe)
    assert http.url == "http://[::1]:8443/ready"
