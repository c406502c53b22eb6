"""Keeps a Scheduler current on every replica from the store, never from in-process objects.

``load()`` reads config, endpoints and health once; ``run()`` follows the store's change feed
for ``config/``, ``endpoints/`` and ``health/`` and applies each change on its own
(set_service / set_cluster / apply_endpoints), so the scheduler only rebuilds the tables a
change touches. Every replica runs one, so they all route on the same stored state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from federation import model
from federation.registry import ENDPOINTS_PREFIX, MergedEndpoint
from federation.resources import APPLY_KEY, KINDS, ApplyGate, committed_view
from federation.routing import inputs
from federation.routing.health_records import HEALTH_PREFIX, HealthRecord
from federation.scheduler import EndpointState, Scheduler, SchedulerError
from federation.store.base import (
    ChangeEvent,
    ChangeKind,
    Store,
    StoreUnavailableError,
    WatchExpiredError,
)
from geo import RegionCatalog
from providers.base import Health

log = logging.getLogger("meshfed.routing")

SERVICES_PREFIX = KINDS["services"].prefix
CLUSTERS_PREFIX = KINDS["clusters"].prefix
_WATCHED = ("config/", ENDPOINTS_PREFIX, HEALTH_PREFIX)
RETRY_SECONDS = 1.0
_M = TypeVar("_M", bound=model.Strict)


@dataclass(frozen=True, slots=True)
class RoutedEndpoint:
    """An endpoint as discovered or configured, before health is applied."""

    base: EndpointState
    reported: Health


class LiveRouting:
    def __init__(
        self,
        store: Store,
        catalog: RegionCatalog,
        *,
        scheduler: Scheduler | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self.scheduler = scheduler or Scheduler()
        self._services: dict[str, model.ServiceSpec] = {}
        self._clusters: dict[str, model.ClusterSpec] = {}
        self._discovered: dict[str, RoutedEndpoint] = {}
        self._configured: dict[str, RoutedEndpoint] = {}  # gateways from ClusterSpec.gateway
        self._health: dict[str, HealthRecord] = {}
        self._revision = 0
        self._gate = ApplyGate()  # a whole-config replace lands in one step
        # Set whenever services or the endpoint set change; the health checker waits on it.
        self.topology_changed = asyncio.Event()

    # -- reads -----------------------------------------------------------------------------

    @property
    def catalog(self) -> RegionCatalog:
        return self._catalog

    def services(self) -> dict[str, model.ServiceSpec]:
        return dict(self._services)

    def clusters(self) -> dict[str, model.ClusterSpec]:
        return dict(self._clusters)

    def endpoints(self) -> list[RoutedEndpoint]:
        merged = {**self._configured, **self._discovered}
        return [merged[key] for key in sorted(merged)]

    def health(self, key: str) -> HealthRecord | None:
        return self._health.get(key)

    def ejected_keys(self) -> dict[str, float]:
        return {
            key: record.ejected_until
            for key, record in self._health.items()
            if record.ejected_until is not None
        }

    # -- lifecycle -------------------------------------------------------------------------

    async def load(self) -> None:
        """Bring the scheduler in line with everything in the store now."""
        self._revision = await self._store.revision()
        raw = {r.key: r.value for r in await self._store.list_prefix("config/")}
        # A replace in flight: read the config as before it, hold its writes until it ends.
        self._gate = ApplyGate(holding=APPLY_KEY in raw)
        view = committed_view(raw)
        services = {
            spec.name: spec
            for key, value in view.items()
            if key.startswith(SERVICES_PREFIX)
            and (spec := _decode(model.ServiceSpec, key, value)) is not None
        }
        clusters = {
            cluster.name: cluster
            for key, value in view.items()
            if key.startswith(CLUSTERS_PREFIX)
            and (cluster := _decode(model.ClusterSpec, key, value)) is not None
        }
        for name in self._clusters.keys() - clusters.keys():
            self._remove_cluster(name)
        for cluster in clusters.values():
            self._set_cluster(cluster)
        for name in self._services.keys() - services.keys():
            self._remove_service(name)
        for service in services.values():
            self._set_service(service)
        discovered = {
            r.key[len(ENDPOINTS_PREFIX) :]: r.value
            for r in await self._store.list_prefix(ENDPOINTS_PREFIX)
        }
        health = {
            r.key[len(HEALTH_PREFIX) :]: r.value
            for r in await self._store.list_prefix(HEALTH_PREFIX)
        }
        for key in self._health.keys() - health.keys():
            self._apply_health(key, None)
        for key, value in health.items():
            self._apply_health(key, value)
        for key in self._discovered.keys() - discovered.keys():
            self._apply_endpoint(key, None)
        for key, value in discovered.items():
            self._apply_endpoint(key, value)

    async def run(self) -> None:
        """Follow the store until cancelled; call ``load()`` first."""
        while True:
            try:
                async with asyncio.TaskGroup() as group:
                    for prefix in _WATCHED:
                        group.create_task(self._follow(prefix), name=f"routing:watch:{prefix}")
            except* WatchExpiredError:
                # The store forgot the history we would resume from: read it all again.
                log.warning("change feed expired; reloading routing state from the store")
                await self._reload()

    async def _reload(self) -> None:
        while True:
            try:
                await self.load()
            except StoreUnavailableError as exc:
                log.warning("routing state reload failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(RETRY_SECONDS)
            else:
                return

    async def _follow(self, prefix: str) -> None:
        since = self._revision
        while True:
            watch = self._store.watch(prefix, since_revision=since)
            try:
                async for event in watch:
                    # Only config/ carries APPLY_KEY; endpoints and health pass straight on.
                    held = self._gate.feed(event) if prefix == "config/" else [event]
                    for released in held:
                        self.apply(released)
                    since = event.revision
            except StoreUnavailableError as exc:
                # Keep routing on what we have; resume where we stopped once the store is back.
                log.warning("change feed interrupted", extra={"prefix": prefix, "error": str(exc)})
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                await watch.aclose()

    def apply(self, event: ChangeEvent) -> None:
        """Apply one change event; replays and out-of-order prefixes are harmless."""
        key, value = event.key, event.value if event.kind is ChangeKind.PUT else None
        if key.startswith(SERVICES_PREFIX):
            name = key[len(SERVICES_PREFIX) :]
            service = None if value is None else _decode(model.ServiceSpec, key, value)
            if service is None:
                self._remove_service(name)
            else:
                self._set_service(service)
        elif key.startswith(CLUSTERS_PREFIX):
            name = key[len(CLUSTERS_PREFIX) :]
            cluster = None if value is None else _decode(model.ClusterSpec, key, value)
            if cluster is None:
                self._remove_cluster(name)
            else:
                self._set_cluster(cluster)
        elif key.startswith(ENDPOINTS_PREFIX):
            self._apply_endpoint(key[len(ENDPOINTS_PREFIX) :], value)
        elif key.startswith(HEALTH_PREFIX):
            self._apply_health(key[len(HEALTH_PREFIX) :], value)

    # -- internals -------------------------------------------------------------------------

    def _set_service(self, service: model.ServiceSpec) -> None:
        try:
            self.scheduler.set_service(inputs.service_spec(service))
        except SchedulerError as exc:
            log.error("service not routable", extra={"service": service.name, "error": str(exc)})
            return
        if self._services.get(service.name) != service:
            self._services[service.name] = service
            self.topology_changed.set()

    def _remove_service(self, name: str) -> None:
        if self._services.pop(name, None) is not None:
            self.scheduler.remove_service(name)
            self.topology_changed.set()

    def _set_cluster(self, cluster: model.ClusterSpec) -> None:
        placement = inputs.placement(cluster, self._catalog)
        if placement is None:
            log.error(
                "cluster region not in the region catalog; it can only take the last level",
                extra={"cluster": cluster.name, "region": f"{cluster.cloud}:{cluster.region}"},
            )
            self.scheduler.remove_cluster(cluster.name)
        else:
            self.scheduler.set_cluster(placement)
        self._clusters[cluster.name] = cluster
        old = [k for k, e in self._configured.items() if e.base.cluster == cluster.name]
        gateway = inputs.configured_gateway(cluster)
        for key in old:
            if gateway is None or key != gateway.key:
                del self._configured[key]
                self._refresh(key)
        if gateway is not None:
            self._configured[gateway.key] = RoutedEndpoint(gateway, Health.UNKNOWN)
            self._refresh(gateway.key)

    def _remove_cluster(self, name: str) -> None:
        self._clusters.pop(name, None)
        self.scheduler.remove_cluster(name)
        for key in [k for k, e in self._configured.items() if e.base.cluster == name]:
            del self._configured[key]
            self._refresh(key)

    def _apply_endpoint(self, key: str, value: bytes | None) -> None:
        if value is None:
            self._discovered.pop(key, None)
        else:
            merged = MergedEndpoint.from_json(json.loads(value))
            self._discovered[key] = RoutedEndpoint(
                inputs.registry_endpoint(merged), merged.endpoint.health
            )
        self._refresh(key)

    def _apply_health(self, key: str, value: bytes | None) -> None:
        if value is None:
            self._health.pop(key, None)
        else:
            self._health[key] = HealthRecord.from_json(value)
        if key in self._discovered or key in self._configured:
            self._refresh(key, topology=False)

    def _refresh(self, key: str, *, topology: bool = True) -> None:
        routed = self._discovered.get(key) or self._configured.get(key)
        if routed is None:
            self.scheduler.apply_endpoints(removed=[key])
        else:
            state = inputs.combined(
                routed.base, routed.reported, self._health.get(key), self._clock()
            )
            self.scheduler.apply_endpoints(changed=[state])
        if topology:
            self.topology_changed.set()


def _decode(kind: type[_M], key: str, value: bytes) -> _M | None:
    try:
        return kind.model_validate(json.loads(value)["spec"])
    except (ValueError, KeyError, ValidationError) as exc:
        log.error("stored object unreadable; ignored", extra={"key": key, "error": str(exc)})
        return None
