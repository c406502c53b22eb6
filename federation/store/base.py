"""The one storage interface every backend implements.

Revisions are global and monotonic across all keys of a store (like etcd's), so a watcher can
resume from the last revision it saw and a compare-and-set names exactly the state it read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class StoreError(Exception):
    """Base class for every store failure a caller may handle."""


class StoreUnavailableError(StoreError):
    """The backend cannot be reached; nothing was written."""


class ConflictError(StoreError):
    """A compare-and-set lost: the key's revision is not the one the caller expected."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(
            f"{key!r} is at revision {actual}, not {expected}: re-read it and retry the write"
        )
        self.key = key
        self.expected = expected
        self.actual = actual


class FencedError(StoreError):
    """A write carried a fencing token from a lease that is no longer current."""


class WatchExpiredError(StoreError):
    """The requested resume revision is older than the history the store keeps."""


@dataclass(frozen=True, slots=True)
class Record:
    key: str
    value: bytes
    revision: int  # the store revision of the write that produced this value


class ChangeKind(Enum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    kind: ChangeKind
    key: str
    value: bytes | None  # None for deletes
    revision: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int  # 1-based, gap-free per log
    data: bytes


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    token: int  # fencing token: strictly increases every time the lease changes hands
    expires_at: float  # wall-clock seconds since the epoch


class Store(Protocol):
    """Versioned key-value state, change events, append-only logs and leases."""

    async def ping(self) -> None:
        """Raise StoreUnavailableError when the backend cannot be reached."""

    async def get(self, key: str) -> Record | None: ...

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expect_revision: int | None = None,
        fence: Lease | None = None,
    ) -> Record:
        """Write ``value``. ``expect_revision``: None writes unconditionally, 0 requires that the
        key does not exist, N requires the key to be at revision N (else ConflictError).
        ``fence``: the write succeeds only while that lease is still held with that token
        (else FencedError)."""

    async def delete(
        self, key: str, *, expect_revision: int | None = None, fence: Lease | None = None
    ) -> bool:
        """Remove ``key``; False when it did not exist."""

    async def list_prefix(self, prefix: str) -> list[Record]:
        """Every record whose key starts with ``prefix``, ordered by key."""

    async def revision(self) -> int:
        """The store's current revision (0 for an empty store)."""

    def watch(self, prefix: str, *, since_revision: int = 0) -> AsyncGenerator[ChangeEvent, None]:
        """Change events for keys under ``prefix`` with revision > ``since_revision``, in
        revision order, first the ones already recorded, then live ones as they happen."""
        ...

    async def append(self, log: str, data: bytes, *, expect_seq: int | None = None) -> LogEntry:
        """Add an entry at the end of ``log``. With ``expect_seq``, only while the log holds
        exactly that many entries (else ConflictError, nothing written): a writer that
        chains each entry to the one before can append without any lock."""

    async def append_many(
        self, log: str, data: Sequence[bytes], *, expect_seq: int | None = None
    ) -> list[LogEntry]:
        """``append`` for several entries at once, consecutive and all or none: a writer that
        must not leave half a batch behind appends it in one step."""

    async def read_log(self, log: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        """Entries with seq > ``after``, oldest first, at most ``limit``."""

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        """Take or renew ``name`` for ``holder``; None while another holder's lease is live."""

    async def release_lease(self, lease: Lease) -> None: ...

    async def close(self) -> None: ...
