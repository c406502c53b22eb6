"""Builds provider adapters from their config sections: the only place that knows both."""

from __future__ import annotations

from collections.abc import Sequence

from federation.discovery import Schedule, ScheduledProvider
from federation.model import (
    AwsProviderSpec,
    AzureProviderSpec,
    ClusterSpec,
    GcpProviderSpec,
    ProviderBase,
    StaticEndpointSpec,
    StaticProviderSpec,
)
from providers.base import Endpoint, Health, Provider, Role
from providers.static import StaticProvider

ProviderSpec = AwsProviderSpec | GcpProviderSpec | AzureProviderSpec | StaticProviderSpec


def build_provider(spec: ProviderSpec, clusters: Sequence[ClusterSpec]) -> Provider:
    # Each cloud SDK is imported only when a config uses that cloud: together they take
    # seconds to import, which every CLI call would otherwise pay.
    timeout = spec.timeout.total_seconds()
    match spec:
        case AwsProviderSpec():
            from providers.aws import AwsProvider

            return AwsProvider(
                spec.name,
                spec.regions,
                role_arn=spec.role_arn,
                endpoint_url=spec.endpoint_url,
                call_timeout=timeout,
            )
        case GcpProviderSpec():
            from providers.gcp import GcpProvider

            return GcpProvider(
                spec.name, spec.projects, api_endpoint=spec.api_endpoint, call_timeout=timeout
            )
        case AzureProviderSpec():
            from providers.azure import AzureProvider

            return AzureProvider(
                spec.name, spec.subscriptions, base_url=spec.base_url, call_timeout=timeout
            )
        case StaticProviderSpec():
            by_name = {cluster.name: cluster for cluster in clusters}
            return StaticProvider(
                spec.name, [static_endpoint(e, by_name[e.cluster]) for e in spec.endpoints]
            )


def static_endpoint(spec: StaticEndpointSpec, cluster: ClusterSpec) -> Endpoint:
    return Endpoint(
        cluster=spec.cluster,
        role=Role(spec.role),
        service=spec.service,
        address=spec.address,
        port=spec.port,
        cloud=cluster.cloud,
        region=cluster.region,
        zone=spec.zone or cluster.zone,
        network=cluster.network,
        weight=spec.weight,
        labels=tuple(sorted(spec.labels.items())),
        health=Health(spec.health.value) if spec.health else Health.UNKNOWN,
        source="config",
    )


def schedule_for(spec: ProviderBase) -> Schedule:
    return Schedule(
        refresh_interval=spec.refresh_interval.total_seconds(),
        max_staleness=spec.max_staleness.total_seconds() if spec.max_staleness else None,
    )


def scheduled_providers(
    specs: Sequence[ProviderSpec], clusters: Sequence[ClusterSpec], only: str | None = None
) -> list[ScheduledProvider]:
    return [
        ScheduledProvider(build_provider(spec, clusters), schedule_for(spec))
        for spec in specs
        if only is None or spec.name == only
    ]
