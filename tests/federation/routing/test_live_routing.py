"""LiveRouting keeps the scheduler in line with the store, one change at a time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from federation.config import parse_config
from federation.registry import ENDPOINTS_PREFIX, MergedEndpoint
from federation.resources import ConfigState
from federation.routing.health_records import HEALTH_PREFIX, HealthRecord
from federation.routing.live import LiveRouting
from federation.scheduler import ClientPoint, UnknownServiceError
from federation.store.base import ChangeEvent, WatchExpiredError
from federation.store.memory import MemoryStore
from geo import RegionCatalog
from providers.base import Endpoint, Health, Role
from tests.federation.routing.conftest import eventually

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1, gateway: {address: 127.0.0.9, port: 15443}}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1}
services:
  - name: payments.prod
    port: 8080
    routing: {mode: failover, failover: [gcp-euw1, aws-use1]}
  - name: orders.prod
    port: 8080
    routing: {mode: weighted, weights: {gcp-euw1: 1}}
"""
LONDON = ClientPoint("aws:eu-west-2", "EU", 51.5, -0.1)
NOW = 1_000_000.0


def endpoint(
    cluster: str, address: str, service: str = "payments.prod", health: Health = Health.UNKNOWN
) -> Endpoint:
    return Endpoint(cluster, Role.SERVICE, service, address, 9443, "static", "r", health=health)


async def put_endpoint(store: MemoryStore, e: Endpoint) -> None:
    value = json.dumps(MergedEndpoint(e, "local").to_json()).encode()
    await store.put(ENDPOINTS_PREFIX + e.key, value)


async def put_health(store: MemoryStore, key: str, record: HealthRecord) -> None:
    await store.put(HEALTH_PREFIX + key, record.to_json())


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    config = parse_config(CONFIG)
    await ConfigState(store, config).seed(config)
    yield store
    await store.close()


@pytest.fixture
async def routing(store: MemoryStore) -> AsyncIterator[LiveRouting]:
    live = LiveRouting(store, RegionCatalog.load(), clock=lambda: NOW)
    await live.load()
    task = asyncio.create_task(live.run())
    yield live
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def settled(routing: LiveRouting, store: MemoryStore) -> None:
    """Wait until the watch has applied everything written so far."""
    marker = f"{HEALTH_PREFIX}marker/{await store.revision()}"
    await store.put(marker, HealthRecord().to_json())
    key = marker[len(HEALTH_PREFIX) :]

    async def applied() -> HealthRecord | None:
        return routing.health(key)

    await eventually(applied, 2, "the watch applies the marker")


def shares(routing: LiveRouting, service: str = "payments.prod") -> list[tuple[int, list[str]]]:
    resolution = routing.scheduler.resolve(service, LONDON)
    return [(level.load_percent, [c.name for c in level.clusters]) for level in resolution.levels]


async def test_endpoints_written_after_start_are_routed(
    routing: LiveRouting, store: MemoryStore
) -> None:
    await put_endpoint(store, endpoint("gcp-euw1", "127.0.0.2"))
    await settled(routing, store)
    resolution = routing.scheduler.resolve("payments.prod", LONDON)
    assert [e.address for e in resolution.levels[0].clusters[0].endpoints] == ["127.0.0.2"]


async def test_configured_gateway_carries_a_service_with_no_endpoints_in_its_cluster(
    routing: LiveRouting, store: MemoryStore
) -> None:
    await put_endpoint(store, endpoint("gcp-euw1", "127.0.0.2"))
    await settled(routing, store)
    level1 = routing.scheduler.resolve("payments.prod", LONDON).levels[1].clusters[0]
    assert level1.name == "aws-use1"
    assert [(e.address, e.port) for e in level1.endpoints] == [("127.0.0.9", 15443)]


async def test_failed_active_check_moves_load_to_the_next_level(
    routing: LiveRouting, store: MemoryStore
) -> None:
    e = endpoint("gcp-euw1", "127.0.0.2")
    await put_endpoint(store, e)
    await settled(routing, store)
    assert shares(routing) == [(100, ["gcp-euw1"]), (0, ["aws-use1"])]
    await put_health(store, e.key, HealthRecord(healthy=False, check_detail="refused"))
    await settled(routing, store)
    assert shares(routing) == [(0, ["gcp-euw1"]), (100, ["aws-use1"])]


async def test_ejection_counts_only_until_its_end_time(
    routing: LiveRouting, store: MemoryStore
) -> None:
    live, over = endpoint("gcp-euw1", "127.0.0.2"), endpoint("gcp-euw1", "127.0.0.3")
    for e in (live, over):
        await put_endpoint(store, e)
    await put_health(store, live.key, HealthRecord(ejected_until=NOW + 30))
    await put_health(store, over.key, HealthRecord(ejected_until=NOW - 1))
    await settled(routing, store)
    endpoints = routing.scheduler.resolve("payments.prod", LONDON).levels[0].clusters[0].endpoints
    assert {e.address: e.health for e in endpoints} == {
        "127.0.0.2": "ejected",
        "127.0.0.3": "healthy",
    }


async def test_source_reported_health_is_not_overridden_by_active_checks(
    routing: LiveRouting, store: MemoryStore
) -> None:
    fixed = endpoint("gcp-euw1", "127.0.0.2", health=Health.UNHEALTHY)
    await put_endpoint(store, fixed)
    await put_health(store, fixed.key, HealthRecord(healthy=True))
    await settled(routing, store)
    [cluster] = routing.scheduler.resolve("payments.prod", LONDON).levels[0].clusters
    assert [e.health for e in cluster.endpoints] == ["unhealthy"]


async def test_removed_endpoint_leaves_the_tables(routing: LiveRouting, store: MemoryStore) -> None:
    e = endpoint("gcp-euw1", "127.0.0.2")
    await put_endpoint(store, e)
    await settled(routing, store)
    await store.delete(ENDPOINTS_PREFIX + e.key)
    await settled(routing, store)
    resolution = routing.scheduler.resolve("payments.prod", LONDON)
    assert [(level.total, level.load_percent) for level in resolution.levels] == [(0, 0), (1, 100)]


async def test_a_health_change_rebuilds_only_the_service_it_touches(
    routing: LiveRouting, store: MemoryStore
) -> None:
    payments, orders = (
        endpoint("gcp-euw1", "127.0.0.2"),
        endpoint("gcp-euw1", "127.0.0.3", "orders.prod"),
    )
    for e in (payments, orders):
        await put_endpoint(store, e)
    await settled(routing, store)
    for service in ("payments.prod", "orders.prod"):
        routing.scheduler.resolve(service, LONDON)
    built = routing.scheduler.tables_built
    await put_health(store, orders.key, HealthRecord(healthy=False))
    await settled(routing, store)
    routing.scheduler.resolve("payments.prod", LONDON)
    assert routing.scheduler.tables_built == built
    routing.scheduler.resolve("orders.prod", LONDON)
    assert routing.scheduler.tables_built == built + 1


async def test_deleted_service_is_unknown_to_resolve(
    routing: LiveRouting, store: MemoryStore
) -> None:
    await store.delete("config/services/orders.prod")
    await settled(routing, store)
    with pytest.raises(UnknownServiceError):
        routing.scheduler.resolve("orders.prod", LONDON)


async def test_load_after_restart_restores_health_from_the_store(store: MemoryStore) -> None:
    e = endpoint("gcp-euw1", "127.0.0.2")
    await put_endpoint(store, e)
    await put_health(store, e.key, HealthRecord(healthy=False))
    fresh = LiveRouting(store, RegionCatalog.load(), clock=lambda: NOW)
    await fresh.load()
    assert shares(fresh) == [(0, ["gcp-euw1"]), (100, ["aws-use1"])]


class ForgetfulStore(MemoryStore):
    """Its first endpoints watch finds the history gone, as a Redis stream trimmed too far."""

    def __init__(self) -> None:
        super().__init__()
        self.expired_once = False

    def watch(self, prefix: str, *, since_revision: int = 0) -> AsyncGenerator[ChangeEvent, None]:
        if prefix == ENDPOINTS_PREFIX and not self.expired_once:
            self.expired_once = True
            return self._expired()
        return super().watch(prefix, since_revision=since_revision)

    async def _expired(self) -> AsyncGenerator[ChangeEvent, None]:
        raise WatchExpiredError("revision no longer kept")
        yield  # an async generator, like the real watch


async def test_an_expired_change_feed_reloads_the_state_instead_of_stopping() -> None:
    store = ForgetfulStore()
    config = parse_config(CONFIG)
    await ConfigState(store, config).seed(config)
    live = LiveRouting(store, RegionCatalog.load(), clock=lambda: NOW)
    await live.load()
    await put_endpoint(store, endpoint("gcp-euw1", "127.0.0.2"))
    task = asyncio.create_task(live.run())
    await settled(live, store)
    assert store.expired_once
    assert not task.done()
    assert shares(live) == [(100, ["gcp-euw1"]), (0, ["aws-use1"])]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()
