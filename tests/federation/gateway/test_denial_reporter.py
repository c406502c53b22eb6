"""mtls refusals reach a real HTTP server merged into counted entries, one batch a request, and
are dropped and counted when the batch is full or the control plane is down."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from federation.gateway.control_plane import ControlPlane
from federation.gateway.denial_reporter import MAX_REASON, MAX_REJECTED_REASON, DenialReporter
from federation.gateway.events import ConnectionEvent, EventKind
from federation.gateway.sni import RouteName
from tests.federation.gateway.report_server import ReportServer, report_server

DEADLINE = 10.0
PAYMENTS = RouteName("payments.prod", 8080)
SCRAPER = "spiffe://partner.example/ns/other/sa/scraper"
CRAWLER = "spiffe://partner.example/ns/other/sa/crawler"
NOT_OVERFLOW = {"distinct_peers": None, "sample_peer_ids": []}


@pytest.fixture
async def recorder() -> AsyncIterator[ReportServer]:
    async with report_server(
        "/v1/gateway/denials", lambda body: (200, {"recorded": len(body["denials"])})
    ) as server:
        yield server


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


def peer_rejected(detail: str = "caller's SVID did not verify: expired") -> ConnectionEvent:
    return ConnectionEvent(2, EventKind.PEER_REJECTED, route=PAYMENTS, detail=detail)


async def until(results: Results, events: int) -> None:
    async with asyncio.timeout(DEADLINE):
        while sum(count for _, count in results) < events:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_alike_refusals_are_merged_into_one_counted_entry_in_one_request(
    recorder: ReportServer,
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
            **NOT_OVERFLOW,
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
            **NOT_OVERFLOW,
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
            **NOT_OVERFLOW,
        },
    ]
    assert results == [("sent", 5)]


async def test_new_refusals_past_a_full_batch_are_dropped_and_counted_alike_ones_merge(
    recorder: ReportServer,
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


async def test_a_token_the_api_refuses_counts_the_refusals_as_refused() -> None:
    async with (
        report_server("/v1/gateway/denials", lambda _: (403, {"title": "Forbidden"})) as server,
        reporting(server.url, interval=0.01) as (reporter, results),
    ):
        reporter.observe(denied(SCRAPER))
        reporter.observe(denied(SCRAPER))
        await until(results, 2)
    assert results == [("refused", 2)]


async def test_an_over_long_reason_is_cut_to_the_cap_and_alike_long_ones_still_merge(
    recorder: ReportServer,
) -> None:
    long_id = "spiffe://partner.example/" + "a" * 2000
    async with reporting(recorder.url, interval=0.01) as (reporter, results):
        reporter.observe(denied(long_id))
        reporter.observe(denied(long_id))
        reporter.observe(peer_rejected("caller's SVID did not verify: " + "CN=x," * 400))
        await until(results, 3)
    denied_entry, rejected_entry = recorder.posts[0]["denials"]
    assert denied_entry["reason"] == f"{long_id} -> payments.prod: denied"[:MAX_REASON]
    assert denied_entry["count"] == 2
    assert len(rejected_entry["reason"]) == MAX_REJECTED_REASON
    assert rejected_entry["reason"].startswith("caller's SVID did not verify: CN=x,")


async def test_distinct_callers_past_the_bound_fold_into_one_overflow_entry_per_trust_domain(
    recorder: ReportServer,
) -> None:
    minted = [f"spiffe://partner.example/minted/{i}" for i in range(10)]
    recorder.answer.clear()
    async with reporting(recorder.url, max_distinct=3, interval=0.01) as (reporter, results):
        # The first batch is in flight and held, so every refusal below lands in the next one.
        reporter.observe(peer_rejected())
        async with asyncio.timeout(DEADLINE):
            await recorder.arrived.wait()
        for peer_id in [*minted, minted[5], "spiffe://other.example/ns/a/sa/b"]:
            reporter.observe(denied(peer_id))
        for i in range(5):
            reporter.observe(peer_rejected(f"caller's SVID did not verify: forged {i}"))
        recorder.answer.set()
        await until(results, 18)
    entries = recorder.posts[1]["denials"]
    own = [(e["peer_id"], e["kind"]) for e in entries if e["distinct_peers"] is None]
    assert own == [
        *[(peer_id, "denied") for peer_id in minted[:3]],
        ("spiffe://other.example/ns/a/sa/b", "denied"),
        # The bound is per batch: the one in flight does not count against this batch.
        *[(None, "peer_rejected")] * 3,
    ]
    overflow = {e["kind"]: e for e in entries if e["distinct_peers"] is not None}
    assert overflow["denied"]["peer_id"] is None
    assert (overflow["denied"]["count"], overflow["denied"]["distinct_peers"]) == (8, 7)
    assert overflow["denied"]["sample_peer_ids"] == minted[3:8]
    assert "partner.example" in overflow["denied"]["reason"]
    rejected = overflow["peer_rejected"]
    assert (rejected["count"], rejected["distinct_peers"], rejected["sample_peer_ids"]) == (
        2,
        2,
        [],
    )
    assert results == [("sent", 1), ("sent", 17)]
