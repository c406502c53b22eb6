"""``meshfed serve``: the one place that builds the object graph and runs it until told to stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from federation.api.app import build_app
from federation.api.context import ApiContext
from federation.audit_log import AuditLog
from federation.config import load_config
from federation.config_checks import missing_files
from federation.discovery import DiscoveryLoop
from federation.health_service import HealthService
from federation.leadership import LeaseKeeper, discovery_lease_ttl
from federation.metrics import Metrics
from federation.model import MeshfedConfig
from federation.problems import InvalidInputError
from federation.provider_factory import scheduled_providers
from federation.registry import Registry
from federation.resources import ConfigState
from federation.routing.live import LiveRouting
from federation.routing.membership import Membership
from federation.routing.outliers import OutlierService
from federation.routing.resolver import Resolver
from federation.store import open_store
from federation.tokens import TokenRegistry
from federation.tracing import install_tracing, traced_providers, tracing_from_env
from federation.trust.runtime import running_trust
from geo import GeoIPDatabase, RegionCatalog

log = logging.getLogger("meshfed.serve")


@dataclass(frozen=True, slots=True)
class Running:
    url: str
    context: ApiContext
    discovery: DiscoveryLoop


def load_for_serving(path: str | Path) -> MeshfedConfig:
    """Load the config; files it names must exist (``validate`` only warns about them)."""
    config = load_config(path)
    problems = missing_files(config)
    if problems:
        raise InvalidInputError(problems, str(path))
    return config


@asynccontextmanager
async def running_service(
    config: MeshfedConfig, *, store_url: str | None = None, listen: str | None = None
) -> AsyncIterator[Running]:
    """Start everything the config describes; stop it all, draining requests, on exit."""
    tracing = tracing_from_env(os.environ)
    store = open_store(store_url or config.store)
    try:
        metrics = Metrics()
        state = ConfigState(store, config)
        if await state.seed(config):
            log.info("config file objects applied to the store")
        ctx = ApiContext(
            store=store,
            config=state,
            tokens=TokenRegistry(store, config.api.tokens),
            audit=AuditLog(store, metrics),
            metrics=metrics,
            metrics_public=config.api.metrics,
        )
        registry = Registry(store, [p.name for p in config.providers])
        await registry.load()
        leadership = LeaseKeeper(
            store,
            "discovery",
            f"{socket.gethostname()}:{os.getpid()}",
            ttl=discovery_lease_ttl(os.environ),
        )
        registry.fence = lambda: leadership.fence
        scheduled = scheduled_providers(config.providers, config.clusters)
        discovery = DiscoveryLoop(
            traced_providers(scheduled, tracing) if tracing else scheduled,
            registry,
            metrics,
            is_leader=lambda: leadership.current is not None,
        )
        routing = LiveRouting(store, await asyncio.to_thread(RegionCatalog.load))
        await routing.load()
        geoip = await _open_geoip(config)
        ctx.resolver = Resolver(routing, config.geoip.default_location, geoip)
        ctx.outliers = OutlierService(store, routing, metrics)
        # Unique per running service, even for several in one process (tests, the demo).
        member = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        health = HealthService(store, routing, Membership(store, member), metrics)
        host, _, port = (listen or config.api.listen).rpartition(":")
        app = build_app(ctx)
        if tracing is not None:
            install_tracing(app, tracing)
        runner = web.AppRunner(
            app,
            shutdown_timeout=config.api.drain_timeout.total_seconds(),
            access_log=None,
            handle_signals=False,
            # A client that hangs up ends its handler, so abandoned long-polls free at once.
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, int(port))
        await site.start()
        bound = runner.addresses[0]
        url = f"http://{host}:{bound[1]}"
        ctx.ready = True
        log.info("serving", extra={"url": url, "store": store_url or config.store})
        await leadership.try_acquire()
        try:
            async with (
                running_trust(config, store, ctx.audit, metrics, os.environ) as trust,
                asyncio.TaskGroup() as background,
            ):
                ctx.trust = trust
                tasks = [
                    background.create_task(leadership.run(), name="lease:discovery"),
                    background.create_task(discovery.run(), name="discovery"),
                    background.create_task(routing.run(), name="routing"),
                    background.create_task(health.run(), name="health"),
                    background.create_task(ctx.outliers.run(), name="outliers"),
                ]
                try:
                    yield Running(url, ctx, discovery)
                finally:
                    for task in tasks:
                        task.cancel()
        finally:
            ctx.ready = False
            log.info("draining", extra={"timeout_s": config.api.drain_timeout.total_seconds()})
            await runner.cleanup()
            if geoip is not None:
                geoip.close()
    finally:
        await store.close()
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)


async def _open_geoip(config: MeshfedConfig) -> GeoIPDatabase | None:
    if config.geoip.city_db is None:
        return None
    interval = config.geoip.reload_interval.total_seconds()
    return await asyncio.to_thread(GeoIPDatabase, config.geoip.city_db, check_interval=interval)


async def serve_until_signal(config: MeshfedConfig, store_url: str | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_service(config, store_url=store_url):
        await stop.wait()
    log.info("stopped")
