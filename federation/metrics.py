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
        self.resolve_requests = Counter(
            "meshfed_resolve_requests",
            "Resolve requests by outcome (ok, no_healthy, unknown_service, bad_request)",
            ["service", "outcome"],
            registry=r,
        )
        self.resolve_duration = Histogram(
            "meshfed_resolve_duration_seconds",
            "Time to locate the client and resolve",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=r,
        )
        self.health_transitions = Counter(
            "meshfed_health_check_transitions",
            "Active health check verdict changes written to the store",
            ["service", "to"],
            registry=r,
        )
        self.outlier_ejections = Counter(
            "meshfed_outlier_ejections",
            "Endpoints ejected by outlier detection",
            ["service"],
            registry=r,
        )
        self.trust_certificate_expiry = Gauge(
            "meshfed_trust_certificate_expiry_seconds",
            "Seconds until the signing CA's certificate expires",
            ["trust_domain", "certificate"],
            registry=r,
        )
        self.trust_foreign_bundle_age = Gauge(
            "meshfed_trust_foreign_bundle_age_seconds",
            "Seconds since a foreign trust domain's bundle was last fetched successfully",
            ["trust_domain"],
            registry=r,
        )
        self.trust_bundle_fetch_errors = Counter(
            "meshfed_trust_bundle_fetch_errors",
            "Failed or refused fetches of a foreign bundle",
            ["trust_domain", "kind"],
            registry=r,
        )
        self.trust_svids_issued = Counter(
            "meshfed_trust_svids_issued", "X509-SVIDs issued", ["trust_domain"], registry=r
        )
