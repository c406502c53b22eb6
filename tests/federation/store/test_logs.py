"""Append-only logs: gap-free 1-based sequence numbers per log, read in pages."""

from __future__ import annotations

import asyncio

from federation.store import LogEntry, Store


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
