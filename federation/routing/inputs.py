"""Pure mappings from the config model and stored records onto the scheduler's input types."""

from __future__ import annotations

from collections.abc import Mapping

from federation import model
from federation.registry import MergedEndpoint
from federation.routing.health_records import HealthRecord
from federation.scheduler import (
    CanaryRule,
    ClusterPlacement,
    EndpointState,
    RoutingMode,
    RoutingSpec,
    ServiceSpec,
)
from geo import RegionCatalog, UnknownRegionError
from providers.base import Health


def service_spec(spec: model.ServiceSpec) -> ServiceSpec:
    routing = spec.routing
    canary = tuple(
        CanaryRule(
            header=rule.header,
            value=rule.regex if rule.regex is not None else rule.value or "",
            cluster=rule.cluster,
            regex=rule.regex is not None,
        )
        for rule in routing.canary
    )
    return ServiceSpec(
        name=spec.name,
        port=spec.port,
        routing=RoutingSpec(
            mode=RoutingMode(routing.mode),
            weights=dict(routing.weights),
            failover=tuple(dict(entry) for entry in routing.failover),
            overprovisioning_factor=routing.overprovisioning_factor,
            panic_threshold=routing.panic_threshold,
            canary=canary,
        ),
    )


def placement(cluster: model.ClusterSpec, catalog: RegionCatalog) -> ClusterPlacement | None:
    """Where the cluster runs; None when its region is not in the catalog (config checks
    refuse such clusters, so this only guards records written by an older version)."""
    try:
        region = catalog.get(cluster.cloud, cluster.region)
    except UnknownRegionError:
        return None
    return ClusterPlacement(cluster.name, region.key, region.continent, region.lat, region.lon)


def gateway_key(cluster: str, address: str, port: int) -> str:
    # The registry's key for a discovered gateway, so a configured gateway that is also
    # discovered is one endpoint, not two.
    return f"{cluster}/gateway/-/{address}:{port}"


def configured_gateway(cluster: model.ClusterSpec) -> EndpointState | None:
    if cluster.gateway is None:
        return None
    gateway = cluster.gateway
    return EndpointState(
        key=gateway_key(cluster.name, gateway.address, gateway.port),
        cluster=cluster.name,
        address=gateway.address,
        port=gateway.port,
    )


def actively_checked(reported: Health) -> bool:
    """Active checks decide only when the source has no say: a static ``health`` override
    and Cloud Map's own health status are taken as given."""
    return reported is Health.UNKNOWN


def verdict(reported: Health, record: HealthRecord | None, now: float) -> tuple[bool, bool]:
    """(healthy, ejected): the source's health, the active checks' verdict and outlier
    ejection together; any one of them can take an endpoint out."""
    healthy = reported in (Health.UNKNOWN, Health.HEALTHY)
    ejected = False
    if record is not None:
        if record.healthy is not None and actively_checked(reported):
            healthy = record.healthy
        ejected = record.ejected(now)
    return healthy, ejected


def in_service(reported: Health, record: HealthRecord | None, now: float) -> bool:
    healthy, ejected = verdict(reported, record, now)
    return healthy and not ejected


def out_of_service(
    reported: Mapping[str, Health], health: Mapping[str, HealthRecord], now: float
) -> set[str]:
    """Keys of the endpoints with a health record that takes them out at ``now``."""
    return {
        key
        for key, record in health.items()
        if not in_service(reported.get(key, Health.UNKNOWN), record, now)
    }


def next_verdict_change(
    reported: Mapping[str, Health], health: Mapping[str, HealthRecord], now: float
) -> float | None:
    """The first moment after ``now`` at which the clock alone puts an endpoint back in
    service: the end of an ejection of an endpoint that is otherwise healthy. None if none."""
    ends = [
        record.ejected_until
        for key, record in health.items()
        if record.ejected_until is not None and record.ejected_until > now
        if verdict(reported.get(key, Health.UNKNOWN), record, now)[0]
    ]
    return min(ends, default=None)


def combined(
    base: EndpointState, reported: Health, record: HealthRecord | None, now: float
) -> EndpointState:
    """The endpoint as the scheduler sees it (see ``verdict``)."""
    healthy, ejected = verdict(reported, record, now)
    return EndpointState(
        key=base.key,
        cluster=base.cluster,
        address=base.address,
        port=base.port,
        weight=base.weight,
        healthy=healthy,
        ejected=ejected,
        service=base.service,
    )


def registry_endpoint(merged: MergedEndpoint) -> EndpointState:
    e = merged.endpoint
    return EndpointState(
        key=e.key,
        cluster=e.cluster,
        address=e.address,
        port=e.port,
        weight=e.weight,
        service=e.service,
    )
