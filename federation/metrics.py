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
