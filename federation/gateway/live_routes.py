"""The route table a running gateway reads, replaced whole when a new version arrives.

A swap is one reference assignment on the event loop: a connection looks up its upstreams once,
so it sees either the old table or the new one, never a mix, and connections already relaying
keep the upstream they have.
"""

from __future__ import annotations

from collections.abc import Sequence

from federation.gateway.route_config import GatewayConfig, ServiceRoute
from federation.gateway.routes import Upstream


class LiveRouteTable:
    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._routes, self._upstreams = _index(config)

    @property
    def version(self) -> int:
        return self._config.version

    def replace(self, config: GatewayConfig) -> None:
        routes, upstreams = _index(config)
        self._config, self._routes, self._upstreams = config, routes, upstreams

    def upstreams(self, service: str, port: int | None, subset: str | None) -> Sequence[Upstream]:
        route = self._routes.get(service)
        # An AUTO_PASSTHROUGH name carries the service port; another port is another route.
        if route is None or (port is not None and port != route.port):
            return ()
        return self._upstreams[service]

    def route(self, service: str) -> ServiceRoute | None:
        return self._routes.get(service)


def _index(
    config: GatewayConfig,
) -> tuple[dict[str, ServiceRoute], dict[str, tuple[Upstream, ...]]]:
    routes = {route.service: route for route in config.services}
    upstreams = {
        route.service: tuple(Upstream(u.address, u.port, u.cluster) for u in route.upstreams)
        for route in config.services
    }
    return routes, upstreams
