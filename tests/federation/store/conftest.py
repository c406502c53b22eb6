"""Every store test runs against memory, sqlite and a real redis-server alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import count
from pathlib import Path

import pytest
from redis.asyncio import Redis

from federation.store import MemoryStore, RedisStore, SqliteStore, Store
from tests.support.redis_server import RedisServer, redis_server_fixture

BACKENDS = ("memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis))

StoreFactory = Callable[..., Awaitable[Store]]

redis_server = redis_server_fixture()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def make_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[StoreFactory]:
    """Makes fresh, empty stores of the test's backend; closes them all afterwards."""
    opened: list[Store] = []
    numbers = count(1)
    server: RedisServer | None = None
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        async with Redis.from_url(server.url) as admin:
            await admin.flushdb()

    async def make(*, history_limit: int = 10_000) -> Store:
        number = next(numbers)
        store: Store
        if backend == "memory":
            store = MemoryStore(history_limit=history_limit)
        elif backend == "sqlite":
            store = SqliteStore(
                tmp_path / f"store{number}.db", history_limit=history_limit, poll_interval=0.05
            )
        else:
            assert server is not None
            store = RedisStore.from_url(
                server.url,
                where=server.url,
                namespace=f"test{number}",
                history_limit=history_limit,
            )
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> Store:
    return await make_store()
