"""What a gateway is told: its cluster's routes, one version of them, as the API sends them.

The same models describe ``GET /v1/gateway/config`` in the OpenAPI document, are what the API
validates its answer with, and what the gateway parses, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from federation.model import RetryCondition


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class UpstreamSpec(_Frozen):
    address: str
    port: int = Field(ge=1, le=65535)
    cluster: str
    kind: Literal["endpoint", "gateway"] = Field(
        description="endpoint: a service instance in this cluster; gateway: another cluster's "
        "east-west gateway, reached with the client's SNI unchanged"
    )
    subsets: list[str] = Field(
        default=[],
        description="the service's subsets this upstream serves: an endpoint's are those whose "
        "labels it carries; a gateway's, those its cluster has a usable endpoint of (all of "
        "them when meshfed sees none of that cluster's endpoints of the service)",
    )


class TrafficSpec(_Frozen):
    """The service's retry and circuit breaker settings the data plane enforces."""

    connect_timeout_s: float = Field(gt=0, description="per connect attempt (per_try_timeout)")
    attempts: int = Field(ge=1, description="connect attempts in all, the first included")
    backoff_base_s: float = Field(ge=0)
    backoff_max_s: float = Field(ge=0)
    retry_on: list[RetryCondition]
    max_connections: int = Field(ge=1, description="per (service, cluster)")
    max_pending_requests: int = Field(ge=1, description="connects in progress, per cluster")


class ServiceRoute(_Frozen):
    service: str
    port: int = Field(description="the service port an AUTO_PASSTHROUGH SNI must name")
    local: bool = Field(description="true when this cluster serves the service itself")
    upstreams: list[UpstreamSpec] = Field(description="candidates, best first")
    subsets: list[str] | None = Field(
        default=None,
        description="the subsets the service defines; null from a server that predates "
        "subsets, whose routes every subset then reaches in full",
    )
    traffic: TrafficSpec


class GatewayConfig(_Frozen):
    cluster: str
    version: int = Field(description="the store revision these routes were computed at")
    services: list[ServiceRoute]

    def route(self, service: str) -> ServiceRoute | None:
        return next((s for s in self.services if s.service == service), None)
