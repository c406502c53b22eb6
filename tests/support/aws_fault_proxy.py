"""A reverse proxy in front of moto that answers chosen AWS requests with faults.

It runs aiohttp on its own event loop in a thread, so blocking boto3 code under test can talk to
it. Import ``fault_proxy_fixture`` and ``fault_proxy_server_fixture`` (they register as
``fault_proxy`` and ``fault_proxy_server``) along with the moto_server fixtures they build on.

Every request is recorded (operation, signing access key and region, status answered, when); a
request that matches a rule gets the rule's fault, everything else goes to moto unchanged.

The canned error bodies follow each service's wire protocol, since botocore parses them by
protocol: EC2 ``<Response><Errors><Error>``, query services such as ELBv2 and STS
``<ErrorResponse><Error>``, JSON services such as Cloud Map ``{"__type": …}``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web

# SigV4: Credential=<access key>/<date>/<region>/<service>/aws4_request
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/")
# Headers describing one hop's framing; aiohttp sets its own.
_HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-encoding", "date"}
)


@dataclass(frozen=True, slots=True)
class Fault:
    """What to answer instead of moto. ``status`` None forwards to moto after ``delay`` and
    passes moto's answer through ``rewrite``."""

    status: int | None = None
    body: bytes = b""
    content_type: str = "text/xml"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    rewrite: Callable[[bytes], bytes] | None = None

    def with_retry_after(self, seconds: str) -> Fault:
        return replace(self, headers=(*self.headers, ("Retry-After", seconds)))


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


def rewritten(rewrite: Callable[[bytes], bytes]) -> Fault:
    return Fault(rewrite=rewrite)


@dataclass(slots=True)
class Rule:
    """Answer ``fault`` to requests for ``operation`` in ``region`` (any when None): let the
    first ``skip`` of them through, then fault the next ``times`` (every one after when None)."""

    fault: Fault
    operation: str | None = None
    region: str | None = None
    skip: int = 0
    times: int | None = 1
    seen: int = 0

    def claims(self, operation: str, region: str) -> bool:
        if self.operation not in (None, operation) or self.region not in (None, region):
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        return self.times is None or self.seen <= self.skip + self.times


@dataclass(frozen=True, slots=True)
class Seen:
    operation: str
    region: str
    access_key: str
    status: int
    at: float  # time.monotonic() when the answer was ready


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
        # Set (and replaced) to end every delayed answer early: at clear() and at stop().
        self._interrupt: asyncio.Event | None = None
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
        """Forget rules and what was seen, and end delayed answers still pending from before,
        so they cannot land in the next test's record."""
        with self._state.lock:
            self._state.rules.clear()
            self._state.seen.clear()
        asyncio.run_coroutine_threadsafe(self._interrupt_delays(), self._loop).result(timeout=10)

    def seen(self, operation: str | None = None) -> list[Seen]:
        with self._state.lock:
            return [s for s in self._state.seen if operation in (None, s.operation)]

    async def _start(self) -> None:
        self._interrupt = asyncio.Event()
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
        assert self._runner is not None and self._client is not None
        await self._interrupt_delays()
        await self._runner.cleanup()
        await self._client.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        operation = _operation(request, body)
        access_key, region = _signer(request)
        with self._state.lock:
            rules = self._state.rules
            fault = next((r.fault for r in rules if r.claims(operation, region)), None)
        if fault is not None and fault.delay and await self._interrupted(fault.delay):
            return web.Response(status=504, text="delay interrupted by the test harness")
        if fault is not None and fault.status is not None:
            response = web.Response(
                status=fault.status,
                body=fault.body,
                content_type=fault.content_type,
                headers=dict(fault.headers),
            )
        else:
            response = await self._forward(request, body, fault.rewrite if fault else None)
        self._record(Seen(operation, region, access_key, response.status, time.monotonic()))
        return response

    async def _forward(
        self, request: web.Request, body: bytes, rewrite: Callable[[bytes], bytes] | None
    ) -> web.Response:
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._client.request(
            request.method, self._upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            payload = await upstream.read()
            if rewrite is not None:
                payload = rewrite(payload)
            answer = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=upstream.status, body=payload, headers=answer)

    async def _interrupted(self, delay: float) -> bool:
        assert self._interrupt is not None
        try:
            await asyncio.wait_for(self._interrupt.wait(), delay)
        except TimeoutError:
            return False
        return True

    async def _interrupt_delays(self) -> None:
        assert self._interrupt is not None
        self._interrupt.set()
        self._interrupt = asyncio.Event()

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


def _signer(request: web.Request) -> tuple[str, str]:
    """(access key, region) from the SigV4 Authorization header."""
    match = _CREDENTIAL.search(request.headers.get("Authorization", ""))
    return (match.group(1), match.group(2)) if match else ("", "")


@pytest.fixture(name="fault_proxy_server", scope="session")
def fault_proxy_server_fixture(moto_server: str) -> Iterator[AwsFaultProxy]:
    proxy = AwsFaultProxy(moto_server)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(name="fault_proxy")
def fault_proxy_fixture(fault_proxy_server: AwsFaultProxy, moto_url: str) -> AwsFaultProxy:
    """The proxy in front of a freshly reset moto, with no rules and nothing seen."""
    fault_proxy_server.clear()
    return fault_proxy_server
