"""One precomputed routing table: levels with loads, clusters with shares, and the O(1) pick."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from federation.scheduler.alias import AliasTable
from federation.scheduler.levels import LevelPlan
from federation.scheduler.loads import (
    HostCounts,
    LocalityInput,
    availability,
    locality_shares,
    priority_load,
)
from federation.scheduler.model import EndpointState, RoutingSpec


@dataclass(frozen=True, slots=True)
class ClusterState:
    name: str
    weight: int
    availability: int
    effective_weight: int
    share_percent: int
    healthy: int
    total: int
    endpoints: tuple[EndpointState, ...]


@dataclass(frozen=True, slots=True)
class LevelState:
    priority: int
    rule: str
    load_percent: int
    panic: bool
    health_score: int
    healthy: int
    total: int
    clusters: tuple[ClusterState, ...]


@dataclass(frozen=True, slots=True)
class RoutingTable:
    service: str
    levels: tuple[LevelState, ...]
    normalized_total_health: int
    panic_threshold: float
    choices: tuple[EndpointState, ...]  # alias column i picks choices[i]
    alias: AliasTable

    def pick(self, rng: random.Random) -> EndpointState:
        return self.choices[self.alias.pick(rng)]

    def pick_with(self, u1: float, u2: float) -> EndpointState:
        return self.choices[self.alias.pick_index(u1, u2)]

    def explain(self) -> tuple[str, ...]:
        return tuple(line for level in self.levels for line in _explain_level(self, level))


def build_table(
    service: str,
    spec: RoutingSpec,
    plans: Sequence[LevelPlan],
    endpoints: Mapping[str, Sequence[EndpointState]],
) -> RoutingTable:
    """`endpoints` maps each planned cluster to what traffic for the service reaches there."""
    factor = spec.overprovisioning_percent
    counts = [[_counts(endpoints.get(name, ())) for name in plan.clusters] for plan in plans]
    level_counts = [
        HostCounts(sum(c.healthy for c in row), sum(c.total for c in row)) for row in counts
    ]
    load = priority_load(level_counts, factor, spec.panic_threshold)
    levels: list[LevelState] = []
    for priority, (plan, row) in enumerate(zip(plans, counts, strict=True)):
        inputs = [
            LocalityInput(weight, cluster_counts, sum(e.weight for e in endpoints.get(name, ())))
            for (name, weight), cluster_counts in zip(plan.localities, row, strict=True)
        ]
        shares = locality_shares(inputs, factor, load.panic[priority])
        clusters = tuple(
            ClusterState(
                name=name,
                weight=weight,
                availability=min(100, availability(cluster_counts, factor)),
                effective_weight=shares.effective_weights[index],
                share_percent=shares.share_percent[index],
                healthy=cluster_counts.healthy,
                total=cluster_counts.total,
                endpoints=tuple(endpoints.get(name, ())),
            )
            for index, ((name, weight), cluster_counts) in enumerate(
                zip(plan.localities, row, strict=True)
            )
        )
        levels.append(
            LevelState(
                priority=priority,
                rule=plan.rule,
                load_percent=load.loads[priority],
                panic=load.panic[priority],
                health_score=load.health[priority],
                healthy=level_counts[priority].healthy,
                total=level_counts[priority].total,
                clusters=clusters,
            )
        )
    choices, weights = _pick_weights(levels)
    return RoutingTable(
        service=service,
        levels=tuple(levels),
        normalized_total_health=load.normalized_total_health,
        panic_threshold=spec.panic_threshold,
        choices=choices,
        alias=AliasTable.build(weights),
    )


def _counts(endpoints: Sequence[EndpointState]) -> HostCounts:
    return HostCounts(sum(1 for e in endpoints if e.available), len(endpoints))


def _pick_weights(
    levels: Sequence[LevelState],
) -> tuple[tuple[EndpointState, ...], list[float]]:
    # P(endpoint) = load(level) x share(cluster) x weight / cluster weight: Envoy's order of
    # picks (priority, then locality, then host) collapsed into one table. Exact effective
    # weights are used rather than the rounded display shares.
    choices: list[EndpointState] = []
    weights: list[float] = []
    for level in levels:
        level_weight = sum(cluster.effective_weight for cluster in level.clusters)
        if level.load_percent == 0 or level_weight == 0:
            continue
        for cluster in level.clusters:
            usable = [e for e in cluster.endpoints if level.panic or e.available]
            endpoint_weight = sum(e.weight for e in usable)
            if cluster.effective_weight == 0 or endpoint_weight == 0:
                continue
            cluster_mass = level.load_percent * cluster.effective_weight / level_weight
            for endpoint in usable:
                choices.append(endpoint)
                weights.append(cluster_mass * endpoint.weight / endpoint_weight)
    return tuple(choices), weights


def _explain_level(table: RoutingTable, level: LevelState) -> list[str]:
    lines = [
        f"priority {level.priority} ({level.rule}): {level.healthy}/{level.total} healthy, "
        f"health score {level.health_score}, load {level.load_percent}%"
    ]
    if level.panic:
        lines.append(
            f"priority {level.priority} is in panic: fewer than {table.panic_threshold:g}% of "
            f"its hosts are healthy and normalized total health is "
            f"{table.normalized_total_health} < 100, so it balances over all "
            f"{level.total} hosts"
        )
    for cluster in level.clusters:
        ejected = sum(1 for e in cluster.endpoints if e.ejected)
        ejected_note = f", {ejected} ejected" if ejected else ""
        if level.panic:
            weighting = (
                f"in panic, weighted by its hosts' endpoint weight {cluster.effective_weight}"
            )
        else:
            weighting = (
                f"weight {cluster.weight} x availability {cluster.availability} = effective "
                f"{cluster.effective_weight}"
            )
        lines.append(
            f"  {cluster.name}: {cluster.healthy}/{cluster.total} healthy{ejected_note}; "
            f"{weighting}; share {cluster.share_percent}%"
        )
    return lines
