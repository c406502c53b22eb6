"""Versioned get/put/delete, compare-and-set, listing and revisions, on every backend."""

from __future__ import annotations

import asyncio

import pytest

from federation.store import ConflictError, Record, Store


async def test_put_then_get_returns_the_exact_bytes_and_revision(store: Store) -> None:
    value = b"\x00\xffbinary\r\n"
    written = await store.put("config/a", value)
    assert written == Record("config/a", value, written.revision)
    assert await store.get("config/a") == written
    assert await store.get("config/missing") is None


async def test_put_overwrites_and_moves_the_key_to_a_new_revision(store: Store) -> None:
    first = await store.put("k", b"1")
    second = await store.put("k", b"2")
    assert second.revision > first.revision
    assert await store.get("k") == Record("k", b"2", second.revision)


async def test_delete_removes_the_key_and_reports_whether_it_existed(store: Store) -> None:
    await store.put("k", b"v")
    assert await store.delete("k") is True
    assert await store.get("k") is None
    assert await store.delete("k") is False


async def test_expect_revision_zero_creates_only_when_absent(store: Store) -> None:
    created = await store.put("lock", b"mine", expect_revision=0)
    with pytest.raises(ConflictError) as caught:
        await store.put("lock", b"theirs", expect_revision=0)
    assert (caught.value.key, caught.value.expected, caught.value.actual) == (
        "lock",
        0,
        created.revision,
    )
    assert await store.get("lock") == created


async def test_put_with_the_current_revision_succeeds(store: Store) -> None:
    first = await store.put("k", b"1")
    second = await store.put("k", b"2", expect_revision=first.revision)
    assert await store.get("k") == second


async def test_put_with_a_stale_revision_conflicts_and_changes_nothing(store: Store) -> None:
    first = await store.put("k", b"1")
    second = await store.put("k", b"2")
    revision_before = await store.revision()
    with pytest.raises(ConflictError) as caught:
        await store.put("k", b"3", expect_revision=first.revision)
    assert caught.value.actual == second.revision
    assert "re-read it and retry" in str(caught.value)
    assert await store.get("k") == second
    assert await store.revision() == revision_before


async def test_put_expecting_a_revision_of_a_missing_key_conflicts(store: Store) -> None:
    with pytest.raises(ConflictError) as caught:
        await store.put("ghost", b"v", expect_revision=7)
    assert caught.value.actual == 0
    assert await store.get("ghost") is None


async def test_delete_with_a_stale_revision_conflicts_and_keeps_the_key(store: Store) -> None:
    first = await store.put("k", b"1")
    second = await store.put("k", b"2")
    with pytest.raises(ConflictError):
        await store.delete("k", expect_revision=first.revision)
    assert await store.get("k") == second
    assert await store.delete("k", expect_revision=second.revision) is True
    assert await store.get("k") is None


async def test_list_prefix_returns_matching_records_ordered_by_key(store: Store) -> None:
    for key in ["svc/b", "svc/a/2", "other/x", "svc/a/1", "svcx", "svc/é", "svc/z"]:
        await store.put(key, key.encode())
    listed = await store.list_prefix("svc/")
    assert [r.key for r in listed] == ["svc/a/1", "svc/a/2", "svc/b", "svc/z", "svc/é"]
    assert all(r.value == r.key.encode() for r in listed)
    assert [r.key for r in await store.list_prefix("svc/a/")] == ["svc/a/1", "svc/a/2"]
    assert await store.list_prefix("nothing/") == []


async def test_list_prefix_with_an_empty_prefix_lists_everything(store: Store) -> None:
    await store.put("b", b"")
    await store.put("a", b"")
    await store.delete("b")
    assert [r.key for r in await store.list_prefix("")] == ["a"]


async def test_revisions_are_global_and_strictly_increasing_across_keys(store: Store) -> None:
    assert await store.revision() == 0
    revisions = [(await store.put(f"key{i % 3}", b"v")).revision for i in range(6)]
    assert revisions == sorted(set(revisions))
    assert await store.delete("key0")
    assert await store.revision() > revisions[-1]


async def test_failed_writes_do_not_advance_the_revision(store: Store) -> None:
    await store.put("k", b"v")
    before = await store.revision()
    assert await store.delete("missing") is False
    with pytest.raises(ConflictError):
        await store.put("k", b"w", expect_revision=0)
    assert await store.revision() == before


async def test_ping_succeeds_on_a_reachable_store(store: Store) -> None:
    await store.ping()


async def test_fifty_concurrent_cas_increments_lose_no_update(store: Store) -> None:
    await store.put("counter", b"0")

    conflicts = 0

    async def increment() -> None:
        nonlocal conflicts
        while True:
            current = await store.get("counter")
            assert current is not None
            # Yield between read and write so that even the in-process store interleaves.
            await asyncio.sleep(0)
            following = str(int(current.value) + 1).encode()
            try:
                await store.put("counter", following, expect_revision=current.revision)
                return
            except ConflictError:
                conflicts += 1

    await asyncio.gather(*(increment() for _ in range(50)))
    final = await store.get("counter")
    assert final is not None and final.value == b"50"
    assert conflicts > 0, "the writers never raced, so the test proved nothing"
