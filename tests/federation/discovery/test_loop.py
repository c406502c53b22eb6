"""The discovery loop: last known good under failures, partial listings, staleness limits,
isolation between providers, and only the lease holder syncing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from federation.discovery import STATUS_PREFIX, DiscoveryLoop, Schedule, ScheduledProvider
from federation.metrics import Metrics
from federation.registry import Registry
from federation.store.memory import MemoryStore
from providers.base import Endpoint, ProviderError, ProviderErrorKind, Role, Snapshot


def endpoint(address: str) -> Endpoint:
    return Endpoint("c1", Role.SERVICE, "payments.prod", address, 9443, "aws", "us-east-1")


class ScriptedProvider:
    """Answers each discover() with the next scripted step: a list of addresses, an error,
    or a partial snapshot."""

    cloud = "aws"

    def __init__(self, name: str, steps: list[object]) -> None:
        self.name = name
        self._steps = steps
        self.calls = 0
        self.threads: set[int] = set()

    def discover(self) -> Snapshot:
        self.threads.add(threading.get_ident())
        step = self._steps[min(self.calls, len(self._steps) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        if isinstance(step, tuple):
            return Snapshot(
                self.name,
                tuple(endpoint(a) for a in step[0]),
                complete=False,
                warnings=("page 3 of 5 failed",),
            )
        assert isinstance(step, list)
        return Snapshot(self.name, tuple(endpoint(a) for a in step))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_loop(
    *providers: ScriptedProvider,
    max_staleness: float | None = None,
    clock: Callable[[], float] | None = None,
    is_leader: Callable[[], bool] = lambda: True,
) -> tuple[DiscoveryLoop, Registry, Metrics]:
    store = MemoryStore()
    registry = Registry(store, [p.name for p in providers])
    metrics = Metrics()
    loop = DiscoveryLoop(
        [
            ScheduledProvider(p, Schedule(0.01, sync_timeout=5, max_staleness=max_staleness))
            for p in providers
        ],
        registry,
        metrics,
        clock=clock or Clock(),
        is_leader=is_leader,
    )
    return loop, registry, metrics


def addresses(registry: Registry) -> list[tuple[str, bool]]:
    return [(e.endpoint.address, e.stale) for e in registry.endpoints()]


async def test_endpoints_survive_throttling_5xx_and_timeouts_flagged_stale() -> None:
    provider = ScriptedProvider(
        "p",
        [
            ["10.0.0.1", "10.0.0.2"],
            ProviderError(ProviderErrorKind.THROTTLED, "Rate exceeded", retry_after=1),
            ProviderError(ProviderErrorKind.UNAVAILABLE, "503"),
            ProviderError(ProviderErrorKind.TIMEOUT, "read timeout"),
        ],
    )
    clock = Clock()
    loop, registry, metrics = make_loop(provider, clock=clock)
    await loop.sync_once("p")
    for kind in ("throttled", "unavailable", "timeout"):
        clock.now += 30
        status = await loop.sync_once("p")
        assert status.last_error_kind == kind
        assert addresses(registry) == [("10.0.0.1", True), ("10.0.0.2", True)]
    assert status.consecutive_failures == 3
    assert status.staleness_seconds == pytest.approx(90)
    value = metrics.registry.get_sample_value(
        "meshfed_provider_sync_errors_total", {"provider": "p", "kind": "throttled"}
    )
    assert value == 1


async def test_a_partial_listing_never_drops_what_it_did_not_see() -> None:
    provider = ScriptedProvider("p", [["10.0.0.1", "10.0.0.2"], (["10.0.0.1"],)])
    loop, registry, _ = make_loop(provider)
    await loop.sync_once("p")
    status = await loop.sync_once("p")
    assert status.last_error_kind == "partial"
    assert "page 3 of 5" in (status.last_error or "")
    assert addresses(registry) == [("10.0.0.1", True), ("10.0.0.2", True)]


async def test_an_endpoint_disappears_only_after_a_successful_sync_misses_it() -> None:
    provider = ScriptedProvider(
        "p",
        [
            ["10.0.0.1", "10.0.0.2"],
            ProviderError(ProviderErrorKind.UNAVAILABLE, "x"),
            ["10.0.0.2"],
        ],
    )
    loop, registry, _ = make_loop(provider)
    for _ in range(3):
        await loop.sync_once("p")
    assert addresses(registry) == [("10.0.0.2", False)]


async def test_stale_endpoints_are_withdrawn_after_max_staleness() -> None:
    provider = ScriptedProvider("p", [["10.0.0.1"], ProviderError(ProviderErrorKind.AUTH, "x")])
    clock = Clock()
    loop, registry, metrics = make_loop(provider, max_staleness=60, clock=clock)
    await loop.sync_once("p")
    clock.now += 30
    await loop.sync_once("p")
    assert addresses(registry) == [("10.0.0.1", True)]
    clock.now += 60
    status = await loop.sync_once("p")
    assert status.withdrawn
    assert registry.endpoints() == []
    assert (
        metrics.registry.get_sample_value("meshfed_provider_withdrawals_total", {"provider": "p"})
        == 1
    )


async def test_one_failing_provider_does_not_stop_the_others() -> None:
    broken = ScriptedProvider("broken", [RuntimeError("adapter bug")])
    healthy = ScriptedProvider("healthy", [["10.0.0.9"]])
    loop, registry, _ = make_loop(broken, healthy)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.3)  # the schedule is 10 ms: dozens of passes for each provider
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert healthy.calls >= 3
    assert broken.calls >= 3
    assert addresses(registry) == [("10.0.0.9", False)]
    statuses = {s.name: s for s in loop.statuses()}
    assert statuses["broken"].last_error_kind == "internal"


async def test_sdk_calls_run_off_the_event_loop_thread() -> None:
    provider = ScriptedProvider("p", [["10.0.0.1"]])
    loop, _, _ = make_loop(provider)
    await loop.sync_once("p")
    assert threading.get_ident() not in provider.threads


async def test_only_the_lease_holder_calls_the_cloud() -> None:
    provider = ScriptedProvider("p", [["10.0.0.1"]])
    loop, _, _ = make_loop(provider, is_leader=lambda: False)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert provider.calls == 0


async def test_status_is_published_to_the_store_for_every_replica() -> None:
    provider = ScriptedProvider("p", [["10.0.0.1"], ProviderError(ProviderErrorKind.TIMEOUT, "t")])
    loop, registry, _ = make_loop(provider)
    await loop.sync_once("p")
    await loop.sync_once("p")
    record = await registry.store.get(STATUS_PREFIX + "p")
    assert record is not None
    assert b'"last_error_kind": "timeout"' in record.value
    assert b'"endpoints": 1' in record.value
