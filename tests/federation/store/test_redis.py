"""What only the Redis backend promises: a dead or hung Redis fails fast, and recovery works."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from federation.store import (
    ChangeEvent,
    ChangeKind,
    RedisStore,
    StoreUnavailableError,
    WatchExpiredError,
    open_store,
)
from tests.federation.store.helpers import eventually, take, watching
from tests.support.redis_server import RedisServer, redis_server_fixture

pytestmark = pytest.mark.redis

# The store promises about two seconds; the rest is slack for a busy test machine.
FAIL_FAST = 3.5

redis_outage_server = redis_server_fixture(scope="function", name="redis_outage_server")
redis_password_server = redis_server_fixture(
    scope="function", name="redis_password_server", password="sesame"
)
redis_durable_server = redis_server_fixture(
    scope="function", name="redis_durable_server", persistence=True
)


@pytest.fixture
async def outage_store(redis_outage_server: RedisServer) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(redis_outage_server.url, where=redis_outage_server.url)
    yield store
    await store.close()


def operations(store: RedisStore) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    async def first_watch_event() -> Any:
        async with watching(store, "") as events:
            return await take(events, 1, within=30)

    return [
        ("ping", store.ping),
        ("get", lambda: store.get("k")),
        ("put", lambda: store.put("k", b"v")),
        ("delete", lambda: store.delete("k")),
        ("list_prefix", lambda: store.list_prefix("")),
        ("revision", store.revision),
        ("append", lambda: store.append("audit", b"x")),
        ("read_log", lambda: store.read_log("audit")),
        ("acquire_lease", lambda: store.acquire_lease("leader", "a", 5.0)),
        ("watch", first_watch_event),
    ]


async def assert_every_operation_fails_fast(store: RedisStore, server: RedisServer) -> None:
    for name, operation in operations(store):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=re.escape(f"127.0.0.1:{server.port}")):
            await operation()
        elapsed = time.monotonic() - started
        assert elapsed < FAIL_FAST, f"{name} took {elapsed:.1f}s to report the outage"


async def test_a_stopped_redis_fails_every_operation_fast_and_recovers(
    outage_store: RedisStore, redis_outage_server: RedisServer
) -> None:
    await outage_store.put("k", b"before")
    redis_outage_server.stop()
    await assert_every_operation_fails_fast(outage_store, redis_outage_server)

    redis_outage_server.start()
    await eventually(lambda: _answers(outage_store))
    written = await outage_store.put("k", b"after")
    assert await outage_store.get("k") == written
    assert (await outage_store.append("audit", b"x")).seq == 1


async def test_a_hung_redis_fails_operations_within_the_bound(
    outage_store: RedisStore, redis_outage_server: RedisServer
) -> None:
    await outage_store.put("k", b"v")
    redis_outage_server.freeze()
    try:
        for name, operation in operations(outage_store)[:2]:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                await operation()
            assert time.monotonic() - started < FAIL_FAST, f"{name} hung on a frozen Redis"
    finally:
        redis_outage_server.thaw()
    record = await eventually(lambda: _get_when_answering(outage_store))
    assert record == b"v"


async def test_a_watcher_cut_off_by_a_crash_resumes_from_its_last_revision(
    redis_durable_server: RedisServer,
) -> None:
    server = redis_durable_server
    store = RedisStore.from_url(server.url, where=server.url)
    try:
        await store.put("w/a", b"1")
        async with watching(store, "w/") as events:
            seen = await take(events, 1)
            server.kill()
            with pytest.raises(StoreUnavailableError):
                await take(events, 1)
        server.start()
        await eventually(lambda: _answers(store))
        written = await store.put("w/b", b"2")
        assert written.revision == seen[-1].revision + 1
        async with watching(store, "w/", since_revision=seen[-1].revision) as events:
            assert await take(events, 1) == [
                ChangeEvent(ChangeKind.PUT, "w/b", b"2", written.revision)
            ]
    finally:
        await store.close()


async def test_a_watch_past_what_a_restarted_redis_remembers_expires(
    outage_store: RedisStore, redis_outage_server: RedisServer
) -> None:
    for key in ("a", "b", "c"):
        await outage_store.put(key, b"v")
    redis_outage_server.stop()
    redis_outage_server.start()  # no persistence: the revision starts again from zero
    await eventually(lambda: _answers(outage_store))
    await outage_store.put("d", b"v")
    async with watching(outage_store, "", since_revision=3) as events:
        with pytest.raises(WatchExpiredError, match="lost writes"):
            await take(events, 1)


async def test_open_store_reads_a_redis_url(redis_server: RedisServer) -> None:
    store = open_store(redis_server.url.replace("/0", "/3"))
    try:
        written = await store.put("url/k", b"v")
        assert await store.get("url/k") == written
    finally:
        await store.close()


async def test_a_wrong_password_is_reported_as_such(redis_password_server: RedisServer) -> None:
    assert ":sesame@" in redis_password_server.url
    good = open_store(redis_password_server.url)
    bad = open_store(redis_password_server.url.replace("sesame", "wrong"))
    try:
        await good.put("k", b"v")
        with pytest.raises(StoreUnavailableError, match="right password") as caught:
            await bad.get("k")
        assert "wrong" not in str(caught.value)
    finally:
        await good.close()
        await bad.close()


async def test_a_full_redis_refuses_writes_as_unavailable_and_keeps_what_it_had() -> None:
    with RedisServer(extra_args=("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")) as full:
        store = open_store(full.url)
        try:
            before = await store.put("k", b"old")
            filler = b"x" * 64 * 1024
            with pytest.raises(StoreUnavailableError, match="maxmemory") as caught:
                for i in range(1_000):  # 64 MiB, far past the 2 MiB limit
                    await store.put(f"fill/{i}", filler)
            assert "is full" in str(caught.value)
            # As large as the one refused: a small write may fit once its buffers are freed.
            with pytest.raises(StoreUnavailableError, match="is full"):
                await store.put("k", filler, expect_revision=before.revision)
            assert await store.get("k") == before
        finally:
            await store.close()


async def _answers(store: RedisStore) -> bool | None:
    try:
        await store.ping()
    except StoreUnavailableError:
        return None
    return True


async def _get_when_answering(store: RedisStore) -> bytes | None:
    try:
        record = await store.get("k")
    except StoreUnavailableError:
        return None
    return None if record is None else record.value


def test_a_test_server_whose_free_port_was_taken_meanwhile_moves_to_another() -> None:
    # Two test runs on one machine can draw the same "free" port; the second must not take
    # the first's server for its own.
    with RedisServer() as first:
        second = RedisServer()
        second.port = first.port
        with second:
            assert second.port != first.port
            assert first.running and second.running
