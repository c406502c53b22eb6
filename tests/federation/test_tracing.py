"""Traces: W3C trace context continued and answered, sampling that rises to every request on a
failing route and falls back when it recovers, discovery passes as spans, env configuration."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from federation.api.app import build_app
from federation.api.context import ApiContext
from federation.logs import JsonFormatter
from federation.model import Role
from federation.routing.live import LiveRouting
from federation.routing.resolver import Resolver
from federation.tracing import (
    RouteErrorWindow,
    SamplingPolicy,
    TracedProvider,
    Tracing,
    TracingConfigError,
    WindowCount,
    above_threshold,
    build_tracing,
    client_trace_config,
    install_tracing,
    tracing_from_env,
)
from geo import RegionCatalog
from providers.base import Snapshot
from tests.federation.api.conftest import CONFIG, TOKENS, api_config
from tests.federation.api.test_auth_matrix import bare_context

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
# Never sampled at the base rate, so every exported span was boosted or continued a parent.
POLICY = SamplingPolicy(base_rate=0.0, error_threshold=0.5, window_s=60.0, min_requests=4)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class TracedApi:
    url: str
    ctx: ApiContext
    exporter: InMemorySpanExporter
    tracing: Tracing
    clock: Clock
    session: aiohttp.ClientSession

    async def get(self, path: str, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        async with self.session.get(self.url + path, headers=headers or {}) as response:
            await response.read()
            return response

    def server_spans(self, route: str) -> list[str]:
        return [
            span.name
            for span in self.exporter.get_finished_spans()
            if span.kind is SpanKind.SERVER and span.attributes
            if span.attributes.get("http.route") == route
        ]


@pytest.fixture
async def traced() -> AsyncIterator[TracedApi]:
    ctx = bare_context()
    await ctx.config.seed(api_config())
    routing = LiveRouting(ctx.store, await asyncio.to_thread(RegionCatalog.load))
    await routing.load()
    ctx.resolver = Resolver(routing, "aws:us-east-1")
    exporter = InMemorySpanExporter()
    clock = Clock()
    tracing = build_tracing(SimpleSpanProcessor(exporter), POLICY, clock)
    app = build_app(ctx)
    install_tracing(app, tracing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            yield TracedApi(f"http://127.0.0.1:{port}", ctx, exporter, tracing, clock, session)
    finally:
        await runner.cleanup()
        tracing.shutdown()
        await ctx.store.close()


async def test_incoming_traceparent_is_continued_and_answered(traced: TracedApi) -> None:
    response = await traced.get("/healthz", {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    version, trace_id, span_id, flags = response.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    [span] = traced.exporter.get_finished_spans()
    assert span.name == "GET /healthz"
    assert span.kind is SpanKind.SERVER
    assert format_trace_id(span.context.trace_id) == TRACE_ID
    assert span.parent is not None and format_span_id(span.parent.span_id) == PARENT_ID
    assert format_span_id(span.context.span_id) == span_id
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 200


async def test_resolve_span_says_what_was_resolved(traced: TracedApi) -> None:
    headers = {
        "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
        "Authorization": f"Bearer {TOKENS[Role.VIEWER]}",
    }
    query = "?service=payments.prod&client_region=gcp:europe-west1"
    assert (await traced.get("/v1/resolve" + query, headers)).status == 200
    [span] = traced.exporter.get_finished_spans()
    assert span.name == "GET /v1/resolve"
    assert span.attributes is not None
    assert {k: v for k, v in span.attributes.items() if k.startswith("meshfed.")} == {
        "meshfed.service": "payments.prod",
        "meshfed.client.source": "region",
        "meshfed.client.region": "gcp:europe-west1",
        "meshfed.pick.cluster": "",
    }


async def test_unsampled_request_still_answers_a_trace_id(traced: TracedApi) -> None:
    response = await traced.get("/healthz")
    flags = int(response.headers["traceparent"].rsplit("-", 1)[1], 16)
    assert flags & 0x01 == 0, "not sampled"
    assert traced.exporter.get_finished_spans() == ()


async def test_outgoing_calls_carry_the_current_trace(traced: TracedApi) -> None:
    caller_side = build_tracing(SimpleSpanProcessor(InMemorySpanExporter()), SamplingPolicy(1.0))
    async with aiohttp.ClientSession(trace_configs=[client_trace_config(caller_side)]) as session:
        with caller_side.tracer.start_as_current_span("caller") as caller:
            async with session.get(traced.url + "/healthz") as response:
                assert response.status == 200
    server = [s for s in traced.exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.context.trace_id for s in server] == [caller.get_span_context().trace_id]
    assert server[0].parent is not None
    assert server[0].parent.span_id == caller.get_span_context().span_id


async def test_failing_route_is_sampled_fully_until_it_recovers(traced: TracedApi) -> None:
    traced.ctx.ready = False  # /readyz answers 503 while the config is "loading"
    for _ in range(POLICY.min_requests):
        assert (await traced.get("/readyz")).status == 503
    assert traced.server_spans("/readyz") == []
    assert traced.tracing.sampler.boosted("/readyz")

    await traced.get("/readyz")
    await traced.get("/healthz")
    assert traced.server_spans("/readyz") == ["GET /readyz"]
    assert traced.server_spans("/healthz") == [], "a healthy route stays at the base rate"

    traced.ctx.ready = True
    traced.clock.now += POLICY.window_s + 1
    assert (await traced.get("/readyz")).status == 200
    assert not traced.tracing.sampler.boosted("/readyz")
    await traced.get("/readyz")
    assert traced.server_spans("/readyz") == ["GET /readyz"], "sampling fell back to the base"


def test_a_few_errors_in_a_quiet_window_do_not_boost() -> None:
    policy = SamplingPolicy(error_threshold=0.05, min_requests=20)
    assert not above_threshold(WindowCount(requests=3, errors=3), policy)
    assert above_threshold(WindowCount(requests=20, errors=2), policy)
    assert not above_threshold(WindowCount(requests=20, errors=1), policy)


@given(
    st.lists(st.tuples(st.floats(0, 200), st.booleans()), max_size=60).map(
        lambda events: sorted(events, key=lambda e: e[0])
    )
)
def test_window_counts_exactly_the_requests_of_the_last_window(
    events: list[tuple[float, bool]],
) -> None:
    policy = SamplingPolicy(window_s=60.0, buckets=12)
    window = RouteErrorWindow(policy)
    for at, failed in events:
        window.observe("/r", failed, at)
    now = events[-1][0] if events else 0.0
    span = policy.window_s / policy.buckets
    # Whole buckets expire: the window holds requests from the last `buckets` bucket slots.
    oldest_slot = int(now // span) - policy.buckets + 1
    kept = [failed for at, failed in events if int(at // span) >= oldest_slot]
    assert window.count("/r", now) == WindowCount(len(kept), sum(kept))


@dataclass(slots=True)
class ListedProvider:
    name: str
    cloud: str

    def discover(self) -> Snapshot:
        return Snapshot(self.name, ())


def test_discovery_pass_is_a_span() -> None:
    exporter = InMemorySpanExporter()
    tracing = build_tracing(SimpleSpanProcessor(exporter), SamplingPolicy(base_rate=1.0))
    provider = TracedProvider("local", "static", ListedProvider("local", "static"), tracing.tracer)
    assert provider.discover() == Snapshot("local", ())
    [span] = exporter.get_finished_spans()
    assert span.name == "discovery.sync"
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "meshfed.provider": "local",
        "meshfed.cloud": "static",
        "meshfed.endpoints": 0,
    }


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("meshfed.test-trace-logs")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_log_lines_inside_a_span_carry_its_trace_id(log_stream: io.StringIO) -> None:
    tracing = build_tracing(SimpleSpanProcessor(InMemorySpanExporter()), SamplingPolicy())
    logger = logging.getLogger("meshfed.test-trace-logs")
    with tracing.tracer.start_as_current_span("work") as span:
        logger.warning("inside")
    logger.warning("outside")
    inside, outside = (json.loads(line) for line in log_stream.getvalue().splitlines())
    assert inside["trace_id"] == format_trace_id(span.get_span_context().trace_id)
    assert "trace_id" not in outside


def test_tracing_is_off_unless_configured() -> None:
    assert tracing_from_env({}) is None
    assert tracing_from_env({"OTEL_TRACES_EXPORTER": "none"}) is None


def test_console_exporter_and_sampling_ratio_from_env() -> None:
    tracing = tracing_from_env({"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER_ARG": "1"})
    assert tracing is not None
    assert "base=1.0" in tracing.sampler.get_description()
    tracing.shutdown()


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "'jaeger'"),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER_ARG": "2"}, "'2'"),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER_ARG": "x"}, "'x'"),
    ],
)
def test_bad_tracing_settings_are_refused_by_name(environ: dict[str, str], names: str) -> None:
    with pytest.raises(TracingConfigError, match=names):
        tracing_from_env(environ)


def otlp_installed() -> bool:
    try:
        importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    except ImportError:
        return False
    return True


@pytest.mark.skipif(otlp_installed(), reason="the OTLP exporter is installed here")
def test_otlp_without_its_exporter_names_the_package_to_install() -> None:
    with pytest.raises(TracingConfigError, match="opentelemetry-exporter-otlp-proto-http"):
        tracing_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})


def test_serve_refuses_an_unknown_exporter_and_says_which(tmp_path: Path) -> None:
    config = tmp_path / "meshfed.yaml"
    config.write_text(CONFIG)
    environ = {**os.environ, "OTEL_TRACES_EXPORTER": "jaeger"}
    environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    done = subprocess.run(
        [sys.executable, "-m", "federation.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "OTEL_TRACES_EXPORTER='jaeger' is not supported" in done.stderr
