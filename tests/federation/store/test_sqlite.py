"""What only the SQLite backend promises: a durable file, shared safely between processes."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from federation.store import ConflictError, SqliteStore, StoreUnavailableError, open_store
from tests.federation.store.helpers import next_event, take, watching

REPO_ROOT = Path(__file__).resolve().parents[3]


async def run_writer(url: str, key: str, value: str, *, linger: bool) -> asyncio.subprocess.Process:
    """Start the writer process and return once it has reported its put as done."""
    args = [sys.executable, "-m", "tests.federation.store.sqlite_writer", url, key, value]
    process = await asyncio.create_subprocess_exec(
        *([*args, "--linger"] if linger else args), cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line == b"ok\n"
    return process


async def test_a_put_survives_sigkill_right_after_it_returned(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    writer = await run_writer(f"sqlite:///{path}", "config/x", "durable", linger=True)
    writer.kill()
    await writer.wait()
    reopened = SqliteStore(path)
    try:
        record = await reopened.get("config/x")
        assert record is not None and record.value == b"durable"
    finally:
        await reopened.close()


async def test_watch_sees_writes_from_another_process_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, poll_interval=0.05)
    try:
        await store.put("cfg/local", b"1")
        async with watching(store, "cfg/") as events:
            assert (await take(events, 1))[0].key == "cfg/local"
            writer = await run_writer(f"sqlite:///{path}", "cfg/remote", "2", linger=False)
            await writer.wait()
            event = (await take(events, 1))[0]
        assert (event.key, event.value, event.revision) == ("cfg/remote", b"2", 2)
    finally:
        await store.close()


async def test_watchers_in_this_process_get_writes_without_waiting_for_the_poll(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "state.db", poll_interval=60.0)
    try:
        async with watching(store, "k/") as events:
            pending = next_event(events)
            done, _ = await asyncio.wait({pending}, timeout=0.2)
            assert not done
            written = await store.put("k/a", b"1")
            assert (await asyncio.wait_for(pending, 5)).revision == written.revision
    finally:
        await store.close()


async def test_two_connections_on_one_file_share_revisions_and_lose_no_update(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    replicas = [SqliteStore(path), SqliteStore(path)]
    try:
        await replicas[0].put("counter", b"0")

        async def increment(store: SqliteStore) -> None:
            while True:
                current = await store.get("counter")
                assert current is not None
                following = str(int(current.value) + 1).encode()
                try:
                    await store.put("counter", following, expect_revision=current.revision)
                    return
                except ConflictError:
                    continue

        await asyncio.gather(*(increment(replicas[i % 2]) for i in range(40)))
        final = await replicas[1].get("counter")
        assert final is not None and final.value == b"40"
        assert final.revision == 41 == await replicas[0].revision()
    finally:
        for replica in replicas:
            await replica.close()


async def test_reopening_the_file_keeps_records_revision_logs_leases_and_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    first = SqliteStore(path)
    await first.put("k", b"v")
    await first.append("audit", b"one")
    lease = await first.acquire_lease("leader", "a", 30.0)
    assert lease is not None
    await first.release_lease(lease)
    await first.close()

    second = SqliteStore(path)
    try:
        assert await second.revision() == 1
        assert (await second.put("k2", b"w")).revision == 2
        assert (await second.append("audit", b"two")).seq == 2
        handed_over = await second.acquire_lease("leader", "b", 30.0)
        assert handed_over is not None and handed_over.token > lease.token
        async with watching(second, "") as events:
            assert [e.key for e in await take(events, 2)] == ["k", "k2"]
    finally:
        await second.close()


async def test_a_write_waiting_for_the_file_lock_does_not_block_the_event_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    await store.ping()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        put = asyncio.create_task(store.put("k", b"v"))
        ticks = 0
        while ticks < 10:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not put.done(), "the put should still be waiting for the other writer"
        blocker.execute("COMMIT")
        assert (await asyncio.wait_for(put, 10)).revision == 1
    finally:
        blocker.close()
        await store.close()


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.ping()
    await store.close()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_open_store_creates_missing_parent_folders_for_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///./nested/dir/state.db")
    try:
        await store.put("k", b"v")
    finally:
        await store.close()
    assert (tmp_path / "nested" / "dir" / "state.db").is_file()


async def test_open_store_accepts_an_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "state.db"
    store = open_store(f"sqlite:///{path}")
    try:
        await store.put("k", b"v")
    finally:
        await store.close()
    assert path.is_file()


async def test_a_file_that_is_not_a_database_is_reported_as_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    store = SqliteStore(path)
    try:
        with pytest.raises(StoreUnavailableError, match=str(path)):
            await store.ping()
    finally:
        await store.close()


async def test_a_path_under_a_regular_file_is_reported_as_unavailable(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    store = SqliteStore(tmp_path / "plain" / "state.db")
    try:
        with pytest.raises(StoreUnavailableError, match="writable path"):
            await store.ping()
    finally:
        await store.close()


async def test_a_closed_store_refuses_operations(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.put("k", b"v")
    await store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.get("k")
