"""Rendezvous ownership of endpoint keys over live replicas, kept as short entries in the store."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from federation.routing.membership import Membership, owner
from federation.store.memory import MemoryStore

members = st.sets(st.text(min_size=1, max_size=8), min_size=2, max_size=6)
keys = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=30, unique=True)


@given(members, keys)
def test_a_departing_replica_moves_only_the_keys_it_owned(
    replicas: set[str], endpoint_keys: list[str]
) -> None:
    leaving = sorted(replicas)[0]
    before = {k: owner(k, replicas) for k in endpoint_keys}
    after = {k: owner(k, replicas - {leaving}) for k in endpoint_keys}
    moved = {k for k in endpoint_keys if before[k] != after[k]}
    assert moved == {k for k in endpoint_keys if before[k] == leaving}


@given(members, keys)
def test_owner_does_not_depend_on_member_order(
    replicas: set[str], endpoint_keys: list[str]
) -> None:
    for key in endpoint_keys:
        assert owner(key, sorted(replicas)) == owner(key, sorted(replicas, reverse=True))


async def test_two_replicas_split_the_keys_and_one_takes_all_when_the_other_expires() -> None:
    store = MemoryStore()
    now = [1000.0]
    a = Membership(store, "a", ttl=10, clock=lambda: now[0])
    b = Membership(store, "b", ttl=10, clock=lambda: now[0])
    await a.refresh()
    await b.refresh()
    await a.refresh()
    endpoint_keys = [f"c/service/s/127.0.0.{i}:9443" for i in range(40)]
    owned_a = {k for k in endpoint_keys if a.owns(k)}
    owned_b = {k for k in endpoint_keys if b.owns(k)}
    assert owned_a and owned_b
    assert owned_a | owned_b == set(endpoint_keys)
    assert not owned_a & owned_b
    now[0] += 11  # b stops renewing
    await a.refresh()
    assert a.members == {"a"}
    assert all(a.owns(k) for k in endpoint_keys)
    await store.close()
