"""The in-process store: everything in dicts, for tests and ``meshfed demo``.

Operations never await in the middle, so on one event loop each one is atomic without a lock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from itertools import islice

from federation.store.base import (
    ChangeEvent,
    ChangeKind,
    ConflictError,
    Lease,
    LogEntry,
    Record,
)
from federation.store.feed import ChangeSignal, follow
from federation.store.leases import check_fence, check_lease_request, grant_lease, released

DEFAULT_HISTORY = 10_000
_WATCH_BATCH = 1_000


class MemoryStore:
    def __init__(self, *, history_limit: int = DEFAULT_HISTORY) -> None:
        if history_limit < 1:
            raise ValueError(f"history_limit {history_limit} must be at least 1")
        self._records: dict[str, Record] = {}
        self._revision = 0
        self._history: deque[ChangeEvent] = deque(maxlen=history_limit)
        self._logs: dict[str, list[bytes]] = {}
        self._leases: dict[str, Lease] = {}
        self._signal = ChangeSignal()

    async def ping(self) -> None:
        return None

    async def get(self, key: str) -> Record | None:
        return self._records.get(key)

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expect_revision: int | None = None,
        fence: Lease | None = None,
    ) -> Record:
        self._check_write(key, expect_revision, fence)
        revision = self._record(ChangeEvent(ChangeKind.PUT, key, bytes(value), self._revision + 1))
        record = Record(key=key, value=bytes(value), revision=revision)
        self._records[key] = record
        return record

    async def delete(
        self, key: str, *, expect_revision: int | None = None, fence: Lease | None = None
    ) -> bool:
        self._check_write(key, expect_revision, fence)
        if key not in self._records:
            return False
        del self._records[key]
        self._record(ChangeEvent(ChangeKind.DELETE, key, None, self._revision + 1))
        return True

    def _check_write(self, key: str, expect_revision: int | None, fence: Lease | None) -> None:
        if fence is not None:
            check_fence(self._leases.get(fence.name), fence, key, time.time())
        current = self._records.get(key)
        actual = current.revision if current else 0
        if expect_revision is not None and expect_revision != actual:
            raise ConflictError(key, expect_revision, actual)

    def _record(self, event: ChangeEvent) -> int:
        self._revision = event.revision
        self._history.append(event)
        self._signal.notify()
        return event.revision

    async def list_prefix(self, prefix: str) -> list[Record]:
        return [self._records[k] for k in sorted(self._records) if k.startswith(prefix)]

    async def revision(self) -> int:
        return self._revision

    def watch(self, prefix: str, *, since_revision: int = 0) -> AsyncGenerator[ChangeEvent, None]:
        return follow(prefix, since_revision, self._next_batch)

    async def _next_batch(self, cursor: int) -> list[ChangeEvent]:
        while not self._history or self._history[-1].revision <= cursor:
            await self._signal.current().wait()
        start = max(0, cursor + 1 - self._history[0].revision)
        return list(islice(self._history, start, start + _WATCH_BATCH))

    async def append(self, log: str, data: bytes, *, expect_seq: int | None = None) -> LogEntry:
        (entry,) = await self.append_many(log, [data], expect_seq=expect_seq)
        return entry

    async def append_many(
        self, log: str, data: Sequence[bytes], *, expect_seq: int | None = None
    ) -> list[LogEntry]:
        entries = self._logs.setdefault(log, [])
        if expect_seq is not None and expect_seq != len(entries):
            raise ConflictError(f"log {log}", expect_seq, len(entries))
        start = len(entries)
        entries.extend(bytes(item) for item in data)
        return [LogEntry(seq, entries[seq - 1]) for seq in range(start + 1, len(entries) + 1)]

    async def read_log(self, log: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        entries = self._logs.get(log, [])
        start = max(after, 0)
        return [
            LogEntry(seq=seq, data=data)
            for seq, data in enumerate(entries[start : start + max(limit, 0)], start=start + 1)
        ]

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        check_lease_request(name, holder, ttl)
        lease = grant_lease(self._leases.get(name), name, holder, ttl, time.time())
        if lease is not None:
            self._leases[name] = lease
        return lease

    async def release_lease(self, lease: Lease) -> None:
        after = released(self._leases.get(lease.name), lease)
        if after is not None:
            self._leases[lease.name] = after

    async def close(self) -> None:
        return None
