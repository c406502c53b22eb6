"""Watch: ordered, resumable, filtered change events, first recorded then live."""

from __future__ import annotations

import asyncio

import pytest

from federation.store import ChangeEvent, ChangeKind, Store, WatchExpiredError
from tests.federation.store.conftest import StoreFactory
from tests.federation.store.helpers import next_event, take, watching


async def test_watch_from_zero_replays_every_change_in_revision_order(store: Store) -> None:
    a = await store.put("k/a", b"1")
    b = await store.put("k/b", b"2")
    a2 = await store.put("k/a", b"3")
    async with watching(store, "k/") as events:
        assert await take(events, 3) == [
            ChangeEvent(ChangeKind.PUT, "k/a", b"1", a.revision),
            ChangeEvent(ChangeKind.PUT, "k/b", b"2", b.revision),
            ChangeEvent(ChangeKind.PUT, "k/a", b"3", a2.revision),
        ]


async def test_watch_resumes_after_the_given_revision(store: Store) -> None:
    first = await store.put("k/a", b"1")
    await store.put("k/b", b"2")
    await store.put("k/c", b"3")
    async with watching(store, "k/", since_revision=first.revision) as events:
        assert [e.key for e in await take(events, 2)] == ["k/b", "k/c"]


async def test_watch_reports_deletes_without_a_value(store: Store) -> None:
    await store.put("k/a", b"1")
    assert await store.delete("k/a")
    async with watching(store, "k/") as events:
        put, deleted = await take(events, 2)
    assert put.kind is ChangeKind.PUT
    assert deleted == ChangeEvent(ChangeKind.DELETE, "k/a", None, await store.revision())


async def test_watch_only_yields_keys_under_its_prefix(store: Store) -> None:
    await store.put("a/1", b"")
    await store.put("b/1", b"")
    await store.put("a/2", b"")
    await store.put("ab", b"")
    async with watching(store, "a/") as events:
        assert [e.key for e in await take(events, 2)] == ["a/1", "a/2"]
        late = next_event(events)
        await store.put("b/2", b"")
        await store.put("a/3", b"")
        assert (await asyncio.wait_for(late, 5)).key == "a/3"


async def test_watch_delivers_writes_made_while_it_waits(store: Store) -> None:
    start = await store.revision()
    async with watching(store, "live/", since_revision=start) as events:
        pending = next_event(events)
        done, _ = await asyncio.wait({pending}, timeout=0.3)
        assert not done, "a watch with nothing to report must wait, not end or invent events"
        written = await store.put("live/x", b"now")
        event = await asyncio.wait_for(pending, 5)
        assert event == ChangeEvent(ChangeKind.PUT, "live/x", b"now", written.revision)
        await store.delete("live/x")
        assert (await take(events, 1))[0].kind is ChangeKind.DELETE


async def test_two_watchers_each_see_every_event(store: Store) -> None:
    async with watching(store, "w/") as first, watching(store, "w/") as second:
        for i in range(3):
            await store.put(f"w/{i}", b"")
        keys = ["w/0", "w/1", "w/2"]
        assert [e.key for e in await take(first, 3)] == keys
        assert [e.key for e in await take(second, 3)] == keys


async def test_resuming_before_the_kept_history_raises_watch_expired(
    make_store: StoreFactory,
) -> None:
    store = await make_store(history_limit=3)
    for i in range(5):
        await store.put(f"h/{i}", b"")
    # Revisions 3, 4 and 5 are kept: resuming after 2 still misses nothing.
    async with watching(store, "h/", since_revision=2) as events:
        assert [e.revision for e in await take(events, 3)] == [3, 4, 5]
    for since in (0, 1):
        async with watching(store, "h/", since_revision=since) as events:
            with pytest.raises(WatchExpiredError, match="re-list the keys"):
                await take(events, 1)
