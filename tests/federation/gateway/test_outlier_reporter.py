"""Outlier reports reach a real HTTP server in order, merged, and are dropped when it is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from federation.gateway.control_plane import ControlPlane
from federation.gateway.events import ConnectionEvent, EventKind
from federation.gateway.outlier_reporter import OutlierReporter
from federation.gateway.routes import Upstream
from federation.gateway.sni import RouteName
from tests.federation.gateway.report_server import ReportServer, report_server

DEADLINE = 10.0
ROUTE = RouteName("payments.prod", 8080)
FIRST = Upstream("127.0.0.1", 9443, "aws-use1")
SECOND = Upstream("127.0.0.1", 9444, "aws-use1")


@pytest.fixture
async def recorder() -> AsyncIterator[ReportServer]:
    # The API answers 404 for an endpoint it does not know; this one plays 9444 as unknown.
    def reply(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return (404 if body["endpoint"].endswith(":9444") else 200), {}

    async with report_server("/v1/outliers", reply) as server:
        yield server


@dataclass
class Reporting:
    reporter: OutlierReporter
    results: list[tuple[str, int]]


@pytest.fixture
async def reporting(recorder: ReportServer) -> AsyncIterator[Reporting]:
    results: list[tuple[str, int]] = []
    async with aiohttp.ClientSession() as session:
        control_plane = ControlPlane(session, recorder.url, "gateway-token")
        reporter = OutlierReporter(
            control_plane.report_outlier,
            lambda result, count: results.append((result, count)),
            cluster="aws-use1",
            max_pending=3,
            interval=0.01,
        )
        task = asyncio.create_task(reporter.run())
        yield Reporting(reporter, results)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def failed(upstream: Upstream) -> ConnectionEvent:
    return ConnectionEvent(1, EventKind.UPSTREAM_CONNECT_FAILED, route=ROUTE, upstream=upstream)


def relayed(upstream: Upstream) -> ConnectionEvent:
    return ConnectionEvent(
        1, EventKind.RELAYED, route=ROUTE, upstream=upstream, connect_seconds=0.001
    )


async def until(results: list[tuple[str, int]], outcomes: int) -> None:
    async with asyncio.timeout(DEADLINE):
        while sum(count for _, count in results) < outcomes:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_failures_then_a_success_are_reported_merged_and_in_order(
    recorder: ReportServer, reporting: Reporting
) -> None:
    for event in (failed(FIRST), failed(FIRST), failed(FIRST), relayed(FIRST), relayed(FIRST)):
        reporting.reporter.observe(event)
    await until(reporting.results, 4)
    assert recorder.posts == [
        {
            "service": "payments.prod",
            "endpoint": "127.0.0.1:9443",
            "outcome": "connect-failure",
            "count": 3,
        },
        {
            "service": "payments.prod",
            "endpoint": "127.0.0.1:9443",
            "outcome": "success",
            "count": 1,
        },
    ]
    assert recorder.tokens == ["Bearer gateway-token"] * 2
    assert reporting.results == [("sent", 3), ("sent", 1)]


async def test_successes_of_an_endpoint_that_never_failed_are_not_reported(
    recorder: ReportServer, reporting: Reporting
) -> None:
    reporting.reporter.observe(relayed(FIRST))
    reporting.reporter.observe(failed(SECOND))
    await until(reporting.results, 1)
    assert [post["endpoint"] for post in recorder.posts] == ["127.0.0.1:9444"]
    # The recorder answers 404 for this endpoint, as the API does for an unknown one.
    assert reporting.results == [("refused", 1)]


async def test_reports_past_the_bound_are_dropped_and_counted(
    recorder: ReportServer, reporting: Reporting
) -> None:
    for port in range(9500, 9505):
        reporting.reporter.observe(failed(Upstream("127.0.0.1", port, "aws-use1")))
    await until(reporting.results, 5)
    assert sorted(reporting.results) == [
        ("dropped", 1),
        ("dropped", 1),
        ("sent", 1),
        ("sent", 1),
        ("sent", 1),
    ]


async def test_reports_are_dropped_and_counted_while_the_control_plane_is_down(
    unused_tcp_port: int,
) -> None:
    results: list[tuple[str, int]] = []
    async with aiohttp.ClientSession() as session:
        control_plane = ControlPlane(session, f"http://127.0.0.1:{unused_tcp_port}", "t")
        reporter = OutlierReporter(
            control_plane.report_outlier, lambda r, n: results.append((r, n)), interval=0.01
        )
        task = asyncio.create_task(reporter.run())
        try:
            reporter.observe(failed(FIRST))
            reporter.observe(failed(FIRST))
            reporter.observe(failed(SECOND))
            await until(results, 3)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert results == [("dropped", 3)]


async def test_failures_to_reach_another_clusters_gateway_are_not_reported(
    recorder: ReportServer, reporting: Reporting
) -> None:
    reporting.reporter.observe(failed(Upstream("127.0.0.2", 15443, "gcp-euw1")))
    reporting.reporter.observe(failed(FIRST))
    await until(reporting.results, 1)
    assert [post["endpoint"] for post in recorder.posts] == ["127.0.0.1:9443"]
