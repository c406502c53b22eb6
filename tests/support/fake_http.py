"""The cloud-neutral half of the local cloud fakes: a fault plan a test queues and the server
consumes, a request log, and an aiohttp server on 127.0.0.1 run in a thread of its own so the
synchronous cloud SDKs can be driven from ordinary code.

A fake subclasses ``FakeCloudBase`` with its API's routes, error body and page numbering.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    """What the next matching request(s) get. ``status`` 200 answers normally (after ``delay``)."""

    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    page: int | None = None  # only this page (1-based) of a listing
    path_contains: str = ""
    times: int | None = 1  # None: every matching request


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]


class FaultPlan:
    """Faults queued by a test thread and consumed by the server thread."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, path: str, page: int) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains not in path or fault.page not in (None, page):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None


@dataclass
class FakeCloudBase:
    """Request log, faults and the server loop shared by the cloud fakes."""

    faults: FaultPlan = field(default_factory=FaultPlan)
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""
    _stopping: asyncio.Event | None = None

    def error_body(self, status: int) -> dict[str, Any]:
        raise NotImplementedError

    def page_of(self, request: web.Request) -> int:
        raise NotImplementedError

    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.query)))
        fault = self.faults.take(request.path, self.page_of(request))
        if fault is not None and fault.delay and self._stopping is not None:
            # Waiting on the stop event, not a bare sleep, lets teardown end a stalled answer.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.delay)
        if fault is not None and fault.status != 200:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.json_response(
                self.error_body(fault.status), status=fault.status, headers=headers
            )
        return await handler(request)

    def build_app(self) -> web.Application:
        raise NotImplementedError


@contextlib.contextmanager
def serving(fake: FakeCloudBase, ssl_context: ssl.SSLContext | None = None) -> Iterator[str]:
    """The fake's base URL while the block runs; the server is gone after it."""
    server = BackgroundServer(fake, ssl_context)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


class BackgroundServer:
    """Runs a fake's aiohttp app on 127.0.0.1 (a free port) in a thread with its own loop, so
    the synchronous cloud SDKs can be driven from ordinary test code."""

    def __init__(self, fake: FakeCloudBase, ssl_context: ssl.SSLContext | None = None) -> None:
        self._fake = fake
        self._ssl = ssl_context
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> str:
        self._thread.start()
        scheme = "https" if self._ssl else "http"
        port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        self._fake.url = f"{scheme}://127.0.0.1:{port}"
        return self._fake.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> int:
        self._fake._stopping = asyncio.Event()
        app = self._fake.build_app()
        app.middlewares.append(self._fake._fault_middleware)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        if self._fake._stopping is not None:
            self._fake._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
