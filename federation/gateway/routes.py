"""Where the gateway sends a routed connection: the interface the scheduler implements."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Upstream:
    address: str
    port: int
    # The cluster it belongs to: circuit breakers count connections per (service, cluster).
    cluster: str = ""


class UnknownSubsetError(LookupError):
    """An SNI named a subset its service does not define."""

    def __init__(self, service: str, subset: str, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"service {service!r} defines no subset {subset!r} (subsets: {names}); "
            "send one of those in the SNI, an empty subset for any endpoint, "
            "or add the subset to the service's config"
        )
        self.service = service
        self.subset = subset


class RouteTable(Protocol):
    def upstreams(self, service: str, port: int | None, subset: str | None) -> Sequence[Upstream]:
        """Candidates for one connection, best first; the gateway tries the rest on failure.

        An empty sequence means the service has nowhere to go; UnknownSubsetError means the
        service has no such subset. An empty or None subset is Istio's: any endpoint. Called
        on the event loop for every connection, so it must not block.
        """
        ...


class StaticRouteTable:
    """A fixed service → upstreams map; port and subset do not narrow the choice.

    It knows no subset definitions or endpoint labels, only addresses, so every subset means
    every upstream, as an answer from a control plane that predates subsets does.
    """

    def __init__(self, routes: Mapping[str, Sequence[Upstream]]) -> None:
        self._routes = {service: tuple(upstreams) for service, upstreams in routes.items()}

    def upstreams(self, service: str, port: int | None, subset: str | None) -> Sequence[Upstream]:
        return self._routes.get(service, ())
