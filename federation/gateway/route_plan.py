"""Which upstreams one cluster's gateway sends each service to: a pure function of the config
and the endpoint set, shared by ``meshfed gateway`` (static config) and the API (the store).

A service this cluster serves goes to its own endpoints. Any other service goes to the
east-west gateways of the clusters that serve it, in the order its routing names them:
failover entries in order, weighted clusters by weight, geo clusters nearest first. Each
upstream carries the service subsets it serves, so the gateway can narrow by the SNI's subset.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

from federation.gateway.route_config import GatewayConfig, ServiceRoute, TrafficSpec, UpstreamSpec
from federation.gateway.subsets import endpoint_subsets, gateway_subsets
from federation.model import ClusterSpec, MeshfedConfig, ServiceSpec, StaticProviderSpec
from federation.provider_factory import static_endpoint
from federation.routing.inputs import gateway_key
from geo import RegionCatalog, UnknownRegionError, great_circle_km
from providers.base import Endpoint, Health, Role

# Draining endpoints finish what they have but take nothing new, as in Envoy's EDS.
_UNUSABLE = frozenset({Health.UNHEALTHY, Health.DRAINING})


class UnknownClusterError(LookupError):
    def __init__(self, cluster: str, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"cluster {cluster!r} is not in the config (clusters: {names}); "
            "pass the name of the cluster this gateway runs in"
        )
        self.cluster = cluster


def static_endpoints(config: MeshfedConfig) -> list[Endpoint]:
    """The endpoints the config's static providers declare, as discovery would report them."""
    clusters = {cluster.name: cluster for cluster in config.clusters}
    return [
        static_endpoint(spec, clusters[spec.cluster])
        for provider in config.providers
        if isinstance(provider, StaticProviderSpec)
        for spec in provider.endpoints
    ]


def plan_gateway_config(
    config: MeshfedConfig,
    cluster: str,
    endpoints: Iterable[Endpoint],
    version: int,
    catalog: RegionCatalog,
    out_of_service: Collection[str] = (),
) -> GatewayConfig:
    """``out_of_service``: keys of endpoints (and configured gateways) that health checks or
    outlier detection took out, beyond what each endpoint's own ``health`` says."""
    clusters = {spec.name: spec for spec in config.clusters}
    own = clusters.get(cluster)
    if own is None:
        raise UnknownClusterError(cluster, clusters)
    listed = list(endpoints)
    usable = [e for e in listed if e.health not in _UNUSABLE and e.key not in out_of_service]
    gateways = _gateways_by_cluster(config.clusters, usable, out_of_service)
    routes = []
    for service in config.services:
        instances = [e for e in usable if e.role is Role.SERVICE and e.service == service.name]
        serving = {e.cluster for e in instances}
        known = {e.cluster for e in listed if e.role is Role.SERVICE and e.service == service.name}
        local = sorted(
            (e for e in instances if e.cluster == cluster),
            key=lambda e: (-e.weight, e.address, e.port),
        )
        # Local endpoints first; other clusters' gateways after them, so a connection still
        # finds a way when every local endpoint refuses it.
        upstreams = [
            UpstreamSpec(
                address=e.address,
                port=e.port,
                cluster=cluster,
                kind="endpoint",
                subsets=endpoint_subsets(e, service.subsets),
            )
            for e in local
        ]
        order = remote_order(
            service, own, clusters, serving - {cluster}, catalog, down=known - serving
        )
        for name in order:
            narrowed = gateway_subsets(name, instances, known, service.subsets)
            upstreams += [
                g.model_copy(update={"subsets": narrowed}) for g in gateways.get(name, ())
            ]
        routes.append(
            ServiceRoute(
                service=service.name,
                port=service.port,
                local=bool(local),
                upstreams=upstreams,
                subsets=[subset.name for subset in service.subsets],
                traffic=traffic_spec(service),
            )
        )
    return GatewayConfig(cluster=cluster, version=version, services=routes)


def remote_order(
    service: ServiceSpec,
    own: ClusterSpec,
    clusters: dict[str, ClusterSpec],
    serving: set[str],
    catalog: RegionCatalog,
    down: Collection[str] = (),
) -> list[str]:
    """Other clusters to try for ``service``, best first; never ``own``. ``down``: clusters
    whose known endpoints of the service are all out of service — their gateways would only
    refuse it. A cluster whose endpoints meshfed does not see keeps its place: its gateway
    may know them."""
    routing = service.routing
    if routing.mode == "failover":
        ordered = [name for entry in routing.failover for name in _by_weight(entry)]
    elif routing.mode == "weighted":
        ordered = _by_weight(routing.weights)
    else:
        ordered = sorted(
            serving, key=lambda name: (_distance(own, clusters.get(name), catalog), name)
        )
    return [name for name in dict.fromkeys(ordered) if name != own.name and name not in down]


def traffic_spec(service: ServiceSpec) -> TrafficSpec:
    retries, breaker = service.retries, service.circuit_breaker
    return TrafficSpec(
        connect_timeout_s=retries.per_try_timeout.total_seconds(),
        # attempts 0 (no retries) still makes the one attempt every connection needs.
        attempts=max(1, retries.attempts),
        backoff_base_s=retries.backoff_base.total_seconds(),
        backoff_max_s=max(retries.backoff_max, retries.backoff_base).total_seconds(),
        retry_on=list(retries.retry_on),
        max_connections=breaker.max_connections,
        max_pending_requests=breaker.max_pending_requests,
    )


def _by_weight(weights: dict[str, int]) -> list[str]:
    return [
        name for name, weight in sorted(weights.items(), key=lambda i: (-i[1], i[0])) if weight > 0
    ]


def _distance(own: ClusterSpec, other: ClusterSpec | None, catalog: RegionCatalog) -> float:
    if other is None:
        return math.inf
    try:
        a = catalog.get(own.cloud, own.region)
        b = catalog.get(other.cloud, other.region)
    except UnknownRegionError:
        return math.inf
    return great_circle_km(a.lat, a.lon, b.lat, b.lon)


def _gateways_by_cluster(
    clusters: Sequence[ClusterSpec], usable: Sequence[Endpoint], out_of_service: Collection[str]
) -> dict[str, list[UpstreamSpec]]:
    found: dict[str, list[UpstreamSpec]] = {}
    for endpoint in sorted(usable, key=lambda e: (e.cluster, -e.weight, e.address, e.port)):
        if endpoint.role is Role.GATEWAY:
            found.setdefault(endpoint.cluster, []).append(
                UpstreamSpec(
                    address=endpoint.address,
                    port=endpoint.port,
                    cluster=endpoint.cluster,
                    kind="gateway",
                )
            )
    for spec in clusters:
        if spec.gateway is None:
            continue
        if gateway_key(spec.name, spec.gateway.address, spec.gateway.port) in out_of_service:
            continue
        declared = UpstreamSpec(
            address=spec.gateway.address, port=spec.gateway.port, cluster=spec.name, kind="gateway"
        )
        if declared not in found.get(spec.name, []):
            found.setdefault(spec.name, []).append(declared)
    return found
