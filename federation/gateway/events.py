"""What the gateway reports about each connection, for metrics and logs to count."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from federation.gateway.routes import Upstream
from federation.gateway.sni import RouteName


class EventKind(StrEnum):
    # The relay ran; how it ended.
    RELAYED = "relayed"
    CLIENT_RESET = "client_reset"
    UPSTREAM_RESET = "upstream_reset"
    ABORTED = "aborted"
    # The ClientHello could not be routed (values match HelloErrorKind).
    NOT_TLS = "not_tls"
    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    NOT_CLIENT_HELLO = "not_client_hello"
    NO_SNI = "no_sni"
    TRUNCATED = "truncated"
    HELLO_TIMEOUT = "hello_timeout"
    CLIENT_GONE = "client_gone"
    # Routing and upstream selection.
    UNKNOWN_ROUTE = "unknown_route"
    NO_UPSTREAM = "no_upstream"
    # One candidate failed and the next is tried: an outlier-detection signal, not an end.
    UPSTREAM_CONNECT_FAILED = "upstream_connect_failed"
    UPSTREAMS_UNREACHABLE = "upstreams_unreachable"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    connection_id: int
    kind: EventKind
    client: str | None = None
    sni: str | None = None
    route: RouteName | None = None
    upstream: Upstream | None = None
    bytes_in: int = 0  # client → upstream, the replayed ClientHello included
    bytes_out: int = 0  # upstream → client
    duration: float = 0.0  # seconds since accept
    detail: str = ""
