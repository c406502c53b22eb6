"""Endpoints written into the config: a cluster with no cloud API to ask, a lab, a test."""

from __future__ import annotations

from collections.abc import Sequence

from providers.base import Endpoint, Snapshot


class DuplicateEndpoint(ValueError):
    """Two static endpoints share a key, so one would silently replace the other."""


class StaticProvider:
    """Answers exactly the endpoints it was given, each with its own ``health`` (as EDS's
    ``health_status`` overrides what a control plane would otherwise assume)."""

    cloud = "static"

    def __init__(self, name: str, endpoints: Sequence[Endpoint]) -> None:
        seen: dict[str, int] = {}
        for index, endpoint in enumerate(endpoints):
            first = seen.setdefault(endpoint.key, index)
            if first != index:
                raise DuplicateEndpoint(
                    f"static provider {name!r}: endpoints[{index}] repeats endpoints[{first}]"
                    f" ({endpoint.key}): remove one, or give them different ports or addresses"
                )
        self.name = name
        self._snapshot = Snapshot(provider=name, endpoints=tuple(endpoints))

    def discover(self) -> Snapshot:
        return self._snapshot
