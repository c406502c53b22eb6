"""A resolve answer: a cached table seen from one client, in the DESIGN.md resolve shape."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from federation.scheduler.errors import NoHealthyEndpointError
from federation.scheduler.model import CanaryRule, ClientPoint, EndpointState
from federation.scheduler.table import ClusterState, LevelState, RoutingTable


@dataclass(frozen=True, slots=True)
class Resolution:
    service: str
    version: int
    client: ClientPoint
    table: RoutingTable
    distances_km: Mapping[str, float | None]  # None: the cluster has no known placement
    canary: CanaryRule | None = None

    @property
    def levels(self) -> tuple[LevelState, ...]:
        return self.table.levels

    def pick(self, rng: random.Random) -> EndpointState:
        return self.table.pick(rng)

    def explain(self) -> tuple[str, ...]:
        lines: list[str] = []
        if self.canary is not None:
            lines.append(
                f"header {self.canary.header!r} matched canary rule {self.canary.value!r}: "
                f"cluster {self.canary.cluster} is priority 0"
            )
        lines.extend(self.table.explain())
        for level in self.levels:
            for cluster in self._by_distance(level):
                lines.append(f"{cluster.name} is {_distance_text(self.distances_km[cluster.name])}")
        return tuple(lines)

    def to_dict(self, rng: random.Random | None = None) -> dict[str, Any]:
        """The resolve JSON without `client`, which only the caller knows how it located."""
        return {
            "service": self.service,
            "version": self.version,
            "levels": [self._level_dict(level) for level in self.levels],
            "pick": self._pick_dict(rng),
            "explain": list(self.explain()),
        }

    def _by_distance(self, level: LevelState) -> list[ClusterState]:
        def order(cluster: ClusterState) -> tuple[bool, float, str]:
            distance = self.distances_km[cluster.name]
            return (distance is None, distance or 0.0, cluster.name)

        return sorted(level.clusters, key=order)

    def _level_dict(self, level: LevelState) -> dict[str, Any]:
        return {
            "priority": level.priority,
            "load_percent": level.load_percent,
            "panic": level.panic,
            "healthy": level.healthy,
            "total": level.total,
            "clusters": [self._cluster_dict(cluster) for cluster in self._by_distance(level)],
        }

    def _cluster_dict(self, cluster: ClusterState) -> dict[str, Any]:
        distance = self.distances_km[cluster.name]
        return {
            "name": cluster.name,
            "share_percent": cluster.share_percent,
            "weight": cluster.weight,
            "healthy": cluster.healthy,
            "total": cluster.total,
            "distance_km": None if distance is None else round(distance, 1),
            "endpoints": [
                {"address": e.address, "port": e.port, "health": e.health}
                for e in cluster.endpoints
            ],
        }

    def _pick_dict(self, rng: random.Random | None) -> dict[str, Any] | None:
        if rng is None:
            return None
        try:
            endpoint = self.pick(rng)
        except NoHealthyEndpointError:
            return None
        return {"cluster": endpoint.cluster, "address": endpoint.address, "port": endpoint.port}


def _distance_text(distance: float | None) -> str:
    if distance is None:
        return "at an unknown distance (no placement known for the cluster)"
    return f"{distance:.1f} km from the client (great circle)"
