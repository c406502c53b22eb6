"""Liveness, readiness, metrics and the API description: the unauthenticated surface."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from federation.api.context import context
from federation.api.openapi import build_openapi
from federation.api.problem import ProblemError
from federation.api.routing import Route, all_routes
from federation.store.base import StoreError

OPENAPI = web.AppKey("meshfed_openapi", dict)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ctx = context(request)
    checks = {"config": "ok" if ctx.ready else "loading"}
    try:
        await ctx.store.ping()
        checks["store"] = "ok"
        ctx.metrics.store_up.set(1)
    except StoreError as exc:
        checks["store"] = f"unreachable: {exc}"
        ctx.metrics.store_up.set(0)
    ready = all(value == "ok" for value in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    ctx = context(request)
    if not ctx.metrics_public:
        raise ProblemError(404, "Not found", "metrics are turned off (api.metrics: false)")
    body = generate_latest(ctx.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def freeze_openapi(app: web.Application) -> None:
    """Build the document once, after every route is registered."""
    app[OPENAPI] = build_openapi(all_routes(app))


def system_routes() -> list[Route]:
    return [
        Route("GET", "/healthz", healthz, "Liveness", None, "system"),
        Route(
            "GET",
            "/readyz",
            readyz,
            "Readiness: store reachable, config loaded",
            None,
            "system",
            statuses=(200, 503),
        ),
        Route("GET", "/metrics", metrics, "Prometheus metrics", None, "system"),
        Route(
            "GET", "/openapi.json", openapi, "This API's OpenAPI 3.1 description", None, "system"
        ),
    ]
