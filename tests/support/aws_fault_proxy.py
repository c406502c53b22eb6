"""A reverse proxy in front of moto that answers chosen AWS requests with faults.

It runs aiohttp on its own event loop in a thread, so blocking boto3 code under test can talk to
it. Every request is recorded (operation, signing access key, status answered); a request that
matches a rule gets the rule's fault, everything else is forwarded to moto unchanged.

The canned error bodies follow each service's wire protocol, since botocore parses them by
protocol: EC2 ``<Response><Errors><Error>``, query services such as ELBv2 and STS
``<ErrorResponse><Error>``, JSON services such as Cloud Map ``{"__type": …}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web

_CREDENTIAL = re.compile(r"Credential=([^/]+)/")
# Headers describing one hop's framing; aiohttp sets its own.
_HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-encoding", "date"}
)


@dataclass(frozen=True, slots=True)
class Fault:
    """What to answer instead of moto. ``status`` None forwards to moto after ``delay``."""

    status: int | None = None
    body: bytes = b""
    content_type: str = "text/xml"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    def with_retry_after(self, seconds: str) -> Fault:
        return Fault(
            self.status, self.body, self.content_type, (*self.headers, ("Retry-After", seconds))
        )


def ec2_error(code: str, status: int = 503) -> Fault:
    body = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>injected {code}</Message>"
        f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    )
    return Fault(status, body.encode())


def query_error(code: str, status: int = 400) -> Fault:
    body = (
        '<ErrorResponse xmlns="https://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code}</Message>"
        f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return Fault(status, body.encode())


def json_error(code: str, status: int = 400) -> Fault:
    body = json.dumps({"__type": code, "message": f"injected {code}"})
    return Fault(status, body.encode(), "application/x-amz-json-1.1")


def slow(delay: float) -> Fault:
    return Fault(delay=delay)


@dataclass(slots=True)
class Rule:
    """Answer ``fault`` to requests for ``operation`` (any when None): let the first ``skip``
    of them through, then fault the next ``times`` (every one after when None)."""

    fault: Fault
    operation: str | None = None
    skip: int = 0
    times: int | None = 1
    seen: int = 0

    def claims(self, operation: str) -> bool:
        if self.operation is not None and operation != self.operation:
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        return self.times is None or self.seen <= self.skip + self.times


@dataclass(frozen=True, slots=True)
class Seen:
    operation: str
    access_key: str
    status: int


@dataclass(slots=True)
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    rules: list[Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)


class AwsFaultProxy:
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream.rstrip("/")
        self._state = _State()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.url = ""

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def inject(self, rule: Rule) -> Rule:
        with self._state.lock:
            self._state.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._state.lock:
            self._state.rules.clear()
            self._state.seen.clear()

    def seen(self, operation: str | None = None) -> list[Seen]:
        with self._state.lock:
            return [s for s in self._state.seen if operation in (None, s.operation)]

    async def _start(self) -> None:
        self._closing = asyncio.Event()
        self._client = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _stop(self) -> None:
        assert self._closing is not None and self._runner is not None and self._client
        self._closing.set()
        await self._runner.cleanup()
        await self._client.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        operation = _operation(request, body)
        with self._state.lock:
            fault = next((r.fault for r in self._state.rules if r.claims(operation)), None)
        if fault is not None and fault.delay:
            assert self._closing is not None
            # Waiting on the closing event rather than sleeping lets stop() end a slow answer.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay)
        if fault is not None and fault.status is not None:
            response = web.Response(
                status=fault.status,
                body=fault.body,
                content_type=fault.content_type,
                headers=dict(fault.headers),
            )
        else:
            response = await self._forward(request, body)
        self._record(Seen(operation, _access_key(request), response.status))
        return response

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._client.request(
            request.method, self._upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            payload = await upstream.read()
            answer = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=upstream.status, body=payload, headers=answer)

    def _record(self, seen: Seen) -> None:
        with self._state.lock:
            self._state.seen.append(seen)


def _operation(request: web.Request, body: bytes) -> str:
    """The AWS operation: JSON protocols name it in X-Amz-Target, query protocols in Action."""
    target = request.headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    form = parse_qs(body.decode("utf-8", "replace"))
    return (form.get("Action") or [request.query.get("Action", "")])[0]


def _access_key(request: web.Request) -> str:
    match = _CREDENTIAL.search(request.headers.get("Authorization", ""))
    return match.group(1) if match else ""


def running_proxy(upstream: str) -> Iterator[AwsFaultProxy]:
    """For a fixture: ``yield from running_proxy(moto_url)``."""
    proxy = AwsFaultProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
