"""What the gateway reports about each connection, for metrics and logs to count."""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    # The SNI named a subset the service does not define (a typo, or a config not yet rolled out).
    UNKNOWN_SUBSET = "unknown_subset"
    NO_UPSTREAM = "no_upstream"
    # One candidate failed and the next is tried: an outlier-detection signal, not an end.
    UPSTREAM_CONNECT_FAILED = "upstream_connect_failed"
    UPSTREAMS_UNREACHABLE = "upstreams_unreachable"
    # A candidate skipped because its (service, cluster) circuit breaker is full; not an end.
    CIRCUIT_OVERFLOW = "circuit_overflow"
    # Traffic governance refused the connection before any upstream was tried.
    CIRCUIT_OPEN = "circuit_open"
    RATE_LIMITED = "rate_limited"
    # mtls mode: the caller's SVID did not verify, or policy does not let it call the service.
    PEER_REJECTED = "peer_rejected"
    DENIED = "denied"
    INTERNAL_ERROR = "internal_error"


# Reported on the way; every connection also ends with exactly one event of another kind.
PROGRESS_KINDS = frozenset({EventKind.UPSTREAM_CONNECT_FAILED, EventKind.CIRCUIT_OVERFLOW})


class Rejected(Exception):
    """Ends a connection before (or instead of) relaying it, with the kind it is reported as.

    A policy denial happens before the connection learns its caller, so it carries the caller's
    verified SPIFFE ID and the deciding policy itself, for the event to report.
    """

    def __init__(
        self,
        kind: EventKind,
        detail: str,
        *,
        peer_id: str | None = None,
        policy: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.peer_id = peer_id
        self.policy = policy

    def reported(self, event: ConnectionEvent) -> ConnectionEvent:
        """``event`` with what the rejection knows about the caller added."""
        if self.peer_id is None and self.policy is None:
            return event
        return replace(event, peer_id=self.peer_id or event.peer_id, policy=self.policy)


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
    connect_seconds: float | None = None  # dialling the upstream that took it, retries included
    peer_id: str | None = None  # the client's verified SPIFFE ID (mtls mode)
    policy: str | None = None  # mtls mode: the policy that denied the caller, if one did
