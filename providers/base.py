"""What every provider returns, and the interface the discovery loop drives.

A provider knows its cloud and this model, nothing else: it is built with plain arguments by
whoever composes the service, and answers one question: which mesh endpoints exist right now.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    GATEWAY = "gateway"
    SERVICE = "service"


class Health(StrEnum):
    """Health as the source reports it, in the spirit of Envoy's EDS ``health_status``."""

    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class Endpoint:
    cluster: str
    role: Role
    service: str | None  # None for gateways, which carry every service of their cluster
    address: str  # an IP address or a DNS name; a name is a first-class endpoint
    port: int
    cloud: str  # aws | gcp | azure | static
    region: str
    zone: str = ""
    network: str = ""
    weight: int = 1
    labels: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs
    health: Health = Health.UNKNOWN
    source: str = ""  # the cloud resource it came from (instance id, ARN, self link …)

    @property
    def key(self) -> str:
        """Identity for merging: the same key from two providers is the same endpoint."""
        return f"{self.cluster}/{self.role}/{self.service or '-'}/{self.address}:{self.port}"

    @property
    def is_hostname(self) -> bool:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            return True
        return False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One discovery pass. ``complete`` is False when some listing failed part-way: the
    discovery loop then keeps the previous snapshot instead of dropping what was not seen."""

    provider: str
    endpoints: tuple[Endpoint, ...]
    complete: bool = True
    warnings: tuple[str, ...] = field(default=())


class ProviderErrorKind(StrEnum):
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"  # 5xx, connection refused or reset
    TIMEOUT = "timeout"
    AUTH = "auth"
    INVALID = "invalid"  # the cloud answered something we cannot use


class ProviderError(Exception):
    """A cloud call failed in a way the discovery loop can classify and report."""

    def __init__(
        self, kind: ProviderErrorKind, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in (
            ProviderErrorKind.THROTTLED,
            ProviderErrorKind.UNAVAILABLE,
            ProviderErrorKind.TIMEOUT,
        )


class Provider(Protocol):
    name: str
    cloud: str

    def discover(self) -> Snapshot:
        """One full listing. Blocking (the cloud SDKs are synchronous): the discovery loop runs
        it in a worker thread. Raises ProviderError when nothing usable came back."""
        ...
