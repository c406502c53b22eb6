"""mtls refusals reach a real HTTP server merged into counted entries, one batch a request, and
are dropped and counted when the batch is full or the control plane is down."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from federation.gateway.control_plane import ControlPlane
from federation.gateway.denial_reporter import DenialReporter
from federation.gateway.events import ConnectionEvent, EventKind
from federation.gateway.sni import RouteName

DEADLINE = 10.0
PAYMENTS = RouteName("payments.prod", 8080)
SCRAPER = "spiffe://partner.example/ns/other/sa/scraper"
CRAWLER = "spiffe://partner.example/ns/other/sa/crawler"


@dataclass
class Recorder:
    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # Cleared, the recorder holds each request until it is set: a control plane that is slow.
    answer: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    record = Recorder()
    record.answer.set()

    async def denials(request: web.Request) -> web.Response:
        record.posts.append(await request.json())
        record.arrived.set()
        await record.answer.wait()
        return web.json_response({"recorded": len(record.posts[-1]["denials"])})

    app = web.Application()
    app.router.add_post("/v1/gateway/denials", denials)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    record.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield record
    record.answer.set()
    await runner.cleanup()


Results = list[tuple[str, int]]


@asynccontextmanager
async def reporting(server: str, **options: Any) -> AsyncIterator[tuple[DenialReporter, Results]]:
    results: Results = []
    seconds = itertools.count(1_790_000_000)
    async with aiohttp.ClientSession() as session:
        reporter = DenialReporter(
            ControlPlane(session, server, "gateway-token").report_denials,
            lambda result, count: results.append((result, count)),
            cluster="aws-use1",
            clock=lambda: float(next(seconds)),
            **options,
        )
        task = asyncio.create_task(reporter.run())
        try:
            yield reporter, results
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def denied(peer_id: str, policy: str | None = None) -> ConnectionEvent:
    reason = f"{peer_id} -> payments.prod: denied"
    return ConnectionEvent(
        1, EventKind.DENIED, route=PAYMENTS, detail=reason, peer_id=peer_id, policy=policy
    )


def peer_rejected() -> ConnectionEvent:
    return ConnectionEvent(
        2, EventKind.PEER_REJECTED, route=PAYMENTS, detail="caller's SVID did not verify: expired"
    )


async def until(results: Results, events: int) -> None:
    async with asyncio.timeout(DEADLINE):
        while sum(count for _, count in results) < events:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_alike_refusals_are_merged_into_one_counted_entry_in_one_request(
    recorder: Recorder,
) -> None:
    async with reporting(recorder.url, interval=0.01) as (reporter, results):
        for event in (
            denied(SCRAPER),
            denied(SCRAPER),
            ConnectionEvent(3, EventKind.RELAYED, route=PAYMENTS, peer_id=SCRAPER),
            denied(SCRAPER, policy="no-scrapers"),
            denied(SCRAPER),
            peer_rejected(),
        ):
            reporter.observe(event)
        await until(results, 5)
    assert len(recorder.posts) == 1
    assert recorder.posts[0]["cluster"] == "aws-use1"
    assert recorder.posts[0]["denials"] == [
        {
            "peer_id": SCRAPER,
            "service": "payments.prod",
            "kind": "denied",
            "policy": None,
            "reason": f"{SCRAPER} -> payments.prod: denied",
            "count": 3,
            "first_seen": 1_790_000_000.0,
            "last_seen": 1_790_000_003.0,
        },
        {
            "peer_id": SCRAPER,
            "service": "payments.prod",
            "kind": "denied",
            "policy": "no-scrapers",
            "reason": f"{SCRAPER} -> payments.prod: denied",
            "count": 1,
            "first_seen": 1_790_000_002.0,
            "last_seen": 1_790_000_002.0,
        },
        {
            "peer_id": None,
            "service": "payments.prod",
            "kind": "peer_rejected",
            "policy": None,
            "reason": "caller's SVID did not verify: expired",
            "count": 1,
            "first_seen": 1_790_000_004.0,
            "last_seen": 1_790_000_004.0,
        },
    ]
    assert results == [("sent", 5)]


async def test_new_refusals_past_a_full_batch_are_dropped_and_counted_alike_ones_merge(
    recorder: Recorder,
) -> None:
    recorder.answer.clear()
    async with reporting(recorder.url, max_pending=2, interval=0.01) as (reporter, results):
        # The first batch is in flight and held; the next one fills while it waits.
        reporter.observe(peer_rejected())
        async with asyncio.timeout(DEADLINE):
            await recorder.arrived.wait()
        for event in (
            denied(SCRAPER),
            denied(CRAWLER),
            denied("spiffe://x.example/a"),
            denied(SCRAPER),
        ):
            reporter.observe(event)
        assert results == [("dropped", 1)]
        recorder.answer.set()
        await until(results, 5)
    assert [len(post["denials"]) for post in recorder.posts] == [1, 2]
    assert [d["count"] for d in recorder.posts[1]["denials"]] == [2, 1]
    assert results == [("dropped", 1), ("sent", 1), ("sent", 3)]


async def test_while_the_control_plane_is_down_refusals_are_dropped_and_counted_without_waiting(
    unused_tcp_port: int,
) -> None:
    async with reporting(f"http://127.0.0.1:{unused_tcp_port}", interval=0.01) as (
        reporter,
        results,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(100):
            reporter.observe(denied(SCRAPER))
        reporter.observe(peer_rejected())
        # observe is a plain call: it returned without giving the loop a turn to send anything.
        assert results == []
        assert loop.time() - started < 1.0
        await until(results, 101)
    assert results == [("dropped", 101)]


async def test_a_token_the_api_refuses_counts_the_refusals_as_refused(
    unused_tcp_port: int,
) -> None:
    async def forbidden(_: web.Request) -> web.Response:
        return web.json_response({"title": "Forbidden"}, status=403)

    app = web.Application()
    app.router.add_post("/v1/gateway/denials", forbidden)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        async with reporting(f"http://127.0.0.1:{unused_tcp_port}", interval=0.01) as (
            reporter,
            results,
        ):
            reporter.observe(denied(SCRAPER))
            reporter.observe(denied(SCRAPER))
            await until(results, 2)
    finally:
        await runner.cleanup()
    assert results == [("refused", 2)]
