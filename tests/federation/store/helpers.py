"""Small helpers the store tests share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from federation.store import ChangeEvent, Store

T = TypeVar("T")


async def take(events: AsyncIterator[T], n: int, within: float = 5.0) -> list[T]:
    async with asyncio.timeout(within):
        return [await anext(events) for _ in range(n)]


async def eventually(
    attempt: Callable[[], Awaitable[T | None]], *, within: float = 5.0, interval: float = 0.02
) -> T:
    """Poll ``attempt`` until it returns something other than None, or fail at the deadline."""
    deadline = time.monotonic() + within
    while True:
        result = await attempt()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no result within {within}s")
        await asyncio.sleep(interval)


@asynccontextmanager
async def watching(
    store: Store, prefix: str, *, since_revision: int = 0
) -> AsyncIterator[AsyncIterator[ChangeEvent]]:
    """A watch that is closed on exit, releasing whatever the backend holds for it."""
    events = store.watch(prefix, since_revision=since_revision)
    try:
        yield events
    finally:
        if isinstance(events, AsyncGenerator):
            await events.aclose()


def next_event(events: AsyncIterator[ChangeEvent]) -> asyncio.Task[ChangeEvent]:
    """The watch's next event, awaited in the background."""

    async def wait() -> ChangeEvent:
        return await anext(events)

    return asyncio.create_task(wait())
