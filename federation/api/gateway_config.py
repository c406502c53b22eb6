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
from collections.abc import Mapping
from dataclasses import dataclass

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
from federation.routing.inputs import in_service, verdict
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


async def _routes_changed(store: Store, version: int, wait: float, closing: asyncio.Event) -> bool:
    """``_changed_since``, cut short (and True) when an ejection ends first."""
    inputs = await _read_inputs(store)
    now = time.time()
    flip = next_verdict_change(inputs.reported_health(), inputs.health, now)
    if flip is None or flip - now >= wait:
        return await _changed_since(store, version, wait, closing)
    until_flip = flip - now + _FLIP_MARGIN
    return await _changed_since(store, version, until_flip, closing) or not closing.is_set()


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


def out_of_service(
    reported: Mapping[str, Health], health: Mapping[str, HealthRecord], now: float
) -> set[str]:
    return {
        key
        for key, record in health.items()
        if not in_service(reported.get(key, Health.UNKNOWN), record, now)
    }


def next_verdict_change(
    reported: Mapping[str, Health], health: Mapping[str, HealthRecord], now: float
) -> float | None:
    """The first moment after ``now`` at which the clock alone puts an endpoint back in
    service: the end of an ejection of an endpoint that is otherwise healthy. None if none."""
    ends = [
        record.ejected_until
        for key, record in health.items()
        if record.ejected_until is not None and record.ejected_until > now
        if verdict(reported.get(key, Health.UNKNOWN), record, now)[0]
    ]
    return min(ends, default=None)


async def _plan(store: Store, config: MeshfedConfig, cluster: str) -> GatewayConfig:
    inputs = await _read_inputs(store)
    down = out_of_service(inputs.reported_health(), inputs.health, time.time())
    catalog = await asyncio.to_thread(RegionCatalog.load)
    return plan_gateway_config(config, cluster, inputs.endpoints, inputs.revision, catalog, down)


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
    if version is not None and not await _routes_changed(ctx.store, version, wait, closing):
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
