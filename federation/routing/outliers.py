"""Outlier reports from gateways: one OutlierDetector per service, ejections in the store.

A report counts one outcome (or ``count`` of them) of real traffic to an endpoint. Ejections
and returns are written to ``health/<endpoint key>`` with the time the ejection ends, so every
replica's scheduler stops and resumes routing to the endpoint together. Every replica also
runs the expiry loop, so an ejection ends on time even when the replica that made it is gone.

Each replica counts the reports it receives itself: with several replicas behind a load
balancer, a host needs its consecutive failures reported to one replica to be ejected.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from federation.metrics import Metrics
from federation.model import OutlierDetectionSpec
from federation.outlier import OutlierDetector, OutlierDiff, OutlierSettings
from federation.retry import Outcome
from federation.routing.health_records import ejected, returned, update_health
from federation.routing.live import LiveRouting
from federation.scheduler import UnknownServiceError
from federation.store.base import Store, StoreError

log = logging.getLogger("meshfed.outliers")

ReportedOutcome = Literal["5xx", "connect-failure", "success"]
_OUTCOMES: dict[str, Outcome] = {
    "5xx": Outcome.response(503),
    "connect-failure": Outcome.connect_failure(),
    "success": Outcome.response(200),
}


class UnknownHostError(LookupError):
    """The report named an address:port that is not an endpoint of the service."""


@dataclass(frozen=True, slots=True)
class ReportResult:
    applied: bool
    detail: str
    ejected: tuple[dict[str, object], ...] = ()
    returned: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def settings_for(spec: OutlierDetectionSpec) -> OutlierSettings:
    return OutlierSettings(
        consecutive_5xx=spec.consecutive_5xx,
        consecutive_connect_failures=spec.consecutive_connect_failures,
        base_ejection_time=spec.base_ejection_time.total_seconds(),
        max_ejection_time=spec.max_ejection_time.total_seconds(),
        # Rounded down: a fractional cap never lets one more host out than configured.
        max_ejection_percent=math.floor(spec.max_ejection_percent),
    )


class OutlierService:
    def __init__(
        self,
        store: Store,
        routing: LiveRouting,
        metrics: Metrics | None = None,
        *,
        expiry_interval: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._routing = routing
        self._metrics = metrics
        self._expiry_interval = expiry_interval
        self._clock = clock
        self._detectors: dict[str, OutlierDetector] = {}

    async def report(
        self, service: str, endpoint: str, outcome: ReportedOutcome, count: int = 1
    ) -> ReportResult:
        spec = self._routing.services().get(service)
        if spec is None:
            raise UnknownServiceError(
                f"service {service!r} is not configured; report outcomes of a configured service"
            )
        if spec.outlier_detection is None:
            self._detectors.pop(service, None)
            return ReportResult(
                False,
                f"service {service!r} has no outlier_detection: the report is ignored "
                "(add outlier_detection to the service to eject failing endpoints)",
            )
        keys = self._keys_by_host(service)
        if endpoint not in keys:
            known = ", ".join(sorted(keys)[:5]) or "none"
            raise UnknownHostError(
                f"{endpoint!r} is not an endpoint of service {service!r} (known: {known}); "
                "report the address:port the gateway sent traffic to"
            )
        detector = self._detector(service, spec.outlier_detection)
        now = self._clock()
        diff = detector.set_hosts(keys, now)
        for _ in range(count):
            diff = diff.merged(detector.record(endpoint, _OUTCOMES[outcome], now))
        await self._write(service, diff, keys, now)
        return ReportResult(
            True,
            f"{count} {outcome} outcome(s) counted for {endpoint}",
            ejected=tuple(
                {
                    "endpoint": e.host,
                    "until": e.until,
                    "duration_s": e.duration,
                    "times": e.times,
                    "reason": e.explanation,
                }
                for e in diff.ejected
            ),
            returned=diff.returned,
            refused=diff.refused,
        )

    async def run(self) -> None:
        """End ejections whose time is up, on every replica, until cancelled."""
        while True:
            await self.expire()
            await asyncio.sleep(self._expiry_interval)

    async def expire(self) -> None:
        now = self._clock()
        for key, until in self._routing.ejected_keys().items():
            if until > now:
                continue
            try:
                await update_health(self._store, key, returned(now))
            except StoreError as exc:
                log.warning("ejection not ended yet", extra={"endpoint": key, "error": str(exc)})

    def _detector(self, service: str, spec: OutlierDetectionSpec) -> OutlierDetector:
        settings = settings_for(spec)
        detector = self._detectors.get(service)
        if detector is None or detector.settings != settings:
            detector = self._detectors[service] = OutlierDetector(settings)
        return detector

    def _keys_by_host(self, service: str) -> dict[str, list[str]]:
        hosts: dict[str, list[str]] = {}
        for routed in self._routing.endpoints():
            base = routed.base
            if base.service == service:
                hosts.setdefault(f"{base.address}:{base.port}", []).append(base.key)
        return hosts

    async def _write(
        self, service: str, diff: OutlierDiff, keys: dict[str, list[str]], now: float
    ) -> None:
        for ejection in diff.ejected:
            log.warning(
                "endpoint ejected",
                extra={"service": service, "endpoint": ejection.host, "why": ejection.explanation},
            )
            if self._metrics is not None:
                self._metrics.outlier_ejections.labels(service).inc()
            for key in keys.get(ejection.host, ()):
                await update_health(self._store, key, ejected(ejection.until, ejection.explanation))
        for host in diff.returned:
            for key in keys.get(host, ()):
                await update_health(self._store, key, returned(now))
