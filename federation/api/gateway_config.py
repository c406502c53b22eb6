"""GET /v1/gateway/config: one cluster's gateway routes, long-polled by version.

``version`` is the store revision the answer was computed at. A gateway sends back the version
it holds; the answer waits (up to ``timeout``) until a write under ``config/`` or
``endpoints/`` lands after that revision, and answers 304 when none did. Waiting on the store's
change feed, not on this replica's memory, means any replica can hold the poll.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from federation.api.context import context
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.durations import DurationError, parse_duration
from federation.gateway.route_config import GatewayConfig
from federation.gateway.route_plan import UnknownClusterError, plan_gateway_config
from federation.model import MeshfedConfig, Role
from federation.registry import ENDPOINTS_PREFIX, MergedEndpoint
from federation.routing.health_records import HEALTH_PREFIX, HealthRecord
from federation.routing.inputs import in_service
from federation.store.base import Store, WatchExpiredError
from geo import RegionCatalog
from providers.base import Health

DEFAULT_WAIT = 30.0
MAX_WAIT = 300.0
# What routes are computed from: the config objects and the discovered endpoints.
_ROUTE_INPUTS = ("config/", ENDPOINTS_PREFIX, HEALTH_PREFIX)
# Set on shutdown: aiohttp waits for running handlers, and a held poll would hold the drain.
LONG_POLLS_CLOSING = web.AppKey("meshfed_long_polls_closing", asyncio.Event)


def install_gateway_config(app: web.Application) -> None:
    """End the route's long-polls when the app shuts down."""
    closing = app[LONG_POLLS_CLOSING] = asyncio.Event()

    async def end_long_polls(_: web.Application) -> None:
        closing.set()

    app.on_shutdown.append(end_long_polls)


def _version(request: web.Request) -> int | None:
    raw = request.query.get("version")
    if raw is None:
        return None
    if not raw.isdigit():
        raise ProblemError(
            400,
            "Invalid query",
            f"version={raw!r}: send the version of your last answer (0 or more)",
        )
    return int(raw)


def _wait(request: web.Request) -> float:
    raw = request.query.get("timeout")
    if raw is None:
        return DEFAULT_WAIT
    try:
        wait = parse_duration(raw).total_seconds()
    except DurationError as error:
        raise ProblemError(400, "Invalid query", f"timeout={raw!r}: {error}") from None
    if wait > MAX_WAIT:
        raise ProblemError(
            400,
            "Invalid query",
            f"timeout={raw!r} is over {MAX_WAIT:g}s; ask for 30s and poll again",
        )
    return wait


async def _changed_since(store: Store, version: int, wait: float, closing: asyncio.Event) -> bool:
    """True once a route input changed after ``version``; False when ``wait`` runs out or the
    server shuts down first (the gateway then polls again, perhaps another replica)."""
    if version > await store.revision():
        # A version from the future: the store was replaced (say a memory store restarted).
        return True
    change = asyncio.ensure_future(_next_route_change(store, version))
    shutdown = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait(
            {change, shutdown}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        change.cancel()
        shutdown.cancel()
        await asyncio.gather(change, shutdown, return_exceptions=True)
    return change in done and change.result()


async def _next_route_change(store: Store, version: int) -> bool:
    watch = store.watch("", since_revision=version)
    try:
        async for event in watch:
            if event.key.startswith(_ROUTE_INPUTS):
                return True
    except WatchExpiredError:
        # Changes were pruned from history; something may have changed, so answer afresh.
        return True
    finally:
        await watch.aclose()
    return True


async def _plan(store: Store, config: MeshfedConfig, cluster: str) -> GatewayConfig:
    # Read the revision first: a write racing the listing then shows up in the next poll.
    revision = await store.revision()
    records = await store.list_prefix(ENDPOINTS_PREFIX)
    endpoints = [MergedEndpoint.from_json(json.loads(r.value)).endpoint for r in records]
    reported = {e.key: e.health for e in endpoints}
    now = time.time()
    out_of_service = {
        key: record
        for key, record in (
            (r.key[len(HEALTH_PREFIX) :], HealthRecord.from_json(r.value))
            for r in await store.list_prefix(HEALTH_PREFIX)
        )
        if not in_service(reported.get(key, Health.UNKNOWN), record, now)
    }
    catalog = await asyncio.to_thread(RegionCatalog.load)
    return plan_gateway_config(config, cluster, endpoints, revision, catalog, out_of_service)


async def gateway_config(request: web.Request) -> web.Response:
    cluster = request.query.get("cluster")
    if not cluster:
        raise ProblemError(400, "Invalid query", "cluster is required: send cluster=<its name>")
    version, wait = _version(request), _wait(request)
    ctx = context(request)
    known = [c.name for c in (await ctx.config.effective()).clusters]
    if cluster not in known:
        raise ProblemError(404, "Not found", str(UnknownClusterError(cluster, known)))
    closing = request.app[LONG_POLLS_CLOSING]
    if version is not None and not await _changed_since(ctx.store, version, wait, closing):
        return web.Response(status=304)
    # Read after the wait, so the answer includes the change that ended it.
    planned = await _plan(ctx.store, await ctx.config.effective(), cluster)
    return web.json_response(planned.model_dump(mode="json"))


def gateway_config_routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/v1/gateway/config",
            gateway_config,
            "A cluster's gateway routes; long-polls while `version` is current",
            Role.VIEWER,
            "gateway",
            response=GatewayConfig,
            params=(
                Param("cluster", "query", "the cluster the gateway runs in", required=True),
                Param(
                    "version",
                    "query",
                    "the version you hold: wait for a newer one (answers 304 after timeout)",
                    schema_type="integer",
                ),
                Param("timeout", "query", f"longest wait, e.g. 30s (at most {MAX_WAIT:g}s)"),
            ),
            statuses=(200, 304, 400, 404),
        )
    ]
