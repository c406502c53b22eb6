"""Which clusters form each priority level, per routing mode (DESIGN.md, "Routing semantics")."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from federation.scheduler.model import ClusterPlacement, RoutingMode, RoutingSpec


@dataclass(frozen=True, slots=True)
class ClientLocality:
    """What level planning needs of a client; exact coordinates only matter for display."""

    region_key: str
    continent: str


@dataclass(frozen=True, slots=True)
class LevelPlan:
    """One priority level before health is known: clusters with locality weights, and why."""

    rule: str
    localities: tuple[tuple[str, int], ...]  # (cluster, locality weight), sorted by cluster

    @property
    def clusters(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.localities)

    def without(self, cluster: str) -> LevelPlan:
        return LevelPlan(self.rule, tuple(loc for loc in self.localities if loc[0] != cluster))


def plan_levels(
    spec: RoutingSpec,
    client: ClientLocality,
    placements: Mapping[str, ClusterPlacement],
    serving: Collection[str],
) -> tuple[LevelPlan, ...]:
    """Levels in priority order; empty levels are dropped and weight-0 clusters are drained.

    `serving` are the clusters that have something to reach for the service; geo mode picks its
    clusters from them, while weighted and failover take exactly the clusters the spec names.
    """
    if spec.mode is RoutingMode.WEIGHTED:
        plans = [_plan("weighted: configured weights", spec.weights)]
    elif spec.mode is RoutingMode.FAILOVER:
        count = len(spec.failover)
        plans = [
            _plan(f"failover: entry {index + 1} of {count}", entry)
            for index, entry in enumerate(spec.failover)
        ]
    else:
        plans = _geo_plans(spec, client, placements, serving)
    return tuple(plan for plan in plans if plan.localities)


def _plan(rule: str, weights: Mapping[str, int]) -> LevelPlan:
    # Envoy treats a locality of weight 0 as absent, which is how an operator drains a cluster.
    localities = tuple(sorted((name, weight) for name, weight in weights.items() if weight > 0))
    return LevelPlan(rule, localities)


def _geo_plans(
    spec: RoutingSpec,
    client: ClientLocality,
    placements: Mapping[str, ClusterPlacement],
    serving: Collection[str],
) -> list[LevelPlan]:
    # Istio-style locality failover: same region, then same continent, then everything else;
    # a cluster without a known placement can only be "everything else".
    same_region: dict[str, int] = {}
    same_continent: dict[str, int] = {}
    rest: dict[str, int] = {}
    for name in serving:
        weight = spec.weights.get(name, 1)
        placement = placements.get(name)
        if placement is not None and placement.region_key == client.region_key:
            same_region[name] = weight
        elif placement is not None and placement.continent == client.continent:
            same_continent[name] = weight
        else:
            rest[name] = weight
    return [
        _plan(f"geo: clusters in the client's region {client.region_key}", same_region),
        _plan(f"geo: other clusters on the client's continent {client.continent}", same_continent),
        _plan("geo: clusters on other continents", rest),
    ]
