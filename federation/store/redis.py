"""The shared store: Redis through redis-py's asyncio client, for several replicas.

Every check-and-write is a Lua script (see redis_scripts), so compare-and-set, the fencing check,
the revision bump and the change event happen in one atomic step. The change history is a
Stream whose entry ids are the revisions themselves, trimmed to ``history_limit`` entries.
All keys share one hash tag, so a Redis Cluster would place them in one slot.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, OutOfMemoryError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from federation.store import redis_scripts
from federation.store.base import (
    ChangeEvent,
    ChangeKind,
    ConflictError,
    Lease,
    LogEntry,
    Record,
    StoreUnavailableError,
    WatchExpiredError,
)
from federation.store.feed import follow
from federation.store.leases import check_lease_request, fenced_error

DEFAULT_HISTORY = 10_000
_WATCH_BATCH = 1_000
# A dead or frozen Redis must surface as StoreUnavailableError in about two seconds: connects
# and replies give up after 1.5, every call after 2, and XREAD blocks for less than the reply
# timeout. A connect bound much under a second failed healthy connects whenever the process
# paused (a full garbage collection of a large heap takes most of a second).
CONNECT_TIMEOUT = 1.5
REPLY_TIMEOUT = 1.5
OPERATION_TIMEOUT = 2.0
_WATCH_BLOCK_MS = 500


def client_options() -> dict[str, Any]:
    """Connection settings for every client the store makes, including Sentinel's."""
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": REPLY_TIMEOUT,
        # No silent resend: a script whose reply was lost may already have run, and running an
        # append or an unconditional put twice would record it twice.
        "retry": Retry(NoBackoff(), 0),
        "protocol": 2,
    }


class RedisStore:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        where: str,
        namespace: str = "meshfed",
        history_limit: int = DEFAULT_HISTORY,
        also_close: Sequence[aioredis.Redis] = (),
    ) -> None:
        """``where`` names the server in error messages (never include a password);
        ``also_close`` are helper clients (Sentinel's) closed along with ``client``."""
        if history_limit < 1:
            raise ValueError(f"history_limit {history_limit} must be at least 1")
        self._client = client
        self._where = where
        self._history_limit = history_limit
        self._also_close = tuple(also_close)
        tag = "{" + namespace + "}:"
        self._record_prefix = tag + "kv:"
        self._revision_key = tag + "revision"
        self._changes_key = tag + "changes"
        self._index_key = tag + "keys"
        self._lease_prefix = tag + "lease:"
        self._log_prefix = tag + "log:"
        self._write = client.register_script(redis_scripts.WRITE)
        self._list = client.register_script(redis_scripts.LIST)
        self._acquire = client.register_script(redis_scripts.ACQUIRE)
        self._release = client.register_script(redis_scripts.RELEASE)
        self._append_at = client.register_script(redis_scripts.APPEND_AT)

    @classmethod
    def from_url(cls, url: str, *, where: str, **options: Any) -> RedisStore:
        """``redis://`` or ``rediss://`` as redis-py reads them (password, db, TLS query)."""
        client = aioredis.Redis.from_url(url, **client_options())
        return cls(client, where=where, **options)

    @classmethod
    def from_sentinel(
        cls,
        sentinels: Sequence[tuple[str, int]],
        service: str,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        where: str,
        **options: Any,
    ) -> RedisStore:
        """The master of ``service`` as the Sentinels report it; it follows failovers."""
        # redis-py leaves Sentinel's constructor unannotated.
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(sentinels), sentinel_kwargs=client_options(), **client_options()
        )
        client: aioredis.Redis = sentinel.master_for(
            service, db=db, username=username, password=password
        )
        return cls(client, where=where, also_close=sentinel.sentinels, **options)

    @contextmanager
    def _reaching(self, what: str) -> Iterator[None]:
        try:
            yield
        except AuthenticationError as exc:
            raise StoreUnavailableError(
                f"Redis store at {self._where} refused {what}: {exc}; put the right password "
                "in the store URL (redis://:PASSWORD@HOST:PORT/DB)"
            ) from exc
        except OutOfMemoryError as exc:
            # Redis refuses the whole command or script, so nothing was half written.
            raise StoreUnavailableError(
                f"Redis store at {self._where} is full and refused {what} ({exc}); raise its "
                "maxmemory, and keep maxmemory-policy noeviction so that meshfed's state is "
                "never evicted"
            ) from exc
        except (RedisConnectionError, RedisTimeoutError, ReadOnlyError, TimeoutError) as exc:
            raise StoreUnavailableError(
                f"Redis store at {self._where} did not answer {what} "
                f"({type(exc).__name__}: {exc or 'no reply in time'}); check that Redis is "
                "running and reachable, or point the store URL at one that is"
            ) from exc

    async def _call(self, what: str, awaitable: Any) -> Any:
        with self._reaching(what):
            async with asyncio.timeout(OPERATION_TIMEOUT):
                return await awaitable

    async def ping(self) -> None:
        await self._call("PING", self._client.ping())

    async def get(self, key: str) -> Record | None:
        value, revision = await self._call(
            f"get {key!r}", self._client.hmget(self._record_prefix + key, ["v", "r"])
        )
        if revision is None:
            return None
        return Record(key=key, value=value, revision=int(revision))

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expect_revision: int | None = None,
        fence: Lease | None = None,
    ) -> Record:
        data = bytes(value)
        revision = await self._write_op("put", key, data, expect_revision, fence)
        return Record(key=key, value=data, revision=revision)

    async def delete(
        self, key: str, *, expect_revision: int | None = None, fence: Lease | None = None
    ) -> bool:
        return await self._write_op("delete", key, b"", expect_revision, fence) > 0

    async def _write_op(
        self, op: str, key: str, data: bytes, expect_revision: int | None, fence: Lease | None
    ) -> int:
        """The new revision, or 0 for a delete of a missing key."""
        reply = await self._call(
            f"{op} {key!r}",
            self._write(
                keys=[
                    self._record_prefix + key,
                    self._revision_key,
                    self._changes_key,
                    self._index_key,
                    self._lease_prefix + (fence.name if fence else ""),
                ],
                args=[
                    op,
                    key,
                    data,
                    "" if expect_revision is None else expect_revision,
                    self._history_limit,
                    fence.holder if fence else "",
                    fence.token if fence else 0,
                ],
            ),
        )
        outcome = reply[0]
        if outcome == b"conflict":
            raise ConflictError(key, expect_revision or 0, int(reply[1]))
        if outcome == b"fenced" and fence is not None:
            holder = reply[1].decode()
            current = Lease(fence.name, holder, int(reply[2]), int(reply[3]) / 1000)
            raise fenced_error(current, fence, key)
        if outcome == b"missing":
            return 0
        return int(reply[1])

    async def list_prefix(self, prefix: str) -> list[Record]:
        if prefix:
            low, high = b"[" + prefix.encode(), b"[" + prefix.encode() + b"\xff"
        else:
            low, high = b"-", b"+"
        flat = await self._call(
            f"list {prefix!r}",
            self._list(keys=[self._index_key], args=[self._record_prefix, low, high]),
        )
        return [
            Record(key=flat[i].decode(), value=flat[i + 1], revision=int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    async def revision(self) -> int:
        current = await self._call("GET revision", self._client.get(self._revision_key))
        return 0 if current is None else int(current)

    def watch(self, prefix: str, *, since_revision: int = 0) -> AsyncGenerator[ChangeEvent, None]:
        return follow(prefix, since_revision, self._next_batch)

    async def _next_batch(self, cursor: int) -> list[ChangeEvent]:
        reply = await self._call(
            "XREAD on the change stream",
            self._client.xread(
                {self._changes_key: f"{cursor}-0"}, count=_WATCH_BATCH, block=_WATCH_BLOCK_MS
            ),
        )
        if not reply:
            # Redis may lose acknowledged writes (a restart without persistence, a failover to a
            # lagging replica); its revision then restarts below what a watcher has seen, and
            # new events would hide behind that watcher's cursor forever.
            head = await self.revision()
            if head < cursor:
                raise WatchExpiredError(
                    f"Redis store at {self._where} is at revision {head}, behind revision "
                    f"{cursor} a watcher already saw: Redis lost writes; re-list the keys, "
                    "then watch from the current revision"
                )
            return []
        _stream, entries = reply[0]
        return [_change_event(entry_id, fields) for entry_id, fields in entries]

    async def append(self, log: str, data: bytes, *, expect_seq: int | None = None) -> LogEntry:
        (entry,) = await self.append_many(log, [data], expect_seq=expect_seq)
        return entry

    async def append_many(
        self, log: str, data: Sequence[bytes], *, expect_seq: int | None = None
    ) -> list[LogEntry]:
        items = [bytes(item) for item in data]
        if not items:
            return []  # RPUSH takes at least one value
        key = self._log_prefix + log
        if expect_seq is None:
            # RPUSH answers the list's new length atomically: the last entry's 1-based seq.
            last = await self._call(f"append to log {log!r}", self._client.rpush(key, *items))
            length = int(last) - len(items)
        else:
            answer = await self._call(
                f"append to log {log!r}",
                self._append_at(keys=[key], args=[expect_seq, *items]),
            )
            length = int(answer[1])
            if int(answer[0]) < 0:
                raise ConflictError(f"log {log}", expect_seq, length)
        return [LogEntry(length + i, item) for i, item in enumerate(items, start=1)]

    async def read_log(self, log: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        if limit <= 0:
            return []
        start = max(after, 0)
        items = await self._call(
            f"read log {log!r}",
            self._client.lrange(self._log_prefix + log, start, start + limit - 1),
        )
        return [LogEntry(seq=seq, data=data) for seq, data in enumerate(items, start=start + 1)]

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        check_lease_request(name, holder, ttl)
        # Redis judges expiry by its own clock; the holder is told an expiry on its own clock,
        # counted from before the request left, so it never believes it holds the lease longer
        # than Redis grants it, however far the two clocks drift apart.
        asked_at = time.time()
        token = await self._call(
            f"acquire lease {name!r}",
            self._acquire(
                keys=[self._lease_prefix + name], args=[holder, max(1, math.ceil(ttl * 1000))]
            ),
        )
        if not token:
            return None
        return Lease(name, holder, int(token), asked_at + ttl)

    async def release_lease(self, lease: Lease) -> None:
        await self._call(
            f"release lease {lease.name!r}",
            self._release(keys=[self._lease_prefix + lease.name], args=[lease.holder, lease.token]),
        )

    async def close(self) -> None:
        for client in (self._client, *self._also_close):
            await client.aclose()


def _change_event(entry_id: bytes, fields: dict[bytes, bytes]) -> ChangeEvent:
    revision = int(entry_id.split(b"-", 1)[0])
    kind = ChangeKind(fields[b"op"].decode())
    value = fields.get(b"v") if kind is ChangeKind.PUT else None
    return ChangeEvent(kind, fields[b"k"].decode(), value, revision)
