"""Append-only logs: gap-free 1-based sequence numbers per log, read in pages."""

from __future__ import annotations

import asyncio

import pytest

from federation.store import ConflictError, LogEntry, Store


async def test_append_numbers_each_log_from_one_without_gaps(store: Store) -> None:
    assert [(await store.append("audit", f"e{i}".encode())).seq for i in range(3)] == [1, 2, 3]
    assert await store.append("other", b"x") == LogEntry(1, b"x")


async def test_read_log_pages_after_a_sequence_number(store: Store) -> None:
    for i in range(5):
        await store.append("audit", f"e{i}".encode())
    first = await store.read_log("audit", limit=2)
    assert first == [LogEntry(1, b"e0"), LogEntry(2, b"e1")]
    second = await store.read_log("audit", after=first[-1].seq, limit=2)
    assert second == [LogEntry(3, b"e2"), LogEntry(4, b"e3")]
    assert await store.read_log("audit", after=4) == [LogEntry(5, b"e4")]
    assert await store.read_log("audit", after=5) == []
    assert await store.read_log("missing") == []


async def test_concurrent_appends_get_distinct_gap_free_seqs(store: Store) -> None:
    entries = await asyncio.gather(*(store.append("audit", f"{i}".encode()) for i in range(30)))
    assert sorted(e.seq for e in entries) == list(range(1, 31))
    stored = await store.read_log("audit", limit=100)
    assert [e.seq for e in stored] == list(range(1, 31))
    assert sorted(stored, key=lambda e: e.seq) == sorted(entries, key=lambda e: e.seq)


async def test_logs_are_independent_of_key_revisions(store: Store) -> None:
    await store.append("audit", b"x")
    assert await store.revision() == 0


async def test_append_at_an_expected_length_refuses_a_moved_log(store: Store) -> None:
    first = await store.append("audit", b"a", expect_seq=0)
    assert first == LogEntry(1, b"a")
    with pytest.raises(ConflictError) as conflict:
        await store.append("audit", b"late", expect_seq=0)
    assert (conflict.value.expected, conflict.value.actual) == (0, 1)
    assert await store.read_log("audit") == [LogEntry(1, b"a")]
    assert await store.append("audit", b"b", expect_seq=1) == LogEntry(2, b"b")


async def test_racing_conditional_appends_at_one_position_admit_exactly_one(store: Store) -> None:
    results = await asyncio.gather(
        *(store.append("audit", f"{i}".encode(), expect_seq=0) for i in range(10)),
        return_exceptions=True,
    )
    assert all(isinstance(r, LogEntry | ConflictError) for r in results), results
    assert sum(isinstance(r, LogEntry) for r in results) == 1, results
    assert len(await store.read_log("audit")) == 1


async def test_append_many_lands_consecutive_entries_after_what_is_there(store: Store) -> None:
    await store.append("audit", b"a")
    assert await store.append_many("audit", [b"b", b"c"], expect_seq=1) == [
        LogEntry(2, b"b"),
        LogEntry(3, b"c"),
    ]
    assert await store.append_many("audit", [b"d"]) == [LogEntry(4, b"d")]
    assert [e.data for e in await store.read_log("audit")] == [b"a", b"b", b"c", b"d"]


async def test_append_many_at_a_moved_position_writes_none_of_the_batch(store: Store) -> None:
    await store.append("audit", b"a")
    with pytest.raises(ConflictError) as conflict:
        await store.append_many("audit", [b"x", b"y", b"z"], expect_seq=0)
    assert (conflict.value.expected, conflict.value.actual) == (0, 1)
    assert await store.read_log("audit") == [LogEntry(1, b"a")]
