"""The registry: deterministic merge, exact diffs, last known good, persisted state."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.registry import ENDPOINTS_PREFIX, ProviderView, Registry, diff, merge
from federation.store.memory import MemoryStore
from providers.base import Endpoint, Health, Role, Snapshot


def endpoint(address: str, port: int = 9443, *, weight: int = 1, cluster: str = "c1") -> Endpoint:
    return Endpoint(
        cluster, Role.SERVICE, "payments.prod", address, port, "aws", "us-east-1", weight=weight
    )


def test_same_endpoint_from_two_providers_is_taken_from_the_first_listed() -> None:
    a = endpoint("10.0.0.1", weight=5)
    b = endpoint("10.0.0.1", weight=9)
    views = {"second": ProviderView((b,)), "first": ProviderView((a,))}
    merged = merge(views, ["first", "second"])
    assert merged[a.key].provider == "first"
    assert merged[a.key].endpoint.weight == 5
    assert merge(views, ["second", "first"])[a.key].endpoint.weight == 9


def test_withdrawn_provider_contributes_nothing() -> None:
    views = {"p": ProviderView((endpoint("10.0.0.1"),), stale=True, withdrawn=True)}
    assert merge(views, ["p"]) == {}


endpoints = st.builds(
    endpoint,
    st.sampled_from([f"10.0.0.{i}" for i in range(8)]),
    st.sampled_from([9443, 9444]),
    weight=st.integers(1, 3),
)
snapshots = st.lists(st.lists(endpoints, max_size=10), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(snapshots)
def test_applying_each_diff_to_the_old_set_gives_the_new_set(rounds: list[list[Endpoint]]) -> None:
    current: dict[str, object] = {}
    for version, round_ in enumerate(rounds, start=1):
        unique = {e.key: e for e in round_}
        new = merge({"p": ProviderView(tuple(unique.values()))}, ["p"])
        change = diff(current, new, version)  # type: ignore[arg-type]
        replayed = dict(current)
        for item in change.removed:
            assert item.key in replayed
            del replayed[item.key]
        for item in change.added:
            assert item.key not in replayed
            replayed[item.key] = item
        for item in change.changed:
            assert replayed[item.key] != item
            replayed[item.key] = item
        assert replayed == new
        current = dict(new)


async def test_versions_increase_only_when_the_set_changes_and_are_persisted() -> None:
    store = MemoryStore()
    registry = Registry(store, ["p"])
    seen = []
    registry.subscribe(seen.append)
    first = await registry.apply_snapshot(Snapshot("p", (endpoint("10.0.0.1"),)))
    again = await registry.apply_snapshot(Snapshot("p", (endpoint("10.0.0.1"),)))
    assert first.version == 1
    assert again.empty and again.version == 1
    assert [d.version for d in seen] == [1]
    second = await registry.apply_snapshot(Snapshot("p", (endpoint("10.0.0.2"),)))
    assert second.version == 2
    assert [e.endpoint.address for e in second.added] == ["10.0.0.2"]
    assert [e.endpoint.address for e in second.removed] == ["10.0.0.1"]
    keys = [r.key for r in await store.list_prefix(ENDPOINTS_PREFIX)]
    assert keys == [ENDPOINTS_PREFIX + endpoint("10.0.0.2").key]


async def test_a_failed_sync_keeps_endpoints_flagged_stale() -> None:
    store = MemoryStore()
    registry = Registry(store, ["p"])
    await registry.apply_snapshot(Snapshot("p", (endpoint("10.0.0.1"),)))
    change = await registry.mark_stale("p")
    assert [e.stale for e in change.changed] == [True]
    assert [e.stale for e in registry.endpoints()] == [True]
    stored = json.loads((await store.list_prefix(ENDPOINTS_PREFIX))[0].value)
    assert stored["stale"] is True
    await registry.apply_snapshot(Snapshot("p", (endpoint("10.0.0.1"),)))
    assert [e.stale for e in registry.endpoints()] == [False]


async def test_restart_resumes_version_and_holds_last_endpoints_until_confirmed() -> None:
    store = MemoryStore()
    before = Registry(store, ["p", "q"])
    await before.apply_snapshot(Snapshot("p", (endpoint("10.0.0.1"), endpoint("10.0.0.2"))))
    await before.apply_snapshot(
        Snapshot(
            "q",
            (
                Endpoint(
                    "c2", Role.GATEWAY, None, "gw.example", 15443, "gcp", "x", health=Health.HEALTHY
                ),
            ),
        )
    )
    after = Registry(store, ["p", "q"])
    await after.load()
    assert after.version == before.version
    assert {e.key for e in after.endpoints()} == {e.key for e in before.endpoints()}
    assert all(e.stale for e in after.endpoints())
    change = await after.apply_snapshot(Snapshot("p", (endpoint("10.0.0.1"),)))
    assert [e.endpoint.address for e in change.removed] == ["10.0.0.2"]
    assert change.version == before.version + 1
