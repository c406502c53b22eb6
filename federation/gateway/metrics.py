"""The gateway's Prometheus metrics, on a registry of its own, fed by connection events."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from federation.gateway.connection_totals import ConnectionTotals
from federation.gateway.events import PROGRESS_KINDS, ConnectionEvent, EventKind

NO_ROUTE = "-"  # the route label of connections refused before their SNI named a route
_CONNECT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _ActiveConnections(Collector):
    """Read at scrape time from the gateway itself, so it can never drift from the truth."""

    def __init__(self, relaying: Callable[[], Mapping[str, int]]) -> None:
        self._relaying = relaying

    def describe(self) -> Iterator[Metric]:
        # Without this the registry collects at registration, before a gateway exists.
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for route, count in sorted(self._relaying().items()):
            family.add_metric([route], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "meshfed_gateway_active_connections",
            "Connections relaying bytes now",
            labels=["route"],
        )


class GatewayMetrics:
    def __init__(
        self,
        relaying: Callable[[], Mapping[str, int]],
        known_route: Callable[[str], bool],
    ) -> None:
        """``known_route``: whether the route table has the service. A name only a client's
        SNI vouches for is counted under ``-``, so clients cannot grow the label set."""
        self._known_route = known_route
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.totals = ConnectionTotals(_CONNECT_BUCKETS)
        r.register(self.totals)
        self.circuit_overflow = Counter(
            "meshfed_gateway_circuit_overflow",
            "Candidates skipped because their circuit breaker was full",
            registry=r,
        )
        self.rate_limited = Counter(
            "meshfed_gateway_rate_limited", "Connections refused by a rate limit", registry=r
        )
        self.outlier_reports = Counter(
            "meshfed_gateway_outlier_reports",
            "Outlier reports to the control plane, by result (sent or dropped)",
            ["result"],
            registry=r,
        )
        self.denial_reports = Counter(
            "meshfed_gateway_denial_reports",
            "mtls refusals reported to the control plane's audit log, by result "
            "(sent, refused or dropped)",
            ["result"],
            registry=r,
        )
        self.access_log_dropped = Counter(
            "meshfed_gateway_access_log_dropped",
            "Access log lines lost: the writer fell behind, or the destination refused them",
            ["reason"],
            registry=r,
        )
        self.route_updates = Counter(
            "meshfed_gateway_route_updates",
            "Route tables applied, by source (static or control plane)",
            ["source"],
            registry=r,
        )
        r.register(_ActiveConnections(relaying))

    def observe(self, event: ConnectionEvent) -> None:
        route = NO_ROUTE
        if event.route is not None and self._known_route(event.route.service):
            route = event.route.service
        kind = event.kind
        totals = self.totals
        if kind is EventKind.CIRCUIT_OVERFLOW:
            self.circuit_overflow.inc()
        if kind is EventKind.RATE_LIMITED:
            self.rate_limited.inc()
        # The kind itself is the label value: EventKind is a StrEnum, and .value is a call.
        if kind in PROGRESS_KINDS:
            totals.errors[route, kind] += 1
            return
        totals.ended[route, kind] += 1
        if kind is not EventKind.RELAYED:
            totals.errors[route, kind] += 1
        if event.connect_seconds is not None:
            totals.observe_connect(event.connect_seconds)
        if event.bytes_in or event.bytes_out:
            totals.bytes[route, "in"] += event.bytes_in
            totals.bytes[route, "out"] += event.bytes_out

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_app(metrics: GatewayMetrics) -> web.Application:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", serve)
    return app
