"""Real meshfed servers on loopback for the routing tests, and a poll-with-deadline helper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp

from federation.model import Role
from federation.service import running_service
from tests.federation.api.conftest import Api, api_config

T = TypeVar("T")


@asynccontextmanager
async def serving(config_text: str, store_url: str | None = None) -> AsyncIterator[Api]:
    async with (
        running_service(api_config(config_text), store_url=store_url) as running,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        yield Api(running, session)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float, what: str
) -> tuple[T, float]:
    """Poll until ``probe`` returns something; the value and the seconds it took."""
    started = time.monotonic()
    while True:
        value = await probe()
        elapsed = time.monotonic() - started
        if value is not None:
            return value, elapsed
        if elapsed > within:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.02)


async def resolve(api: Api, query: str, role: Role = Role.VIEWER) -> dict[str, Any]:
    status, body, _ = await api.call("GET", f"/v1/resolve?{query}", role)
    assert status == 200, body
    return body
