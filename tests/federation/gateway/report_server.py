"""A real HTTP server on 127.0.0.1 that records the reports a gateway posts to one path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Body = dict[str, Any]


@dataclass
class ReportServer:
    url: str = ""
    posts: list[Body] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # Cleared, the server holds each request until it is set: a control plane that is slow.
    answer: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def report_server(
    path: str, reply: Callable[[Body], tuple[int, Body]] = lambda _: (200, {})
) -> AsyncIterator[ReportServer]:
    """Answers each POST to ``path`` with ``reply(body)``: (status, JSON body)."""
    server = ReportServer()
    server.answer.set()

    async def record(request: web.Request) -> web.Response:
        server.posts.append(await request.json())
        server.tokens.append(request.headers.get("Authorization", ""))
        server.arrived.set()
        await server.answer.wait()
        status, body = reply(server.posts[-1])
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post(path, record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        server.answer.set()
        await runner.cleanup()
