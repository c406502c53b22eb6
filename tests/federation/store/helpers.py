"""Small helpers the store tests share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

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
