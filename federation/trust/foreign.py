"""Foreign trust domains: one task each polls its bundle endpoint on the published refresh
hint, keeps the last good bundle on any failure and refuses rollbacks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from federation.metrics import Metrics
from federation.model import FederatedDomainSpec
from federation.store.base import StoreError
from federation.trust.authority import Clock, utc_now
from federation.trust.records import ForeignRecord, TrustRecords
from trust.bundle import BundleError, BundleRollbackError, TrustBundle, accept_update, parse_jwks
from trust.federation import (
    DEFAULT_BOUNDS,
    BundleFetchError,
    BundleSource,
    RefreshBounds,
    client_ssl_context,
    fetch_bundle,
    refresh_delay,
    retry_delay,
)
from trust.spiffe_id import parse_spiffe_id

log = logging.getLogger("meshfed.trust.federation")


class FederationSetupError(Exception):
    """A federates_with entry cannot be used as configured."""


@dataclass(frozen=True, slots=True)
class ForeignDomain:
    source: BundleSource
    bootstrap: TrustBundle | None  # https_spiffe: the bundle_file, until a fetch succeeds


def load_foreign_domain(spec: FederatedDomainSpec) -> ForeignDomain:
    """Blocking (reads bundle_file): call it off the event loop."""
    endpoint_id = parse_spiffe_id(spec.endpoint_spiffe_id) if spec.endpoint_spiffe_id else None
    bootstrap = None
    if spec.bundle_file:
        try:
            bootstrap = parse_jwks(spec.trust_domain, Path(spec.bundle_file).read_bytes())
        except (OSError, BundleError) as exc:
            raise FederationSetupError(
                f"trust.federates_with {spec.trust_domain}: bundle_file {spec.bundle_file} is "
                f"unusable ({exc}): save that domain's bundle there ('meshfed trust bundle')"
            ) from exc
    source = BundleSource(
        spec.trust_domain,
        spec.bundle_endpoint,
        spec.profile,
        endpoint_id,
        Path(spec.ca_file) if spec.ca_file else None,
    )
    return ForeignDomain(source, bootstrap)


class ForeignBundles:
    def __init__(
        self,
        records: TrustRecords,
        domains: list[ForeignDomain],
        metrics: Metrics,
        *,
        bounds: RefreshBounds = DEFAULT_BOUNDS,
        timeout: timedelta = timedelta(seconds=10),
        clock: Clock = utc_now,
    ) -> None:
        self._records = records
        self._domains = domains
        self._metrics = metrics
        self._bounds = bounds
        self._timeout = timeout
        self._clock = clock
        self._fetched_at: dict[str, datetime] = {}
        for domain in domains:
            name = domain.source.trust_domain
            metrics.trust_foreign_bundle_age.labels(name).set_function(self._age_of(name))

    @property
    def trust_domains(self) -> list[str]:
        return [d.source.trust_domain for d in self._domains]

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for domain in self._domains:
                group.create_task(self._poll(domain), name=f"bundle:{domain.source.trust_domain}")

    async def refresh(self, domain: ForeignDomain) -> ForeignRecord:
        """One fetch; the stored record afterwards (the last good bundle survives a failure)."""
        name = domain.source.trust_domain
        held = await self._records.foreign(name) or ForeignRecord(name, None)
        known = held.bundle or domain.bootstrap
        now = self._clock()
        try:
            context = await asyncio.to_thread(client_ssl_context, domain.source, known)
            async with asyncio.timeout(self._timeout.total_seconds()):
                fetched = await fetch_bundle(domain.source, known, context, now)
            bundle = accept_update(held.bundle, fetched)
        except (BundleFetchError, BundleError, TimeoutError, OSError) as exc:
            kind = _error_kind(exc)
            self._metrics.trust_bundle_fetch_errors.labels(name, kind).inc()
            message = str(exc) or f"fetching {domain.source.url} timed out"
            log.warning("foreign bundle kept", extra={"trust_domain": name, "error": message})
            record = replace(held, attempted_at=now, last_error=f"{kind}: {message}")
        else:
            record = ForeignRecord(name, bundle, now, now, None)
            self._fetched_at[name] = now
        await self._records.save_foreign(record)
        if record.fetched_at is not None:
            self._fetched_at.setdefault(name, record.fetched_at)
        return record

    async def _poll(self, domain: ForeignDomain) -> None:
        failures = 0
        while True:
            try:
                record = await self.refresh(domain)
                failed = record.attempted_at != record.fetched_at
                bundle = record.bundle or domain.bootstrap
            except StoreError as exc:
                log.warning("foreign bundle not saved", extra={"error": str(exc)})
                failed, bundle = True, domain.bootstrap
            failures = failures + 1 if failed else 0
            delay = (
                retry_delay(bundle, failures, self._bounds)
                if failed
                else refresh_delay(bundle, self._bounds)
            )
            await asyncio.sleep(delay.total_seconds())

    def _age_of(self, name: str) -> Callable[[], float]:
        def age() -> float:
            fetched = self._fetched_at.get(name)
            return -1.0 if fetched is None else (self._clock() - fetched).total_seconds()

        return age


def _error_kind(exc: Exception) -> str:
    if isinstance(exc, BundleRollbackError):
        return "rollback"
    if isinstance(exc, BundleError):
        return "invalid"
    return "fetch"
