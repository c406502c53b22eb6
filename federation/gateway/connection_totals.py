"""The per-connection metrics, counted with plain dict additions and turned into Prometheus
families only when scraped.

A prometheus_client child's ``inc`` takes a lock and several Python calls; a gateway setting
up a connection every millisecond paid that five or six times per connection. The event loop
is the only writer and scrapes run on it too, so plain counters need no lock.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONNECTIONS = "meshfed_gateway_connections"
ERRORS = "meshfed_gateway_errors"
BYTES = "meshfed_gateway_bytes"
CONNECT_SECONDS = "meshfed_gateway_connect_seconds"


class ConnectionTotals(Collector):
    def __init__(self, connect_buckets: Sequence[float]) -> None:
        self.ended: Counter[tuple[str, str]] = Counter()  # (route, outcome)
        self.errors: Counter[tuple[str, str]] = Counter()  # (route, kind)
        self.bytes: Counter[tuple[str, str]] = Counter()  # (route, direction)
        self._bounds = tuple(connect_buckets)
        self._connects = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._connect_sum = 0.0

    def observe_connect(self, seconds: float) -> None:
        # Prometheus buckets are upper bounds, inclusive: le="0.001" counts 0.001 itself.
        self._connects[bisect.bisect_left(self._bounds, seconds)] += 1
        self._connect_sum += seconds

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        ended, errors, sent, connects = self._families()
        for counter, family in ((self.ended, ended), (self.errors, errors), (self.bytes, sent)):
            for labels, value in sorted(counter.items()):
                family.add_metric(list(labels), value)
        cumulative, buckets = 0, []
        # Spelled as prometheus_client's own histograms spell them, so dashboards see no change.
        bounds = (*map(floatToGoString, self._bounds), "+Inf")
        for bound, count in zip(bounds, self._connects, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        connects.add_metric([], buckets, self._connect_sum)
        yield from (ended, errors, sent, connects)

    @staticmethod
    def _families() -> tuple[
        CounterMetricFamily, CounterMetricFamily, CounterMetricFamily, HistogramMetricFamily
    ]:
        return (
            CounterMetricFamily(
                CONNECTIONS, "Connections ended, by route and outcome", labels=["route", "outcome"]
            ),
            CounterMetricFamily(
                ERRORS,
                "Failures on the way: upstream connect failures, resets, refusals",
                labels=["route", "kind"],
            ),
            CounterMetricFamily(
                BYTES,
                "Bytes relayed; in = client to upstream, out = upstream to client",
                labels=["route", "direction"],
            ),
            HistogramMetricFamily(
                CONNECT_SECONDS, "Time to connect to an upstream, retries included"
            ),
        )
