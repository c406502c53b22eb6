"""Leases for leader election, with fencing tokens that guard writes."""

from __future__ import annotations

import time

import pytest

from federation.store import FencedError, Lease, Store
from tests.federation.store.helpers import eventually

SHORT_TTL = 0.3


async def take_over(store: Store, name: str, holder: str) -> Lease:
    """Poll until ``holder`` gets the lease, as a standby replica would."""
    return await eventually(lambda: store.acquire_lease(name, holder, 30.0))


async def test_first_acquire_grants_the_lease(store: Store) -> None:
    lease = await store.acquire_lease("leader", "a", 30.0)
    assert lease is not None
    assert (lease.name, lease.holder) == ("leader", "a")
    assert lease.token >= 1
    assert lease.expires_at == pytest.approx(time.time() + 30.0, abs=5.0)


async def test_a_second_holder_is_refused_while_the_lease_is_live(store: Store) -> None:
    assert await store.acquire_lease("leader", "a", 30.0) is not None
    assert await store.acquire_lease("leader", "b", 30.0) is None


async def test_renewal_by_the_holder_keeps_the_token_and_extends_expiry(store: Store) -> None:
    first = await store.acquire_lease("leader", "a", 5.0)
    renewed = await store.acquire_lease("leader", "a", 30.0)
    assert first is not None and renewed is not None
    assert renewed.token == first.token
    assert renewed.expires_at > first.expires_at


async def test_expiry_hands_the_lease_over_with_a_higher_token(store: Store) -> None:
    old = await store.acquire_lease("leader", "a", SHORT_TTL)
    assert old is not None
    new = await take_over(store, "leader", "b")
    assert new.holder == "b"
    assert new.token > old.token
    assert await store.acquire_lease("leader", "a", 30.0) is None


async def test_release_lets_another_holder_in_at_once_with_a_higher_token(store: Store) -> None:
    old = await store.acquire_lease("leader", "a", 30.0)
    assert old is not None
    await store.release_lease(old)
    new = await store.acquire_lease("leader", "b", 30.0)
    assert new is not None and new.token > old.token
    again = await store.acquire_lease("leader", "a", 30.0)
    assert again is None


async def test_releasing_a_lease_already_taken_over_leaves_the_new_holder(store: Store) -> None:
    old = await store.acquire_lease("leader", "a", SHORT_TTL)
    assert old is not None
    new = await take_over(store, "leader", "b")
    await store.release_lease(old)
    assert await store.acquire_lease("leader", "c", 30.0) is None
    renewed = await store.acquire_lease("leader", "b", 30.0)
    assert renewed is not None and renewed.token == new.token


async def test_leases_with_different_names_are_independent(store: Store) -> None:
    assert await store.acquire_lease("discovery", "a", 30.0) is not None
    assert await store.acquire_lease("rotation", "b", 30.0) is not None


async def test_fenced_writes_succeed_while_the_lease_is_current(store: Store) -> None:
    lease = await store.acquire_lease("leader", "a", 30.0)
    assert lease is not None
    written = await store.put("endpoints/x", b"1", fence=lease)
    assert await store.get("endpoints/x") == written
    assert await store.delete("endpoints/x", fence=lease) is True


async def test_fenced_writes_are_refused_after_another_holder_took_over(store: Store) -> None:
    old = await store.acquire_lease("leader", "a", 30.0)
    assert old is not None
    kept = await store.put("endpoints/x", b"old leader", fence=old)
    # The old leader stalls: its last renewal was short, and nothing renews it again.
    assert await store.acquire_lease("leader", "a", SHORT_TTL) is not None
    new = await take_over(store, "leader", "b")
    revision = await store.revision()

    with pytest.raises(FencedError, match="'b'"):
        await store.put("endpoints/x", b"stale", fence=old)
    with pytest.raises(FencedError):
        await store.put("endpoints/y", b"stale", fence=old, expect_revision=0)
    with pytest.raises(FencedError):
        await store.delete("endpoints/x", fence=old)

    assert await store.get("endpoints/x") == kept
    assert await store.get("endpoints/y") is None
    assert await store.revision() == revision
    assert (await store.put("endpoints/x", b"new leader", fence=new)).value == b"new leader"


async def test_fenced_writes_are_refused_after_release(store: Store) -> None:
    lease = await store.acquire_lease("leader", "a", 30.0)
    assert lease is not None
    await store.release_lease(lease)
    with pytest.raises(FencedError, match="nobody holds it"):
        await store.put("endpoints/x", b"v", fence=lease)
    assert await store.get("endpoints/x") is None


async def test_a_fence_from_a_lease_never_granted_is_refused(store: Store) -> None:
    forged = Lease("leader", "a", 1, time.time() + 30)
    with pytest.raises(FencedError):
        await store.put("k", b"v", fence=forged)


@pytest.mark.parametrize(
    ("name", "holder", "ttl"), [("", "a", 1.0), ("leader", "", 1.0), ("leader", "a", 0.0)]
)
async def test_acquire_rejects_an_empty_name_or_holder_or_non_positive_ttl(
    store: Store, name: str, holder: str, ttl: float
) -> None:
    with pytest.raises(ValueError):
        await store.acquire_lease(name, holder, ttl)
