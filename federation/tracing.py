"""OpenTelemetry traces of API requests (server spans, W3C trace context in and out) and of
discovery syncs, sampled at a low base rate that rises to every request on a route while the
route's 5xx share is high, so the traces of an incident are there when someone looks."""

from __future__ import annotations

import importlib
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import SimpleNamespace

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from federation import __version__
from federation.api.routing import Handler, route_for
from federation.discovery import ScheduledProvider
from providers.base import Provider, Snapshot

HTTP_ROUTE = "http.route"
DEFAULT_BASE_RATE = 0.01
_OTLP_MODULE = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


class TracingConfigError(ValueError):
    """Tracing was asked for in a way this process cannot provide."""


@dataclass(frozen=True, slots=True)
class SamplingPolicy:
    base_rate: float = DEFAULT_BASE_RATE
    error_threshold: float = 0.05  # 5xx share of a route's requests that turns full sampling on
    window_s: float = 60.0
    min_requests: int = 20  # fewer requests than this in the window say nothing about a rate
    buckets: int = 12


@dataclass(frozen=True, slots=True)
class WindowCount:
    requests: int = 0
    errors: int = 0

    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def above_threshold(count: WindowCount, policy: SamplingPolicy) -> bool:
    return count.requests >= policy.min_requests and count.error_share() > policy.error_threshold


class RouteErrorWindow:
    """Requests and 5xx answers of each route over the last ``window_s``, in time buckets so
    memory stays bounded at any request rate."""

    def __init__(self, policy: SamplingPolicy) -> None:
        self._span = policy.window_s / policy.buckets
        self._buckets = policy.buckets
        self._routes: dict[str, deque[tuple[int, WindowCount]]] = {}

    def observe(self, route: str, failed: bool, now: float) -> None:
        slot = int(now // self._span)
        buckets = self._routes.setdefault(route, deque())
        if not buckets or buckets[-1][0] != slot:
            buckets.append((slot, WindowCount()))
        start, count = buckets[-1]
        buckets[-1] = (start, WindowCount(count.requests + 1, count.errors + int(failed)))
        self._expire(buckets, slot)

    def count(self, route: str, now: float) -> WindowCount:
        buckets = self._routes.get(route)
        if not buckets:
            return WindowCount()
        self._expire(buckets, int(now // self._span))
        return WindowCount(sum(c.requests for _, c in buckets), sum(c.errors for _, c in buckets))

    def _expire(self, buckets: deque[tuple[int, WindowCount]], slot: int) -> None:
        while buckets and buckets[0][0] <= slot - self._buckets:
            buckets.popleft()


class ErrorRateSampler(Sampler):
    """``ParentBased(TraceIdRatioBased(base_rate))``, except that a span whose ``http.route``
    is failing above the threshold is always sampled, until its window calms down."""

    def __init__(self, policy: SamplingPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._window = RouteErrorWindow(policy)
        self._normal = ParentBased(TraceIdRatioBased(policy.base_rate))

    def observe(self, route: str, status: int) -> None:
        self._window.observe(route, status >= 500, self._clock())

    def boosted(self, route: str) -> bool:
        return above_threshold(self._window.count(route, self._clock()), self._policy)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        route = attributes.get(HTTP_ROUTE) if attributes else None
        if isinstance(route, str) and self.boosted(route):
            parent = trace.get_current_span(parent_context).get_span_context()
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent.trace_state)
        return self._normal.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        policy = self._policy
        return (
            f"ErrorRateSampler{{base={policy.base_rate},threshold={policy.error_threshold},"
            f"window={policy.window_s}s}}"
        )


@dataclass(frozen=True, slots=True)
class Tracing:
    provider: TracerProvider
    sampler: ErrorRateSampler
    tracer: trace.Tracer
    propagator: TraceContextTextMapPropagator

    def shutdown(self) -> None:
        """Flush what is queued; blocking, so call it from a worker thread."""
        self.provider.shutdown()


def build_tracing(
    processor: SpanProcessor,
    policy: SamplingPolicy = SamplingPolicy(),
    clock: Callable[[], float] = time.monotonic,
) -> Tracing:
    sampler = ErrorRateSampler(policy, clock)
    resource = Resource.create({"service.name": "meshfed", "service.version": __version__})
    provider = TracerProvider(sampler=sampler, resource=resource)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("meshfed", __version__)
    return Tracing(provider, sampler, tracer, TraceContextTextMapPropagator())


def tracing_from_env(environ: Mapping[str, str]) -> Tracing | None:
    """Tracing as the standard OpenTelemetry variables ask: off unless
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set or ``OTEL_TRACES_EXPORTER`` names an exporter."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    kind = environ.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint else "none").strip().lower()
    if kind == "none":
        return None
    exporter = _exporter(kind)
    policy = replace(SamplingPolicy(), base_rate=_base_rate(environ))
    return build_tracing(BatchSpanProcessor(exporter), policy)


def _exporter(kind: str) -> SpanExporter:
    if kind == "console":
        return ConsoleSpanExporter()
    if kind != "otlp":
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={kind!r} is not supported: use otlp, console or none"
        )
    try:
        module = importlib.import_module(_OTLP_MODULE)
    except ImportError as exc:
        raise TracingConfigError(
            "OTLP tracing is configured (OTEL_EXPORTER_OTLP_ENDPOINT) but the exporter is not "
            "installed: pip install opentelemetry-exporter-otlp-proto-http, or set "
            "OTEL_TRACES_EXPORTER=console"
        ) from exc
    # The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout) itself.
    exporter: SpanExporter = module.OTLPSpanExporter()
    return exporter


def _base_rate(environ: Mapping[str, str]) -> float:
    raw = environ.get("OTEL_TRACES_SAMPLER_ARG")
    if raw is None:
        return DEFAULT_BASE_RATE
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise TracingConfigError(
            f"OTEL_TRACES_SAMPLER_ARG={raw!r} is not a sampling ratio: use a number from 0 to 1"
        )
    return rate


def tracing_middleware(tracing: Tracing) -> Middleware:
    """A server span a request, continuing the caller's ``traceparent`` and answering with
    this span's, so a caller can find the trace even when it was not sampled."""

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_for(request)
        label = route.path if route else "unmatched"
        attributes = {HTTP_ROUTE: label, "http.request.method": request.method}
        parent = tracing.propagator.extract(request.headers)
        with tracing.tracer.start_as_current_span(
            f"{request.method} {label}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            status = 500
            try:
                response = await handler(request)
                status = response.status
                if not response.prepared:
                    carrier: dict[str, str] = {}
                    tracing.propagator.inject(carrier)
                    response.headers.update(carrier)
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
                tracing.sampler.observe(label, status)

    return traced


def install_tracing(app: web.Application, tracing: Tracing) -> None:
    """Outermost, so the span covers the whole chain and sees the final status."""
    app.middlewares.insert(0, tracing_middleware(tracing))


def client_trace_config(tracing: Tracing) -> aiohttp.TraceConfig:
    """For an outgoing ``aiohttp.ClientSession``: sends the current trace context along."""

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        carrier: dict[str, str] = {}
        tracing.propagator.inject(carrier)
        params.headers.update(carrier)

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_request_start)
    return config


@dataclass(slots=True)
class TracedProvider:
    """A provider whose every discovery pass is a span (in the worker thread the loop runs it
    in; ``asyncio.to_thread`` carries the context over)."""

    name: str
    cloud: str
    inner: Provider
    tracer: trace.Tracer

    def discover(self) -> Snapshot:
        attributes = {"meshfed.provider": self.inner.name, "meshfed.cloud": self.inner.cloud}
        with self.tracer.start_as_current_span("discovery.sync", attributes=attributes) as span:
            snapshot = self.inner.discover()
            span.set_attribute("meshfed.endpoints", len(snapshot.endpoints))
            return snapshot


def traced_providers(
    scheduled: Sequence[ScheduledProvider], tracing: Tracing
) -> list[ScheduledProvider]:
    return [
        ScheduledProvider(
            TracedProvider(s.provider.name, s.provider.cloud, s.provider, tracing.tracer),
            s.schedule,
        )
        for s in scheduled
    ]
