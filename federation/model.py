"""The typed shape of meshfed.yaml and of the API resources that mirror its sections.

One set of models serves the config file, the REST API bodies and the OpenAPI document, so a
value the file accepts is exactly a value the API accepts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from federation.dns_names import DNS_LABEL_PATTERN
from federation.durations import Duration
from federation.store.url import parse_store_url

NAME_PATTERN = r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$"
Name = Annotated[
    str,
    StringConstraints(pattern=NAME_PATTERN),
    Field(description="lowercase letters, digits, '.' and '-', starting and ending alphanumeric"),
]
Port = Annotated[int, Field(ge=1, le=65535)]
Weight = Annotated[int, Field(ge=1, le=1_000_000)]
Percent = Annotated[float, Field(ge=0, le=100)]


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT: write it like 127.0.0.1:8470")
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]


def _region_key(value: str) -> str:
    cloud, sep, region = value.partition(":")
    if not sep or cloud not in ("aws", "gcp", "azure") or not region:
        raise ValueError(f"{value!r} is not CLOUD:REGION: write it like aws:us-east-1")
    return value


RegionKey = Annotated[str, AfterValidator(_region_key)]


def _store_url(value: str) -> str:
    parse_store_url(value)  # raises StoreURLError (a ValueError) naming the accepted forms
    return value


StoreURL = Annotated[str, AfterValidator(_store_url)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class FederationSection(Strict):
    name: Name
    trust_domain: str = Field(description="the SPIFFE trust domain of this federation")


class TokenSpec(Strict):
    name: Name
    role: Role
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="hex SHA-256 of the token; the token itself is never stored"
    )


class ApiSection(Strict):
    listen: HostPort = "127.0.0.1:8470"
    tokens: list[TokenSpec] = []
    metrics: bool = Field(True, description="serve /metrics without authentication")
    drain_timeout: Duration = Field(default="10s", validate_default=True)


class GeoIPSection(Strict):
    city_db: str | None = Field(None, description="path of a GeoLite2/GeoIP2 City database")
    default_location: RegionKey = "aws:us-east-1"
    reload_interval: Duration = Field(default="60s", validate_default=True)


class GatewaySpec(Strict):
    address: str
    port: Port


Cloud = Literal["aws", "gcp", "azure"]


class ClusterSpec(Strict):
    name: Name
    cloud: Cloud
    region: str
    network: str = ""
    zone: str = ""
    trust_domain: str | None = Field(
        None, description="the cluster's own trust domain; the federation's when unset"
    )
    gateway: GatewaySpec | None = None


class ProviderBase(Strict):
    name: Name
    refresh_interval: Duration = Field(default="30s", validate_default=True)
    timeout: Duration = Field(default="10s", validate_default=True, description="per cloud call")
    max_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    max_staleness: Duration | None = Field(
        None, description="withdraw a failing provider's endpoints after this long; keep when unset"
    )


class AwsProviderSpec(ProviderBase):
    kind: Literal["aws"]
    regions: Annotated[list[str], Field(min_length=1)]
    role_arn: str | None = None
    endpoint_url: str | None = None


class GcpProviderSpec(ProviderBase):
    kind: Literal["gcp"]
    projects: Annotated[list[str], Field(min_length=1)]
    api_endpoint: str | None = None


SubscriptionId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"),
]


class AzureProviderSpec(ProviderBase):
    kind: Literal["azure"]
    subscriptions: Annotated[list[SubscriptionId], Field(min_length=1)]
    base_url: str | None = None


class EndpointHealth(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DRAINING = "draining"


class StaticEndpointSpec(Strict):
    cluster: Name
    service: Name | None = None
    role: Literal["gateway", "service"] = "service"
    address: str
    port: Port
    weight: Weight = 1
    zone: str = ""
    health: EndpointHealth | None = Field(
        None, description="fixed health, like EDS health_status; live checks decide when unset"
    )
    labels: dict[str, str] = Field(
        {}, description="labels as a cloud resource carries them; services' subsets select by them"
    )


class StaticProviderSpec(ProviderBase):
    kind: Literal["static"]
    endpoints: list[StaticEndpointSpec] = []


ProviderSpec = Annotated[
    AwsProviderSpec | GcpProviderSpec | AzureProviderSpec | StaticProviderSpec,
    Field(discriminator="kind"),
]
PROVIDER_KINDS = ("aws", "gcp", "azure", "static")


def _cluster_or_group(value: Any) -> Any:
    # A failover entry is a cluster name, shorthand for a one-cluster group of weight 1.
    return {value: 1} if isinstance(value, str) else value


FailoverEntry = Annotated[
    dict[Name, Weight],
    BeforeValidator(_cluster_or_group),
    Field(min_length=1, description="a cluster name, or a map of cluster to weight"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": NAME_PATTERN},
                {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"type": "integer", "minimum": 1},
                },
            ],
            "description": "a cluster name, or a map of cluster to weight",
        }
    ),
]


class CanaryRule(Strict):
    header: str
    value: str | None = Field(None, description="exact match")
    regex: str | None = None
    cluster: Name


class RoutingSpec(Strict):
    mode: Literal["geo", "weighted", "failover"] = "geo"
    weights: dict[Name, Weight] = {}
    failover: list[FailoverEntry] = []
    overprovisioning_factor: Annotated[float, Field(ge=1.0, le=10.0)] = 1.4
    panic_threshold: Percent = 50.0
    canary: list[CanaryRule] = []


class OutlierDetectionSpec(Strict):
    consecutive_5xx: Annotated[int, Field(ge=1)] = 5
    consecutive_connect_failures: Annotated[int, Field(ge=1)] = 3
    base_ejection_time: Duration = Field(default="30s", validate_default=True)
    max_ejection_time: Duration = Field(default="300s", validate_default=True)
    max_ejection_percent: Percent = 10.0


class CircuitBreakerSpec(Strict):
    max_connections: Annotated[int, Field(ge=1)] = 1024
    max_pending_requests: Annotated[int, Field(ge=1)] = 1024
    max_requests: Annotated[int, Field(ge=1)] = 1024
    sleep_window: Duration = Field(default="30s", validate_default=True)


RetryCondition = Literal["5xx", "gateway-error", "connect-failure", "reset"]


class RetriesSpec(Strict):
    attempts: Annotated[int, Field(ge=0, le=10)] = 3
    per_try_timeout: Duration = Field(default="1s", validate_default=True)
    backoff_base: Duration = Field(default="25ms", validate_default=True)
    backoff_max: Duration = Field(default="250ms", validate_default=True)
    retry_on: list[RetryCondition] = ["connect-failure", "reset"]
    budget_percent: Percent = 20.0


class HealthCheckSpec(Strict):
    kind: Literal["tcp", "tls", "http"] = "tcp"
    interval: Duration = Field(default="5s", validate_default=True)
    timeout: Duration = Field(default="1s", validate_default=True)
    unhealthy_threshold: Annotated[int, Field(ge=1)] = 3
    healthy_threshold: Annotated[int, Field(ge=1)] = 2
    path: str = "/healthz"


SubsetName = Annotated[
    str,
    StringConstraints(pattern=DNS_LABEL_PATTERN),
    Field(
        description="a lower-case DNS label (letters, digits and '-', at most 63, no dots): "
        "SNI names it in outbound_.<port>_.<subset>_.<host>"
    ),
]


class SubsetSpec(Strict):
    """A named slice of a service's endpoints, as an Istio DestinationRule subset is."""

    name: SubsetName
    # Without labels a subset would be every endpoint, which the empty subset already says.
    labels: dict[str, str] = Field(
        min_length=1,
        description="an endpoint is in the subset when it carries every one of these labels",
    )


class ServiceSpec(Strict):
    name: Name
    port: Port
    routing: RoutingSpec = RoutingSpec()
    subsets: list[SubsetSpec] = []
    outlier_detection: OutlierDetectionSpec | None = None
    circuit_breaker: CircuitBreakerSpec = CircuitBreakerSpec()
    retries: RetriesSpec = RetriesSpec()
    health_check: HealthCheckSpec = HealthCheckSpec()


class PolicySpec(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Name
    action: Literal["allow", "deny"]
    to: Name
    from_: Annotated[list[str], Field(alias="from", min_length=1)]
    methods: list[str] = []
    paths: list[str] = []


class AuthorizationSection(Strict):
    default_action: Literal["allow", "deny"] = "deny"


class BundleEndpointSpec(Strict):
    listen: HostPort
    profile: Literal["https_web", "https_spiffe"] = "https_web"
    cert_file: str | None = None
    key_file: str | None = None


class FederatedDomainSpec(Strict):
    trust_domain: str
    bundle_endpoint: Annotated[str, StringConstraints(pattern=r"^https://")]
    profile: Literal["https_web", "https_spiffe"] = "https_web"
    endpoint_spiffe_id: str | None = Field(None, description="https_spiffe: the server's ID")
    bundle_file: str | None = Field(None, description="https_spiffe: the bootstrap bundle")
    ca_file: str | None = Field(None, description="https_web: CA to trust instead of the system's")


class TrustSection(Strict):
    key_type: Literal["ec-p256", "ec-p384", "rsa-3072"] = "ec-p256"
    svid_ttl: Duration = Field(default="24h", validate_default=True)
    ca_ttl: Duration = Field(default="365d", validate_default=True)
    refresh_hint: Duration = Field(default="5m", validate_default=True)
    rotate_after: Duration | None = Field(
        None, description="rotate the CA at this age; two thirds into ca_ttl when unset"
    )
    kek_file: str | None = None
    bundle_endpoint: BundleEndpointSpec | None = None
    federates_with: list[FederatedDomainSpec] = []


class MeshfedConfig(Strict):
    federation: FederationSection
    store: StoreURL = "sqlite:///./.meshfed/state.db"
    api: ApiSection = ApiSection()
    geoip: GeoIPSection = GeoIPSection()
    clusters: list[ClusterSpec] = []
    providers: list[ProviderSpec] = []
    services: list[ServiceSpec] = []
    policies: list[PolicySpec] = []
    authorization: AuthorizationSection = AuthorizationSection()
    trust: TrustSection = TrustSection()
