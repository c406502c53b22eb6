"""Metrics and the access log, fed by the events of real connections through a real gateway."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from federation.gateway.access_log import FIELDS, AccessLog
from federation.gateway.command import fan_out
from federation.gateway.events import ConnectionEvent, EventKind
from federation.gateway.metrics import GatewayMetrics
from federation.gateway.routes import StaticRouteTable, Upstream
from federation.gateway.sni import RouteName
from tests.federation.gateway.conftest import (
    SNI_A,
    Backend,
    EventLog,
    GatewayFactory,
    RunningGateway,
    TlsClient,
)


def samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_and_access_log_describe_relayed_and_failed_connections(
    backends: dict[str, Backend], start_gateway: GatewayFactory, free_port: int, tmp_path: Path
) -> None:
    log_path = tmp_path / "access.log"
    events = EventLog()
    table = StaticRouteTable(
        {
            "svc-a.ns": [
                Upstream("127.0.0.1", free_port, "c0"),
                Upstream(*backends["a"].address, "c1"),
            ]
        }
    )
    started: list[RunningGateway] = []
    metrics = GatewayMetrics(
        lambda: started[0].gateway.relaying_by_service(), known_route=lambda _: True
    )
    with AccessLog(str(log_path)) as access_log:
        hook = fan_out(metrics.observe, access_log.observe, events)
        gw = await start_gateway(table, on_event=hook)
        started.append(gw)
        client = await TlsClient.connect(gw.address, SNI_A, backends["a"].identity.client_context())
        assert await client.exchange(b"ping\n") == b"a got ping\n"
        assert (
            samples(metrics)[("meshfed_gateway_active_connections", (("route", "svc-a.ns"),))] == 1
        )
        client.close()
        relayed = await events.wait_for(EventKind.RELAYED)
    seen = samples(metrics)
    assert (
        seen[("meshfed_gateway_connections_total", (("outcome", "relayed"), ("route", "svc-a.ns")))]
        == 1
    )
    assert (
        seen[
            (
                "meshfed_gateway_errors_total",
                (("kind", "upstream_connect_failed"), ("route", "svc-a.ns")),
            )
        ]
        == 1
    )
    assert (
        seen[("meshfed_gateway_bytes_total", (("direction", "in"), ("route", "svc-a.ns")))]
        == relayed.bytes_in
    )
    assert (
        seen[("meshfed_gateway_bytes_total", (("direction", "out"), ("route", "svc-a.ns")))]
        == relayed.bytes_out
    )
    assert seen[("meshfed_gateway_connect_seconds_count", ())] == 1
    assert ("meshfed_gateway_active_connections", (("route", "svc-a.ns"),)) not in seen

    (line,) = log_path.read_text().splitlines()
    entry = json.loads(line)
    assert tuple(entry) == FIELDS
    assert entry["outcome"] == "relayed" and entry["sni"] == SNI_A and entry["route"] == "svc-a.ns"
    assert entry["upstream"] == "{}:{}".format(*backends["a"].address)
    assert entry["upstream_cluster"] == "c1"
    assert entry["bytes_in"] == relayed.bytes_in > 0
    assert entry["bytes_out"] == relayed.bytes_out > 0


def test_refusals_count_by_kind_and_in_their_own_counters() -> None:
    metrics = GatewayMetrics(dict, known_route=lambda _: True)
    route = RouteName("svc-a.ns")
    for kind in (EventKind.CIRCUIT_OVERFLOW, EventKind.CIRCUIT_OPEN, EventKind.RATE_LIMITED):
        metrics.observe(ConnectionEvent(1, kind, route=route))
    metrics.observe(ConnectionEvent(2, EventKind.NOT_TLS))
    seen = samples(metrics)
    assert seen[("meshfed_gateway_circuit_overflow_total", ())] == 1
    assert seen[("meshfed_gateway_rate_limited_total", ())] == 1
    assert (
        seen[
            (
                "meshfed_gateway_connections_total",
                (("outcome", "circuit_open"), ("route", "svc-a.ns")),
            )
        ]
        == 1
    )
    assert (
        seen[("meshfed_gateway_connections_total", (("outcome", "not_tls"), ("route", "-")))] == 1
    )
    # An overflow skips one candidate; the connection itself is counted by how it ends.
    assert (
        "meshfed_gateway_connections_total",
        (("outcome", "circuit_overflow"), ("route", "svc-a.ns")),
    ) not in seen


def test_a_failing_observer_does_not_keep_the_event_from_the_others() -> None:
    seen: list[ConnectionEvent] = []

    def broken(_: ConnectionEvent) -> None:
        raise RuntimeError("disk full")

    event = ConnectionEvent(1, EventKind.RELAYED)
    fan_out(broken, seen.append)(event)
    assert seen == [event]


def test_a_service_only_the_clients_sni_names_is_counted_under_no_route() -> None:
    metrics = GatewayMetrics(dict, known_route=lambda service: service == "svc-a.ns")
    for number, service in enumerate(("svc-a.ns", "made-up-1.ns", "made-up-2.ns")):
        metrics.observe(ConnectionEvent(number, EventKind.NO_UPSTREAM, route=RouteName(service)))
    seen = samples(metrics)
    no_upstream = {
        dict(labels)["route"]: value
        for (name, labels), value in seen.items()
        if name == "meshfed_gateway_connections_total"
    }
    assert no_upstream == {"svc-a.ns": 1, "-": 2}


def test_connect_times_fall_in_cumulative_buckets_whose_bounds_are_inclusive() -> None:
    metrics = GatewayMetrics(dict, known_route=lambda _: True)
    for seconds in (0.001, 0.0011, 10.0):
        metrics.observe(
            ConnectionEvent(1, EventKind.RELAYED, route=RouteName("a.ns"), connect_seconds=seconds)
        )
    seen = samples(metrics)

    def bucket(le: str) -> float:
        return seen[("meshfed_gateway_connect_seconds_bucket", (("le", le),))]

    assert (bucket("0.0005"), bucket("0.001"), bucket("0.0025"), bucket("5.0")) == (0, 1, 2, 2)
    assert bucket("+Inf") == seen[("meshfed_gateway_connect_seconds_count", ())] == 3
    assert seen[("meshfed_gateway_connect_seconds_sum", ())] == 0.001 + 0.0011 + 10.0
