"""The store: one interface (base) and the backends behind it, chosen by URL."""

from __future__ import annotations

from federation.store.base import (
    ChangeEvent,
    ChangeKind,
    ConflictError,
    FencedError,
    Lease,
    LogEntry,
    Record,
    Store,
    StoreError,
    StoreUnavailableError,
    WatchExpiredError,
)
from federation.store.memory import MemoryStore
from federation.store.redis import RedisStore
from federation.store.sqlite import SqliteStore
from federation.store.url import (
    MemoryLocation,
    RedisLocation,
    SentinelLocation,
    SqliteLocation,
    StoreURLError,
    parse_store_url,
)

__all__ = [
    "ChangeEvent",
    "ChangeKind",
    "ConflictError",
    "FencedError",
    "Lease",
    "LogEntry",
    "MemoryStore",
    "Record",
    "RedisStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreURLError",
    "StoreUnavailableError",
    "WatchExpiredError",
    "open_store",
]


def open_store(url: str) -> Store:
    """The store ``url`` names. Nothing is contacted yet: call ``ping()`` to check it is
    reachable. Raises StoreURLError for a URL of no accepted form."""
    location = parse_store_url(url)
    match location:
        case MemoryLocation():
            return MemoryStore()
        case SqliteLocation(path=path):
            return SqliteStore(path)
        case RedisLocation(url=redis_url, where=where):
            try:
                return RedisStore.from_url(redis_url, where=where)
            except ValueError as exc:  # redis-py's own reading of the query options
                raise StoreURLError(url, str(exc)) from exc
        case SentinelLocation():
            return RedisStore.from_sentinel(
                location.sentinels,
                location.service,
                db=location.db,
                username=location.username,
                password=location.password,
                where=location.where,
            )
