"""The route table a running gateway reads, replaced whole when a new version arrives.

A swap is one reference assignment on the event loop: a connection looks up its upstreams once,
so it sees either the old table or the new one, never a mix, and connections already relaying
keep the upstream they have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from federation.gateway.route_config import GatewayConfig, ServiceRoute
from federation.gateway.routes import UnknownSubsetError, Upstream


@dataclass(frozen=True, slots=True)
class _Indexed:
    route: ServiceRoute
    upstreams: tuple[Upstream, ...]
    # None: the answer predates subsets, so no subset narrows the choice.
    by_subset: dict[str, tuple[Upstream, ...]] | None


class LiveRouteTable:
    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._routes = _index(config)

    @property
    def version(self) -> int:
        return self._config.version

    def replace(self, config: GatewayConfig) -> None:
        # Applied whatever its version: an ejection that ends changes the routes while the
        # store revision, and so the version, stays the same.
        self._config, self._routes = config, _index(config)

    def upstreams(self, service: str, port: int | None, subset: str | None) -> Sequence[Upstream]:
        indexed = self._routes.get(service)
        # An AUTO_PASSTHROUGH name carries the service port; another port is another route.
        if indexed is None or (port is not None and port != indexed.route.port):
            return ()
        if not subset or indexed.by_subset is None:
            return indexed.upstreams
        narrowed = indexed.by_subset.get(subset)
        if narrowed is None:
            raise UnknownSubsetError(service, subset, indexed.by_subset)
        return narrowed

    def route(self, service: str) -> ServiceRoute | None:
        indexed = self._routes.get(service)
        return None if indexed is None else indexed.route


def _index(config: GatewayConfig) -> dict[str, _Indexed]:
    return {route.service: _indexed(route) for route in config.services}


def _indexed(route: ServiceRoute) -> _Indexed:
    upstreams = tuple(
        (spec, Upstream(spec.address, spec.port, spec.cluster)) for spec in route.upstreams
    )
    by_subset = None
    if route.subsets is not None:
        by_subset = {
            name: tuple(upstream for spec, upstream in upstreams if name in spec.subsets)
            for name in route.subsets
        }
    return _Indexed(route, tuple(upstream for _, upstream in upstreams), by_subset)
