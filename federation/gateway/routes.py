"""Where the gateway sends a routed connection: the interface the scheduler implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Upstream:
    address: str
    port: int
    # The cluster it belongs to: circuit breakers count connections per (service, cluster).
    cluster: str = ""


class RouteTable(Protocol):
    def upstreams(self, service: str, port: int | None, subset: str | None) -> Sequence[Upstream]:
        """Candidates for one connection, best first; the gateway tries the rest on failure.

        An empty sequence means the service has nowhere to go. Called on the event loop for
        every connection, so it must not block.
        """
        ...


class StaticRouteTable:
    """A fixed service → upstreams map; port and subset do not narrow the choice."""

    def __init__(self, routes: Mapping[str, Sequence[Upstream]]) -> None:
        self._routes = {service: tuple(upstreams) for service, upstreams in routes.items()}

    def upstreams(self, service: str, port: int | None, subset: str | None) -> Sequence[Upstream]:
        return self._routes.get(service, ())
