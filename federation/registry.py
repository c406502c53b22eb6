"""Merges provider snapshots into one versioned endpoint set, persists it, and emits diffs.

The merge is the aggregate's conflict rule: when two providers report the same endpoint key,
the provider listed first in the config wins, so the result never depends on sync timing.
A provider's endpoints stay until a successful sync of that provider no longer sees them;
a failing provider's endpoints are kept and flagged stale.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from federation.store.base import Lease, Store
from providers.base import Endpoint, Health, Role, Snapshot

log = logging.getLogger("meshfed.registry")

ENDPOINTS_PREFIX = "endpoints/"
VERSION_KEY = "meta/registry_version"


@dataclass(frozen=True, slots=True)
class MergedEndpoint:
    endpoint: Endpoint
    provider: str
    stale: bool = False

    @property
    def key(self) -> str:
        return self.endpoint.key

    def to_json(self) -> dict[str, Any]:
        e = self.endpoint
        return {
            "key": e.key,
            "cluster": e.cluster,
            "role": e.role.value,
            "service": e.service,
            "address": e.address,
            "port": e.port,
            "cloud": e.cloud,
            "region": e.region,
            "zone": e.zone,
            "network": e.network,
            "weight": e.weight,
            "labels": dict(e.labels),
            "health": e.health.value,
            "source": e.source,
            "provider": self.provider,
            "stale": self.stale,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MergedEndpoint:
        endpoint = Endpoint(
            cluster=data["cluster"],
            role=Role(data["role"]),
            service=data["service"],
            address=data["address"],
            port=int(data["port"]),
            cloud=data["cloud"],
            region=data["region"],
            zone=data.get("zone", ""),
            network=data.get("network", ""),
            weight=int(data.get("weight", 1)),
            labels=tuple(sorted(dict(data.get("labels", {})).items())),
            health=Health(data.get("health", "unknown")),
            source=data.get("source", ""),
        )
        return cls(endpoint, data["provider"], bool(data.get("stale", False)))


@dataclass(frozen=True, slots=True)
class Diff:
    version: int
    added: tuple[MergedEndpoint, ...] = ()
    removed: tuple[MergedEndpoint, ...] = ()
    changed: tuple[MergedEndpoint, ...] = ()  # the new values

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True, slots=True)
class ProviderView:
    """What the registry holds of one provider: its last good endpoints and whether they are
    current."""

    endpoints: tuple[Endpoint, ...] = ()
    stale: bool = False
    withdrawn: bool = False


def merge(views: Mapping[str, ProviderView], order: Iterable[str]) -> dict[str, MergedEndpoint]:
    merged: dict[str, MergedEndpoint] = {}
    for name in order:
        view = views.get(name)
        if view is None or view.withdrawn:
            continue
        for endpoint in view.endpoints:
            merged.setdefault(endpoint.key, MergedEndpoint(endpoint, name, view.stale))
    return merged


def diff(
    old: Mapping[str, MergedEndpoint], new: Mapping[str, MergedEndpoint], version: int
) -> Diff:
    return Diff(
        version=version,
        added=tuple(new[k] for k in sorted(new.keys() - old.keys())),
        removed=tuple(old[k] for k in sorted(old.keys() - new.keys())),
        changed=tuple(new[k] for k in sorted(new.keys() & old.keys()) if new[k] != old[k]),
    )


Listener = Callable[[Diff], None]


@dataclass
class Registry:
    """The imperative shell around merge/diff: owns the current set, writes it to the store
    (fenced by the discovery lease when one is given) and tells listeners what changed."""

    store: Store
    provider_order: list[str]
    fence: Callable[[], Lease | None] = lambda: None
    _views: dict[str, ProviderView] = field(default_factory=dict)
    _current: dict[str, MergedEndpoint] = field(default_factory=dict)
    _version: int = 0
    _listeners: list[Listener] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def version(self) -> int:
        return self._version

    def endpoints(self) -> list[MergedEndpoint]:
        return [self._current[k] for k in sorted(self._current)]

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def load(self) -> None:
        """Resume after a restart: the version counter, and the endpoints last written, held
        as stale until their provider's first successful sync confirms or removes them."""
        record = await self.store.get(VERSION_KEY)
        if record is not None:
            self._version = int(json.loads(record.value)["version"])
        kept: dict[str, list[Endpoint]] = {}
        for item in await self.store.list_prefix(ENDPOINTS_PREFIX):
            merged = MergedEndpoint.from_json(json.loads(item.value))
            kept.setdefault(merged.provider, []).append(merged.endpoint)
        self._views = {name: ProviderView(tuple(eps), stale=True) for name, eps in kept.items()}
        self._current = merge(self._views, [*self.provider_order, *sorted(kept)])

    async def apply_snapshot(self, snapshot: Snapshot) -> Diff:
        """A successful sync: the provider's set becomes exactly what it saw now."""
        view = ProviderView(endpoints=tuple(snapshot.endpoints))
        return await self._update(snapshot.provider, view)

    async def mark_stale(self, provider: str) -> Diff:
        """A failed sync: keep the last good endpoints, flagged stale."""
        view = self._views.get(provider, ProviderView())
        return await self._update(provider, replace(view, stale=True))

    async def withdraw(self, provider: str) -> Diff:
        """Stale for longer than max_staleness: stop serving the provider's endpoints."""
        view = self._views.get(provider, ProviderView())
        return await self._update(provider, replace(view, stale=True, withdrawn=True))

    async def _update(self, provider: str, view: ProviderView) -> Diff:
        async with self._lock:
            views = {**self._views, provider: view}
            merged = merge(views, self.provider_order)
            change = diff(self._current, merged, self._version + 1)
            if change.empty:
                self._views = views
                return Diff(self._version)
            await self._persist(change)
            self._views, self._current, self._version = views, merged, change.version
        for listener in self._listeners:
            listener(change)
        return change

    async def _persist(self, change: Diff) -> None:
        # Written before the in-memory swap: if the store refuses, the old state stays whole
        # and the next sync tries again.
        fence = self.fence()
        for item in (*change.added, *change.changed):
            value = json.dumps(item.to_json(), sort_keys=True).encode()
            await self.store.put(ENDPOINTS_PREFIX + item.key, value, fence=fence)
        for item in change.removed:
            await self.store.delete(ENDPOINTS_PREFIX + item.key, fence=fence)
        version = json.dumps({"version": change.version}).encode()
        await self.store.put(VERSION_KEY, version, fence=fence)
