"""Route names carried in SNI: Istio's AUTO_PASSTHROUGH form and plain service host names.

A meshfed service is named `name.namespace`, so its host is `name.namespace.svc.cluster.local`,
the same name Kubernetes gives it; AUTO_PASSTHROUGH prefixes `outbound_.<port>_.<subset>_.`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from federation.dns_names import DNS_LABEL, is_dns_label

CLUSTER_DOMAIN = "svc.cluster.local"
MAX_PORT = 65535
_SERVICE = re.compile(rf"{DNS_LABEL}\.{DNS_LABEL}")
_SERVICE_HOST = rf"(?P<service>{DNS_LABEL}\.{DNS_LABEL})\.svc\.cluster\.local"
_PLAIN = re.compile(_SERVICE_HOST)
# A leading zero would give one route two spellings, so ports are written canonically.
_AUTO_PASSTHROUGH = re.compile(
    rf"outbound_\.(?P<port>[1-9][0-9]{{0,4}})_\.(?P<subset>{DNS_LABEL})?_\.{_SERVICE_HOST}"
)


class UnknownRouteNameError(ValueError):
    """A server name that names no meshfed route."""

    def __init__(self, server_name: str) -> None:
        super().__init__(
            f"unknown route name {server_name!r}: expected "
            f"'outbound_.<port>_.<subset>_.<name>.<namespace>.{CLUSTER_DOMAIN}' "
            f"(subset may be empty) or '<name>.<namespace>.{CLUSTER_DOMAIN}'"
        )
        self.server_name = server_name


class InvalidRouteError(ValueError):
    """A RouteName that no server name can spell."""


@dataclass(frozen=True, slots=True)
class RouteName:
    service: str
    port: int | None = None
    subset: str | None = None


def parse_route_name(server_name: str) -> RouteName:
    # DNS names compare case-insensitively (RFC 4343), and SNI carries a DNS name.
    name = server_name.lower()
    if match := _AUTO_PASSTHROUGH.fullmatch(name):
        port = int(match["port"])
        if port > MAX_PORT:
            raise UnknownRouteNameError(server_name)
        return RouteName(match["service"], port, match["subset"])
    if match := _PLAIN.fullmatch(name):
        return RouteName(match["service"])
    raise UnknownRouteNameError(server_name)


def format_route_name(route: RouteName) -> str:
    if not _SERVICE.fullmatch(route.service):
        raise InvalidRouteError(
            f"service {route.service!r} is not 'name.namespace' in lower-case DNS labels"
        )
    if route.subset is not None and not is_dns_label(route.subset):
        raise InvalidRouteError(f"subset {route.subset!r} is not a lower-case DNS label")
    host = f"{route.service}.{CLUSTER_DOMAIN}"
    if route.port is None:
        if route.subset is not None:
            raise InvalidRouteError(
                f"subset {route.subset!r} needs a port: only the outbound_ form carries a subset"
            )
        return host
    if not 1 <= route.port <= MAX_PORT:
        raise InvalidRouteError(f"port {route.port} is outside 1-{MAX_PORT}")
    return f"outbound_.{route.port}_.{route.subset or ''}_.{host}"
