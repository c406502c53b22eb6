"""A scheduler table as Envoy's EDS resource: ``envoy.config.endpoint.v3.ClusterLoadAssignment``.

Envoy re-runs the priority and locality arithmetic itself from what EDS hands it (host health,
locality weights, the overprovisioning factor), so the assignment carries the scheduler's
inputs, not its outputs: a level's priority, a cluster's configured weight, each endpoint's
health and weight. Envoy then arrives at the same loads and shares ``/v1/resolve`` reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from federation.scheduler import EndpointState, Resolution

CLUSTER_LOAD_ASSIGNMENT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"


@dataclass(frozen=True, slots=True)
class Locality:
    """Where a cluster runs, in Envoy's locality terms."""

    region: str
    zone: str
    sub_zone: str

    def to_dict(self) -> dict[str, str]:
        return {
            key: value
            for key, value in (
                ("region", self.region),
                ("zone", self.zone),
                ("sub_zone", self.sub_zone),
            )
            if value
        }


def health_status(endpoint: EndpointState) -> str:
    # Envoy's HealthStatus enum: an ejected host is out of rotation just like one that fails
    # checks; EDS has no separate "ejected" value (Envoy's own outlier detection adds that).
    return "HEALTHY" if endpoint.available else "UNHEALTHY"


def lb_endpoint(endpoint: EndpointState) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "endpoint": {
            "address": {
                "socket_address": {"address": endpoint.address, "port_value": endpoint.port}
            }
        },
        "health_status": health_status(endpoint),
    }
    # The proto requires a weight of at least 1 when present; a weight-0 endpoint is sent
    # without one rather than be rejected.
    if endpoint.weight >= 1:
        entry["load_balancing_weight"] = endpoint.weight
    return entry


def cluster_load_assignment(
    resolution: Resolution,
    localities: Mapping[str, Locality],
    overprovisioning_percent: int,
) -> dict[str, Any]:
    """One service's assignment as REST-JSON. ``localities`` maps cluster names to where they
    run; a cluster missing there is placed by name alone."""
    groups: list[dict[str, Any]] = []
    for level in resolution.levels:
        for cluster in level.clusters:
            locality = localities.get(cluster.name, Locality("", "", cluster.name))
            group: dict[str, Any] = {
                "locality": locality.to_dict(),
                "lb_endpoints": [lb_endpoint(e) for e in cluster.endpoints],
                "priority": level.priority,
            }
            # Envoy ignores a locality without a weight once locality weighting is on, which
            # is what weight 0 means here; the proto forbids an explicit 0.
            if cluster.weight >= 1:
                group["load_balancing_weight"] = cluster.weight
            groups.append(group)
    return {
        "@type": CLUSTER_LOAD_ASSIGNMENT,
        "cluster_name": resolution.service,
        "endpoints": groups,
        "policy": {"overprovisioning_factor": overprovisioning_percent},
    }


def discovery_response(
    assignments: list[dict[str, Any]], version_info: str, nonce: str
) -> dict[str, Any]:
    return {
        "version_info": version_info,
        "resources": assignments,
        "type_url": CLUSTER_LOAD_ASSIGNMENT,
        "nonce": nonce,
    }
