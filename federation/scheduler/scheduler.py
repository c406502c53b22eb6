"""The scheduler's state: services, placements and endpoints, with cached routing tables.

Tables are cached per (service, client region, client continent, canary rule). Every update
invalidates only the tables of the services it touches (DESIGN.md: rebuild only what a diff
touches); invalidated tables are rebuilt on the next resolve() or by refresh().
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from federation.scheduler.errors import UnknownEndpointError, UnknownServiceError
from federation.scheduler.levels import ClientLocality, LevelPlan, plan_levels
from federation.scheduler.model import ClientPoint, ClusterPlacement, EndpointState, ServiceSpec
from federation.scheduler.resolution import Resolution
from federation.scheduler.table import RoutingTable, build_table
from geo.distance import great_circle_km

DistanceFn = Callable[[float, float, float, float], float]


class TableKey(NamedTuple):
    service: str
    region_key: str
    continent: str
    canary: int | None  # index of the canary rule that applied, if any


class Scheduler:
    def __init__(self, distance_km: DistanceFn = great_circle_km) -> None:
        self._distance_km = distance_km
        self._version = 0
        self._services: dict[str, ServiceSpec] = {}
        self._placements: dict[str, ClusterPlacement] = {}
        self._endpoints: dict[str, EndpointState] = {}
        # service -> cluster -> key -> endpoint, and cluster -> key -> gateway endpoint
        self._service_endpoints: dict[str, dict[str, dict[str, EndpointState]]] = {}
        self._gateways: dict[str, dict[str, EndpointState]] = {}
        # Reverse indexes that keep invalidation proportional to what a change touches.
        self._services_in_cluster: dict[str, set[str]] = {}
        self._services_naming: dict[str, set[str]] = {}
        self._tables: dict[TableKey, RoutingTable] = {}
        self._keys_of_service: dict[str, set[TableKey]] = {}
        self._stale: set[TableKey] = set()
        self._tables_built = 0

    @property
    def version(self) -> int:
        return self._version

    @property
    def tables_built(self) -> int:
        """How many tables were computed so far; tests and benchmarks watch it."""
        return self._tables_built

    @property
    def cached_tables(self) -> int:
        return len(self._tables)

    # -- updates ---------------------------------------------------------------------------

    def set_service(self, service: ServiceSpec) -> None:
        old = self._services.get(service.name)
        if old == service:
            return
        if old is not None:
            self._unindex_naming(old)
        self._services[service.name] = service
        self._index_naming(service)
        self._forget(service.name)
        self._version += 1

    def remove_service(self, name: str) -> None:
        service = self._services.pop(name, None)
        if service is None:
            raise UnknownServiceError(f"service {name!r} is not known to the scheduler")
        self._unindex_naming(service)
        self._forget(name)
        self._version += 1

    def set_cluster(self, placement: ClusterPlacement) -> None:
        if self._placements.get(placement.name) == placement:
            return
        self._placements[placement.name] = placement
        self._invalidate_cluster(placement.name)
        self._version += 1

    def remove_cluster(self, name: str) -> None:
        if self._placements.pop(name, None) is not None:
            self._invalidate_cluster(name)
            self._version += 1

    def apply_endpoints(
        self,
        added: Iterable[EndpointState] = (),
        removed: Iterable[str] = (),
        changed: Iterable[EndpointState] = (),
    ) -> None:
        """Apply one registry diff. Removing an unknown key is a no-op, so a replayed diff is
        harmless; `added` and `changed` both replace whatever the key held."""
        touched = False
        for key in removed:
            touched |= self._drop(key)
        for endpoint in (*added, *changed):
            if self._endpoints.get(endpoint.key) != endpoint:
                self._drop(endpoint.key)
                self._put(endpoint)
                touched = True
        if touched:
            self._version += 1

    def set_health(self, key: str, healthy: bool, ejected: bool | None = None) -> None:
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            raise UnknownEndpointError(
                f"endpoint {key!r} is not known to the scheduler; add it with apply_endpoints()"
            )
        updated = EndpointState(
            key=endpoint.key,
            cluster=endpoint.cluster,
            address=endpoint.address,
            port=endpoint.port,
            weight=endpoint.weight,
            healthy=healthy,
            ejected=endpoint.ejected if ejected is None else ejected,
            service=endpoint.service,
        )
        self.apply_endpoints(changed=[updated])

    # -- reads -----------------------------------------------------------------------------

    def resolve(
        self, service: str, client: ClientPoint, headers: Mapping[str, str] | None = None
    ) -> Resolution:
        spec = self._services.get(service)
        if spec is None:
            raise UnknownServiceError(
                f"service {service!r} is not known to the scheduler; "
                f"known: {', '.join(sorted(self._services)) or 'none'}"
            )
        canary = self._canary_index(spec, headers or {})
        key = TableKey(service, client.region_key, client.continent, canary)
        table = self._tables.get(key) or self._build(key)
        distances = {
            cluster.name: self._distance(client, cluster.name)
            for level in table.levels
            for cluster in level.clusters
        }
        return Resolution(
            service=service,
            version=self._version,
            client=client,
            table=table,
            distances_km=distances,
            canary=None if canary is None else spec.routing.canary[canary],
        )

    def refresh(self) -> int:
        """Rebuild every invalidated table now (e.g. before pushing gateway config)."""
        stale, self._stale = self._stale, set()
        for key in stale:
            self._build(key)
        return len(stale)

    # -- internals -------------------------------------------------------------------------

    def _build(self, key: TableKey) -> RoutingTable:
        service = self._services[key.service]
        routing = service.routing
        named = routing.named_clusters()
        # A canary cluster only takes the requests its rule matches, unless the spec names it.
        canary_only = {rule.cluster for rule in routing.canary} - named
        serving = set(self._service_endpoints.get(key.service, {})) - canary_only
        serving.update(name for name in named if self._gateways.get(name))
        locality = ClientLocality(key.region_key, key.continent)
        plans = plan_levels(routing, locality, self._placements, serving)
        if key.canary is not None:
            cluster = routing.canary[key.canary].cluster
            canary_plan = LevelPlan(
                f"canary: requests matching rule {key.canary + 1}", ((cluster, 1),)
            )
            plans = (canary_plan, *(plan.without(cluster) for plan in plans))
            plans = tuple(plan for plan in plans if plan.localities)
        endpoints = {
            name: self._endpoints_for(key.service, name) for plan in plans for name in plan.clusters
        }
        table = build_table(key.service, routing, plans, endpoints)
        self._tables[key] = table
        self._keys_of_service.setdefault(key.service, set()).add(key)
        self._stale.discard(key)
        self._tables_built += 1
        return table

    def _endpoints_for(self, service: str, cluster: str) -> list[EndpointState]:
        own = self._service_endpoints.get(service, {}).get(cluster)
        # No endpoints of its own there: the cluster's east-west gateway carries the traffic.
        found = own or self._gateways.get(cluster, {})
        return [found[key] for key in sorted(found)]

    def _canary_index(self, service: ServiceSpec, headers: Mapping[str, str]) -> int | None:
        if not headers:
            return None
        for index, rule in enumerate(service.routing.canary):
            if rule.matches(headers) and any(
                e.available for e in self._endpoints_for(service.name, rule.cluster)
            ):
                return index
        return None

    def _distance(self, client: ClientPoint, cluster: str) -> float | None:
        placement = self._placements.get(cluster)
        if placement is None:
            return None
        return self._distance_km(client.lat, client.lon, placement.lat, placement.lon)

    def _put(self, endpoint: EndpointState) -> None:
        self._endpoints[endpoint.key] = endpoint
        if endpoint.service is None:
            self._gateways.setdefault(endpoint.cluster, {})[endpoint.key] = endpoint
            self._invalidate_cluster(endpoint.cluster)
            return
        by_cluster = self._service_endpoints.setdefault(endpoint.service, {})
        by_cluster.setdefault(endpoint.cluster, {})[endpoint.key] = endpoint
        self._services_in_cluster.setdefault(endpoint.cluster, set()).add(endpoint.service)
        self._invalidate(endpoint.service)

    def _drop(self, key: str) -> bool:
        endpoint = self._endpoints.pop(key, None)
        if endpoint is None:
            return False
        if endpoint.service is None:
            _discard_nested(self._gateways, endpoint.cluster, key)
            self._invalidate_cluster(endpoint.cluster)
            return True
        by_cluster = self._service_endpoints[endpoint.service]
        if _discard_nested(by_cluster, endpoint.cluster, key):
            self._services_in_cluster[endpoint.cluster].discard(endpoint.service)
        if not by_cluster:
            del self._service_endpoints[endpoint.service]
        self._invalidate(endpoint.service)
        return True

    def _invalidate_cluster(self, cluster: str) -> None:
        for service in (
            *self._services_in_cluster.get(cluster, ()),
            *self._services_naming.get(cluster, ()),
        ):
            self._invalidate(service)

    def _invalidate(self, service: str) -> None:
        for key in self._keys_of_service.get(service, ()):
            if self._tables.pop(key, None) is not None:
                self._stale.add(key)

    def _forget(self, service: str) -> None:
        # A new spec can renumber canary rules, so its old keys are not worth rebuilding.
        for key in self._keys_of_service.pop(service, set()):
            self._tables.pop(key, None)
            self._stale.discard(key)

    def _index_naming(self, service: ServiceSpec) -> None:
        for cluster in _clusters_named(service):
            self._services_naming.setdefault(cluster, set()).add(service.name)

    def _unindex_naming(self, service: ServiceSpec) -> None:
        for cluster in _clusters_named(service):
            self._services_naming.get(cluster, set()).discard(service.name)


def _clusters_named(service: ServiceSpec) -> set[str]:
    routing = service.routing
    return {*routing.named_clusters(), *(rule.cluster for rule in routing.canary)}


def _discard_nested(index: dict[str, dict[str, EndpointState]], cluster: str, key: str) -> bool:
    """Remove key from index[cluster]; True when that emptied the cluster's entry."""
    inner = index.get(cluster, {})
    inner.pop(key, None)
    if inner:
        return False
    index.pop(cluster, None)
    return True
