"""GET /v1/gateway/config: one cluster's gateway routes, long-polled by version.

``version`` is the store revision the answer was computed at. A gateway sends back the version
it holds; the answer waits (up to ``timeout``) until a write under ``config/``, ``endpoints/``
or ``health/`` lands after that revision, and answers 304 when none did. Waiting on the store's
change feed, not on this replica's memory, means any replica can hold the poll.

An ejection that ends changes the routes with no write, so the wait is also cut short at the
next moment an endpoint's in-service verdict flips by the clock alone, and that answer repeats
the revision. The version stays the bare revision (the contract gateways hold to) rather than
one encoding the clock too: a gateway applies every answer it gets, whatever its version, and
the next poll waits only for flips still ahead, so a repeated version neither goes unapplied
nor makes the poll spin. A gateway that polls again only after a flip it never saw is caught
up by the write ``serve`` makes when it clears an ended ejection (``OutlierService.run``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from aiohttp import web

from federation.api.context import CONTEXT, context
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.durations import DurationError, parse_duration
from federation.gateway.route_config import GatewayConfig
from federation.gateway.route_plan import UnknownClusterError, plan_gateway_config
from federation.model import Role
from federation.registry import ENDPOINTS_PREFIX, MergedEndpoint
from federation.routing.health_records import HEALTH_PREFIX, HealthRecord
from federation.routing.inputs import next_verdict_change, out_of_service
from federation.store.base import Store, WatchExpiredError
from geo import RegionCatalog
from providers.base import Endpoint, Health

DEFAULT_WAIT = 30.0
MAX_WAIT = 300.0
# What routes are computed from: the config objects, the discovered endpoints, their health.
_ROUTE_INPUTS = ("config/", ENDPOINTS_PREFIX, HEALTH_PREFIX)
# Past an ejection's end by this much, a timer that fires a hair early still plans it over.
_FLIP_MARGIN = 0.01
# Set on shutdown: aiohttp waits for running handlers, and a held poll would hold the drain.
LONG_POLLS_CLOSING = web.AppKey("meshfed_long_polls_closing", asyncio.Event)
REGION_CATALOG = web.AppKey("meshfed_region_catalog", RegionCatalog)


def install_gateway_config(app: web.Application) -> None:
    """Hold the region catalog for every answer, and end the route's long-polls when the app
    shuts down."""
    closing = app[LONG_POLLS_CLOSING] = asyncio.Event()

    async def load_catalog(app: web.Application) -> None:
        # Static data: take the catalog routing already parsed, else parse it once per app.
        resolver = app[CONTEXT].resolver
        app[REGION_CATALOG] = (
            resolver.routing.catalog
            if resolver is not None
            else await asyncio.to_thread(RegionCatalog.load)
        )

    async def end_long_polls(_: web.Application) -> None:
        closing.set()

    app.on_startup.append(load_catalog)
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


async def _inputs_to_answer(
    store: Store, version: int | None, wait: float, closing: asyncio.Event
) -> _RouteInputs | None:
    """The route inputs to answer from, read once per answer; None when nothing changed
    within ``wait`` or the server is shutting down (the gateway then polls again)."""
    if version is None or await _changed_already(store, version):
        return await _read_inputs(store)
    held = await _read_inputs(store)
    now = time.time()
    flip = next_verdict_change(held.reported_health(), held.health, now)
    by_clock = flip is not None and flip - now < wait
    timeout = flip - now + _FLIP_MARGIN if flip is not None and by_clock else wait
    if await _changed_since(store, version, timeout, closing):
        # Read after the wait, so the answer includes the change that ended it.
        return await _read_inputs(store)
    # Only the clock moved: no route input was written after ``version``, so ``held`` holds.
    return held if by_clock and not closing.is_set() else None


async def _changed_already(store: Store, version: int) -> bool:
    """True when the store's history already holds a route input written after ``version``:
    a stale poll answers at once, without a wait or a read of the inputs to time one."""
    revision = await store.revision()
    if version > revision:
        # A version from the future: the store was replaced (say a memory store restarted).
        return True
    return version < revision and await _route_change(store, version, until=revision)


async def _changed_since(store: Store, version: int, wait: float, closing: asyncio.Event) -> bool:
    """True once a route input changed after ``version``; False when ``wait`` runs out or the
    server shuts down first."""
    change = asyncio.ensure_future(_route_change(store, version))
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


async def _route_change(store: Store, version: int, until: int | None = None) -> bool:
    """True at the first route input written after ``version``; False once the history
    reaches revision ``until`` without one (with no ``until``, it waits for one)."""
    watch = store.watch("", since_revision=version)
    try:
        async for event in watch:
            if event.key.startswith(_ROUTE_INPUTS):
                return True
            if until is not None and event.revision >= until:
                return False
    except WatchExpiredError:
        # Changes were pruned from history; something may have changed, so answer afresh.
        return True
    finally:
        await watch.aclose()
    return True


@dataclass(frozen=True, slots=True)
class _RouteInputs:
    revision: int
    endpoints: list[Endpoint]
    health: dict[str, HealthRecord]  # by endpoint key

    def reported_health(self) -> dict[str, Health]:
        return {e.key: e.health for e in self.endpoints}


async def _read_inputs(store: Store) -> _RouteInputs:
    # Read the revision first: a write racing the listing then shows up in the next poll.
    revision = await store.revision()
    records = await store.list_prefix(ENDPOINTS_PREFIX)
    endpoints = [MergedEndpoint.from_json(json.loads(r.value)).endpoint for r in records]
    health = {
        r.key[len(HEALTH_PREFIX) :]: HealthRecord.from_json(r.value)
        for r in await store.list_prefix(HEALTH_PREFIX)
    }
    return _RouteInputs(revision, endpoints, health)


async def gateway_config(request: web.Request) -> web.Response:
    cluster = request.query.get("cluster")
    if not cluster:
        raise ProblemError(400, "Invalid query", "cluster is required: send cluster=<its name>")
    version, wait = _version(request), _wait(request)
    ctx = context(request)
    known = [c.name for c in (await ctx.config.effective()).clusters]
    if cluster not in known:
        raise ProblemError(404, "Not found", str(UnknownClusterError(cluster, known)))
    inputs = await _inputs_to_answer(ctx.store, version, wait, request.app[LONG_POLLS_CLOSING])
    if inputs is None:
        return web.Response(status=304)
    down = out_of_service(inputs.reported_health(), inputs.health, time.time())
    planned = plan_gateway_config(
        await ctx.config.effective(),
        cluster,
        inputs.endpoints,
        inputs.revision,
        request.app[REGION_CATALOG],
        down,
    )
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
