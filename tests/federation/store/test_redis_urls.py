"""open_store against real servers for the Redis URL forms beyond plain redis://."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from federation.store import StoreUnavailableError, open_store
from tests.federation.store.certs import write_loopback_tls
from tests.support.redis_server import (
    RedisSentinel,
    RedisServer,
    RedisServerMissingError,
    free_port,
)

pytestmark = pytest.mark.redis


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tls=write_loopback_tls(tmp_path)) as server:
        yield server


@pytest.fixture
def sentinel(redis_server: RedisServer) -> Iterator[RedisSentinel]:
    with RedisSentinel(redis_server) as running:
        yield running


async def test_rediss_url_talks_tls_to_a_server_that_only_speaks_tls(
    tls_server: RedisServer,
) -> None:
    assert tls_server.url.startswith("rediss://")
    store = open_store(tls_server.url)
    try:
        written = await store.put("tls/k", b"secret")
        assert await store.get("tls/k") == written
    finally:
        await store.close()


async def test_plain_redis_url_to_a_tls_port_is_unavailable_not_a_hang(
    tls_server: RedisServer,
) -> None:
    store = open_store(f"redis://127.0.0.1:{tls_server.port}/0")
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailableError):
            await store.ping()
    finally:
        await store.close()
    assert time.monotonic() - started < 3.5


async def test_sentinel_url_writes_to_the_master_the_sentinel_names(
    sentinel: RedisSentinel, redis_server: RedisServer
) -> None:
    store = open_store(sentinel.url.replace("/0", "/5"))
    try:
        written = await store.put("sentinel/k", b"v")
        assert await store.get("sentinel/k") == written
    finally:
        await store.close()
    async with Redis.from_url(redis_server.url.replace("/0", "/5")) as direct:
        assert await direct.hget("{meshfed}:kv:sentinel/k", "v") == b"v"


def test_a_missing_redis_server_binary_fails_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisServerMissingError, match=r"make test.*apt-get install redis-server"):
        RedisServer()


async def test_sentinel_url_with_no_sentinel_listening_is_unavailable() -> None:
    store = open_store(f"redis+sentinel://127.0.0.1:{free_port()}/mymaster/0")
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailableError, match=re.escape("sentinel 127.0.0.1")):
            await store.ping()
    finally:
        await store.close()
    assert time.monotonic() - started < 3.5
