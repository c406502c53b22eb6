"""The service's Prometheus metrics, on a registry of its own (no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "meshfed_http_requests",
            "API requests served",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "meshfed_http_request_duration_seconds", "API request latency", ["route"], registry=r
        )
        self.config_writes = Counter(
            "meshfed_config_writes", "Accepted config object writes", ["kind", "action"], registry=r
        )
        self.config_rejected = Counter(
            "meshfed_config_rejected", "Config writes refused by validation", ["kind"], registry=r
        )
        self.audit_records = Counter(
            "meshfed_audit_records", "Audit records appended", ["action"], registry=r
        )
        self.store_up = Gauge(
            "meshfed_store_up", "1 when the store answered its last ping", registry=r
        )
        self.provider_sync_duration = Histogram(
            "meshfed_provider_sync_duration_seconds",
            "Time of one discovery pass",
            ["provider"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.provider_sync_errors = Counter(
            "meshfed_provider_sync_errors",
            "Failed discovery passes",
            ["provider", "kind"],
            registry=r,
        )
        self.provider_endpoints = Gauge(
            "meshfed_provider_endpoints",
            "Endpoints a provider serves",
            ["provider", "cloud"],
            registry=r,
        )
        self.provider_staleness = Gauge(
            "meshfed_provider_staleness_seconds",
            "Age of a failing provider's last good snapshot (0 when current)",
            ["provider"],
            registry=r,
        )
        self.provider_withdrawn = Counter(
            "meshfed_provider_withdrawals",
            "Stale snapshots withdrawn after max_staleness",
            ["provider"],
            registry=r,
        )
        self.registry_version = Gauge(
            "meshfed_registry_version", "Version of the merged endpoint set", registry=r
        )
