"""The embedded store: one SQLite file in WAL mode, durable on every commit.

All SQLite work runs on one dedicated worker thread that owns the connection, so the event loop
never blocks and the store needs no lock of its own. Writers take ``BEGIN IMMEDIATE`` so that
several processes sharing the file serialize on SQLite's write lock; the revision counter lives
in the same transaction as the write, which keeps revisions gap-free and ordered across them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from federation.store.base import (
    ChangeEvent,
    ChangeKind,
    ConflictError,
    Lease,
    LogEntry,
    Record,
    StoreUnavailableError,
)
from federation.store.feed import ChangeSignal, follow
from federation.store.leases import check_fence, check_lease_request, grant_lease, released

T = TypeVar("T")

DEFAULT_HISTORY = 10_000
# Watchers see this process's writes at once; this bounds how late they see other processes'.
DEFAULT_POLL_INTERVAL = 0.2
_WATCH_BATCH = 1_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    revision INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB
);
CREATE TABLE IF NOT EXISTS logs (
    log TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (log, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL, expires_at REAL NOT NULL
);
"""


class SqliteStore:
    def __init__(
        self,
        path: str | Path,
        *,
        history_limit: int = DEFAULT_HISTORY,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        busy_timeout: float = 5.0,
    ) -> None:
        if history_limit < 1:
            raise ValueError(f"history_limit {history_limit} must be at least 1")
        self._path = Path(path)
        self._history_limit = history_limit
        self._poll_interval = poll_interval
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meshfed-sqlite")
        self._conn: sqlite3.Connection | None = None  # touched only on the worker thread
        self._signal = ChangeSignal()
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    async def _run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreUnavailableError(f"sqlite store {self._path} is closed: open it again")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._on_worker, job)
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailableError(
                f"sqlite store {self._path}: {exc}; check that the file is a meshfed database "
                "on a writable disk and that no other program holds a long write lock on it"
            ) from exc
        except OSError as exc:
            raise StoreUnavailableError(
                f"sqlite store {self._path}: cannot create its folder: {exc}; "
                "choose a writable path in the store URL"
            ) from exc

    def _on_worker(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._connect()
        return job(self._conn)

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode!r}, WAL is required")
            # FULL fsyncs the WAL on every commit: a write that returned survives a power cut.
            conn.execute("PRAGMA synchronous=FULL")
            # executescript commits any open transaction first, so the script carries its own.
            conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        except BaseException:
            conn.close()
            raise
        return conn

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def get(self, key: str) -> Record | None:
        def job(conn: sqlite3.Connection) -> Record | None:
            row = conn.execute("SELECT value, revision FROM kv WHERE key = ?", (key,)).fetchone()
            return None if row is None else Record(key=key, value=row[0], revision=row[1])

        return await self._run(job)

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expect_revision: int | None = None,
        fence: Lease | None = None,
    ) -> Record:
        data = bytes(value)

        def job(conn: sqlite3.Connection) -> Record:
            with _immediate(conn):
                self._check_write(conn, key, expect_revision, fence)
                revision = self._record(conn, ChangeKind.PUT, key, data)
                conn.execute(
                    "INSERT INTO kv (key, value, revision) VALUES (?, ?, ?) ON CONFLICT (key) "
                    "DO UPDATE SET value = excluded.value, revision = excluded.revision",
                    (key, data, revision),
                )
            return Record(key=key, value=data, revision=revision)

        record = await self._run(job)
        self._signal.notify()
        return record

    async def delete(
        self, key: str, *, expect_revision: int | None = None, fence: Lease | None = None
    ) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            with _immediate(conn):
                if not self._check_write(conn, key, expect_revision, fence):
                    return False
                self._record(conn, ChangeKind.DELETE, key, None)
                conn.execute("DELETE FROM kv WHERE key = ?", (key,))
            return True

        deleted = await self._run(job)
        if deleted:
            self._signal.notify()
        return deleted

    def _check_write(
        self,
        conn: sqlite3.Connection,
        key: str,
        expect_revision: int | None,
        fence: Lease | None,
    ) -> int:
        """The key's current revision (0 when absent), once the fence and CAS allow the write."""
        if fence is not None:
            check_fence(_lease_row(conn, fence.name), fence, key, time.time())
        row = conn.execute("SELECT revision FROM kv WHERE key = ?", (key,)).fetchone()
        actual: int = 0 if row is None else row[0]
        if expect_revision is not None and expect_revision != actual:
            raise ConflictError(key, expect_revision, actual)
        return actual

    def _record(
        self, conn: sqlite3.Connection, kind: ChangeKind, key: str, value: bytes | None
    ) -> int:
        revision: int = conn.execute(
            "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO changes (revision, kind, key, value) VALUES (?, ?, ?, ?)",
            (revision, kind.value, key, value),
        )
        conn.execute("DELETE FROM changes WHERE revision <= ?", (revision - self._history_limit,))
        return revision

    async def list_prefix(self, prefix: str) -> list[Record]:
        def job(conn: sqlite3.Connection) -> list[Record]:
            records = []
            # Range scan from the prefix on the key index; the first key past it ends the run.
            rows = conn.execute(
                "SELECT key, value, revision FROM kv WHERE key >= ? ORDER BY key", (prefix,)
            )
            for key, value, revision in rows:
                if not key.startswith(prefix):
                    break
                records.append(Record(key=key, value=value, revision=revision))
            return records

        return await self._run(job)

    async def revision(self) -> int:
        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()
            return int(row[0])

        return await self._run(job)

    def watch(self, prefix: str, *, since_revision: int = 0) -> AsyncGenerator[ChangeEvent, None]:
        return follow(prefix, since_revision, self._next_batch)

    async def _next_batch(self, cursor: int) -> list[ChangeEvent]:
        changed = self._signal.current()

        def job(conn: sqlite3.Connection) -> list[ChangeEvent]:
            rows = conn.execute(
                "SELECT revision, kind, key, value FROM changes WHERE revision > ? "
                "ORDER BY revision LIMIT ?",
                (cursor, _WATCH_BATCH),
            )
            return [
                ChangeEvent(ChangeKind(kind), key, value, rev) for rev, kind, key, value in rows
            ]

        batch = await self._run(job)
        if not batch:
            try:
                async with asyncio.timeout(self._poll_interval):
                    await changed.wait()
            except TimeoutError:
                pass
        return batch

    async def append(self, log: str, data: bytes, *, expect_seq: int | None = None) -> LogEntry:
        (entry,) = await self.append_many(log, [data], expect_seq=expect_seq)
        return entry

    async def append_many(
        self, log: str, data: Sequence[bytes], *, expect_seq: int | None = None
    ) -> list[LogEntry]:
        items = [bytes(item) for item in data]

        def job(conn: sqlite3.Connection) -> list[LogEntry]:
            with _immediate(conn):
                length: int = conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM logs WHERE log = ?", (log,)
                ).fetchone()[0]
                if expect_seq is not None and expect_seq != length:
                    raise ConflictError(f"log {log}", expect_seq, length)
                entries = [LogEntry(length + i, item) for i, item in enumerate(items, start=1)]
                conn.executemany(
                    "INSERT INTO logs (log, seq, data) VALUES (?, ?, ?)",
                    [(log, entry.seq, entry.data) for entry in entries],
                )
            return entries

        return await self._run(job)

    async def read_log(self, log: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        def job(conn: sqlite3.Connection) -> list[LogEntry]:
            rows = conn.execute(
                "SELECT seq, data FROM logs WHERE log = ? AND seq > ? ORDER BY seq LIMIT ?",
                (log, after, max(limit, 0)),
            )
            return [LogEntry(seq=seq, data=data) for seq, data in rows]

        return await self._run(job)

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        check_lease_request(name, holder, ttl)

        def job(conn: sqlite3.Connection) -> Lease | None:
            with _immediate(conn):
                lease = grant_lease(_lease_row(conn, name), name, holder, ttl, time.time())
                if lease is not None:
                    _store_lease(conn, lease)
            return lease

        return await self._run(job)

    async def release_lease(self, lease: Lease) -> None:
        def job(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                after = released(_lease_row(conn, lease.name), lease)
                if after is not None:
                    _store_lease(conn, after)

        await self._run(job)

    async def close(self) -> None:
        if self._closed:
            return

        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        finally:
            self._executor.shutdown(wait=False)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT can leave the transaction open; the next BEGIN would then fail too.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _lease_row(conn: sqlite3.Connection, name: str) -> Lease | None:
    row = conn.execute(
        "SELECT holder, token, expires_at FROM leases WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else Lease(name=name, holder=row[0], token=row[1], expires_at=row[2])


def _store_lease(conn: sqlite3.Connection, lease: Lease) -> None:
    conn.execute(
        "INSERT INTO leases (name, holder, token, expires_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, "
        "expires_at = excluded.expires_at",
        (lease.name, lease.holder, lease.token, lease.expires_at),
    )
