"""deploy/grafana/meshfed.json charts every metric meshfed exports, under the names the
registries give them, with the PromQL each metric's type calls for."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from federation.gateway.metrics import GatewayMetrics
from federation.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "meshfed.json"
DATASOURCE = "${datasource}"
METRIC = re.compile(r"\bmeshfed_[a-z0-9_]+")
MATCHERS = re.compile(r"(meshfed_[a-z0-9_]+)\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
NAME_BEFORE_PAREN = re.compile(r"([a-z_]+)\s*$")
GROUPING = re.compile(r"\bby\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
PAIRS = {")": "(", "]": "[", "}": "{"}
COUNTER_FUNCTIONS = {"rate", "irate", "increase"}
# A histogram's series are only meaningful as rates: _bucket under histogram_quantile, or
# rate(_sum) / rate(_count) for a mean.
HISTOGRAM_SERIES = {"_bucket", "_sum", "_count"}


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kind: str
    labels: frozenset[str]


@dataclass(frozen=True, slots=True)
class Series:
    """A name a scrape shows, and the family it belongs to."""

    family: Family
    suffix: str


def families(registry: CollectorRegistry) -> list[Family]:
    found = []
    for collector in registry._collector_to_names:  # the registry keeps no public list
        if isinstance(collector, MetricWrapperBase):
            labels = frozenset(collector._labelnames)
            found.append(Family(collector._name, str(collector._type), labels))
            continue
        # A custom collector (the gateway's live connection gauge) says what it exports here.
        for family in collector.describe():  # type: ignore[attr-defined]
            labels = frozenset(getattr(family, "_labelnames", ()))
            found.append(Family(family.name, family.type, labels))
    return found


def exported() -> dict[str, Series]:
    """Every series name either registry exposes, as Prometheus client spells it on a scrape."""
    registries = [Metrics().registry, GatewayMetrics(dict, known_route=lambda _: True).registry]
    names: dict[str, Series] = {}
    for family in (f for registry in registries for f in families(registry)):
        suffixes = {"counter": ["_total"], "histogram": sorted(HISTOGRAM_SERIES)}.get(
            family.kind, [""]
        )
        for suffix in suffixes:
            names[family.name + suffix] = Series(family, suffix)
    return names


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those folded into collapsed rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def charts(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in panels(dashboard) if panel["type"] != "row"]


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every query the dashboard runs, template variables included."""
    found = [
        (panel["title"], target["expr"])
        for panel in charts(dashboard)
        for target in panel["targets"]
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']}", variable["query"]["query"]))
    return found


def enclosing_functions(expr: str, position: int) -> list[str]:
    """The functions whose parentheses are open at position, innermost last ('' for grouping)."""
    stack: list[str] = []
    for index, char in enumerate(expr[:position]):
        if char == "(":
            name = NAME_BEFORE_PAREN.search(expr[:index])
            stack.append(name.group(1) if name else "")
        elif char == ")":
            stack.pop()
    return stack


def type_problem(series: Series, stack: list[str]) -> str | None:
    innermost = stack[-1] if stack else ""
    kind = series.family.kind
    if kind == "counter" and innermost not in COUNTER_FUNCTIONS:
        return "a counter must be read through rate(), irate() or increase()"
    if kind == "histogram":
        if innermost not in {"rate", "increase"}:
            return "a histogram series must be read through rate() or increase()"
        if series.suffix == "_bucket" and "histogram_quantile" not in stack:
            return "a histogram's _bucket series belongs under histogram_quantile()"
    if kind == "gauge" and COUNTER_FUNCTIONS & set(stack):
        return "a gauge is read as it is, not through rate()/increase()"
    return None


def test_the_dashboard_is_a_grafana_10_model_with_a_prometheus_datasource_variable() -> None:
    dashboard = load()
    assert dashboard["schemaVersion"] >= 38
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("route", "provider", "service"):
        assert variables[name]["datasource"]["uid"] == DATASOURCE
        assert variables[name]["query"]["query"].startswith("label_values(")
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows == ["Overview", "Discovery", "Routing", "Gateway", "Trust", "Audit"]


def test_every_chart_has_a_title_the_datasource_variable_and_a_query() -> None:
    dashboard = load()
    for panel in charts(dashboard):
        assert panel.get("title"), f"panel {panel['id']} has no title"
        assert panel["datasource"]["uid"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == DATASOURCE, panel["title"]
    assert all(panel.get("title") for panel in panels(dashboard))


def test_every_metric_the_dashboard_queries_is_exported_under_that_name() -> None:
    names = exported()
    unknown = [
        f"{title}: {name}"
        for title, expr in expressions(load())
        for name in METRIC.findall(expr)
        if name not in names
    ]
    assert not unknown, f"not exported by federation.metrics or the gateway: {unknown}"


def test_every_label_the_dashboard_matches_on_exists_on_its_metric() -> None:
    names = exported()
    wrong = [
        f"{title}: {name} has no label {label!r}"
        for title, expr in expressions(load())
        for name, matchers in MATCHERS.findall(expr)
        for label in MATCHER_LABEL.findall(matchers)
        if name in names and label not in names[name].family.labels | {"le"}
    ]
    assert not wrong, wrong


def test_every_query_closes_what_it_opens() -> None:
    for title, expr in expressions(load()):
        open_brackets: list[str] = []
        for char in re.sub(r'"[^"]*"', '""', expr):
            if char in "([{":
                open_brackets.append(char)
            elif char in PAIRS:
                assert open_brackets and open_brackets.pop() == PAIRS[char], f"{title}: {expr}"
        assert not open_brackets, f"{title}: {expr}"


def test_every_legend_names_a_label_the_query_keeps() -> None:
    for panel in charts(load()):
        for target in panel["targets"]:
            kept = {
                label.strip()
                for grouping in GROUPING.findall(target["expr"])
                for label in grouping.split(",")
            }
            legend = set(LEGEND_LABEL.findall(target.get("legendFormat", "")))
            assert legend <= kept, f"{panel['title']}: legend {legend - kept} is aggregated away"


def test_every_metric_is_read_as_its_type_demands() -> None:
    names = exported()
    problems = []
    for title, expr in expressions(load()):
        if expr.startswith("label_values("):
            continue
        for match in METRIC.finditer(expr):
            series = names.get(match.group())
            problem = series and type_problem(series, enclosing_functions(expr, match.start()))
            if problem:
                problems.append(f"{title}: {match.group()}: {problem}")
    assert not problems, problems


def test_every_exported_metric_has_a_panel() -> None:
    names = exported()
    charted = {
        names[name].family.name
        for panel in charts(load())
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
        if name in names
    }
    missing = sorted({series.family.name for series in names.values()} - charted)
    assert not missing, f"add a panel to {DASHBOARD.name} for: {missing}"


def test_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in panels(load())]
    assert len(ids) == len(set(ids))


def test_no_two_panels_overlap_and_all_fit_the_24_column_grid() -> None:
    boxes = [(panel["title"], panel["gridPos"]) for panel in panels(load())]
    for title, box in boxes:
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24, title
    for (first, a), (second, b) in combinations(boxes, 2):
        apart = (
            a["x"] + a["w"] <= b["x"]
            or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"]
            or b["y"] + b["h"] <= a["y"]
        )
        assert apart, f"{first!r} overlaps {second!r}"


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("sum(meshfed_http_requests_total)", "a counter must be read through"),
        ("rate(meshfed_http_request_duration_seconds_bucket[5m])", "belongs under"),
        ("histogram_quantile(0.9, meshfed_resolve_duration_seconds_bucket)", "must be read"),
        ("rate(meshfed_store_up[5m])", "a gauge is read as it is"),
        ("sum by (le) (rate(meshfed_gateway_connect_seconds_count[5m]))", None),
        (
            "histogram_quantile(0.9, sum by (le) "
            "(rate(meshfed_resolve_duration_seconds_bucket[1m])))",
            None,
        ),
        ("max by (provider) (meshfed_provider_staleness_seconds)", None),
    ],
)
def test_the_type_check_tells_right_queries_from_wrong_ones(expr: str, problem: str | None) -> None:
    names = exported()
    match = METRIC.search(expr)
    assert match is not None
    found = type_problem(names[match.group()], enclosing_functions(expr, match.start()))
    assert (found is None) if problem is None else (found is not None and problem in found)
