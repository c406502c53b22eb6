"""``meshfed serve`` on its own event loop in a thread, for callers that block (a browser
driver, schemathesis, urllib): they must not block the loop that serves them."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from federation.model import MeshfedConfig
from federation.service import running_service

START_TIMEOUT_S = 20.0


@dataclass
class ServerThread:
    config: MeshfedConfig
    url: str = ""
    _ready: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def __enter__(self) -> ServerThread:
        self._thread = threading.Thread(target=self._run, name="meshfed-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise TimeoutError(f"meshfed did not start within {START_TIMEOUT_S}s")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_S)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_service(self.config) as running:
            self.url = running.url
            self._ready.set()
            await self._stop.wait()
