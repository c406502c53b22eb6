"""docs/observability.md lists every meshfed_ metric the service and the gateway export, with
its type and labels, exactly as the registries define them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from federation.gateway.metrics import GatewayMetrics
from federation.metrics import Metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
BEGIN, END = "<!-- metrics table: begin -->", "<!-- metrics table: end -->"
# What a scrape shows: a counter gains _total; a histogram's name leads its _bucket/_sum/_count.
SUFFIX = {"counter": "_total", "gauge": "", "histogram": "", "summary": ""}


def rows(registry: CollectorRegistry, component: str) -> list[str]:
    found = []
    for collector in registry._collector_to_names:  # the registry keeps no public list
        found.extend(describe(collector, component))
    return found


def describe(collector: Collector, component: str) -> list[str]:
    if isinstance(collector, MetricWrapperBase):
        kind, labels = str(collector._type), collector._labelnames
        name, help_text = collector._name, collector._documentation
        return [line(name + SUFFIX[kind], kind, labels, component, help_text)]
    # A custom collector (the gateway's live gauge, its per-connection totals) says what it
    # exports here; like the client's own, a counter family is named without its _total.
    described: Iterable[Metric] = collector.describe()  # type: ignore[attr-defined]
    return [
        line(
            family.name + SUFFIX[family.type],
            family.type,
            getattr(family, "_labelnames", ()),
            component,
            family.documentation,
        )
        for family in described
    ]


def line(name: str, kind: str, labels: tuple[str, ...], component: str, help_text: str) -> str:
    shown = ", ".join(f"`{label}`" for label in labels) or "none"
    return f"| `{name}` | {kind} | {shown} | {component} | {help_text} |"


def metrics_table() -> str:
    body = sorted(
        rows(Metrics().registry, "serve")
        + rows(GatewayMetrics(dict, known_route=lambda _: True).registry, "gateway")
    )
    header = ["| metric | type | labels | exported by | what |", "|---|---|---|---|---|"]
    return "\n".join(header + body)


def test_every_metric_is_in_the_doc_with_its_type_and_labels() -> None:
    text = DOC.read_text()
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    expected = metrics_table()
    assert documented == expected, f"replace the table in {DOC.name} with:\n{expected}"


def test_the_table_names_only_meshfed_metrics() -> None:
    names = [row.split("`")[1] for row in metrics_table().splitlines()[2:]]
    assert names and all(name.startswith("meshfed_") for name in names)
    assert len(names) == len(set(names))
