"""The trust service as ``serve`` runs it: checked at start-up, then the rotation driver, the
foreign bundle fetchers and the bundle endpoint, all stopped together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from federation.audit_log import AuditLog
from federation.metrics import Metrics
from federation.model import MeshfedConfig
from federation.store.base import Store
from federation.trust.authority import Clock, TrustAuthority, TrustSettings, utc_now
from federation.trust.endpoint import bundle_endpoint
from federation.trust.foreign import (
    FederationSetupError,
    ForeignBundles,
    ForeignDomain,
    load_foreign_domain,
)
from federation.trust.records import TrustNotInitializedError, TrustRecords
from trust.bundle_endpoint import BundleEndpointError
from trust.federation import DEFAULT_BOUNDS, RefreshBounds
from trust.kek import Kek, KekError, load_kek

_MIN_TICK = timedelta(milliseconds=50)
_MAX_TICK = timedelta(seconds=30)


class TrustStartupError(Exception):
    """The trust service cannot start as configured; the message says what to fix."""


@dataclass(slots=True)
class TrustRuntime:
    authority: TrustAuthority
    foreign: ForeignBundles
    initialized: bool
    bundle_endpoint_url: str | None = None


def kek_for(config: MeshfedConfig, env: Mapping[str, str]) -> Kek:
    path = Path(config.trust.kek_file) if config.trust.kek_file else None
    return load_kek(path, env)


def rotation_tick(settings: TrustSettings) -> timedelta:
    return min(_MAX_TICK, max(_MIN_TICK, settings.refresh_hint / 4))


def build_authority(
    config: MeshfedConfig,
    store: Store,
    kek: Kek | None,
    audit: AuditLog,
    metrics: Metrics,
    clock: Clock = utc_now,
) -> TrustAuthority:
    settings = TrustSettings.from_config(config)
    return TrustAuthority(TrustRecords(store, kek), settings, audit, metrics, clock)


@asynccontextmanager
async def running_trust(
    config: MeshfedConfig,
    store: Store,
    audit: AuditLog,
    metrics: Metrics,
    env: Mapping[str, str],
    *,
    clock: Clock = utc_now,
    bounds: RefreshBounds = DEFAULT_BOUNDS,
) -> AsyncIterator[TrustRuntime]:
    """Raise TrustStartupError (before anything listens) when the KEK or the CAs are unusable."""
    probe = build_authority(config, store, None, audit, metrics, clock)
    initialized = await probe.records.has_domain(probe.settings.federation_domain)
    wants_trust = config.trust.bundle_endpoint is not None or bool(config.trust.federates_with)
    if not initialized:
        if wants_trust:
            raise TrustStartupError(
                f"trust domain {probe.settings.federation_domain!r} has no CA but the config "
                "sets trust.bundle_endpoint or trust.federates_with: run "
                "'meshfed trust init --config FILE' first"
            )
        yield TrustRuntime(probe, ForeignBundles(probe.records, [], metrics), False)
        return
    try:
        kek = kek_for(config, env)
        authority = build_authority(config, store, kek, audit, metrics, clock)
        await authority.check_ready()
        domains: list[ForeignDomain] = [
            await asyncio.to_thread(load_foreign_domain, spec)
            for spec in config.trust.federates_with
        ]
    except (KekError, TrustNotInitializedError, FederationSetupError) as exc:
        raise TrustStartupError(f"the trust service cannot start: {exc}") from exc
    foreign = ForeignBundles(authority.records, domains, metrics, bounds=bounds, clock=clock)
    runtime = TrustRuntime(authority, foreign, True)
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(authority.run_rotation(rotation_tick(authority.settings))),
            group.create_task(foreign.run()),
        ]
        try:
            async with contextlib.AsyncExitStack() as stack:
                spec = config.trust.bundle_endpoint
                if spec is not None:
                    try:
                        address = await stack.enter_async_context(
                            bundle_endpoint(spec, authority, clock)
                        )
                    except BundleEndpointError as exc:
                        raise TrustStartupError(str(exc)) from exc
                    runtime.bundle_endpoint_url = address.url
                yield runtime
        finally:
            for task in tasks:
                task.cancel()
