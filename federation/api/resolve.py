"""GET /v1/resolve: where a client's requests for a service go, and why."""

from __future__ import annotations

import time
from typing import Literal

from aiohttp import web
from opentelemetry import trace
from pydantic import BaseModel

from federation.api.context import context
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.model import Role
from federation.problems import Problem
from federation.routing.resolver import ResolveInputError, Resolver
from federation.scheduler import UnknownServiceError


class ResolveLocation(BaseModel):
    lat: float
    lon: float
    country: str


class ResolveClient(BaseModel):
    ip: str | None
    location: ResolveLocation
    region: str
    source: Literal["geoip", "region", "default"]


class ResolveEndpoint(BaseModel):
    address: str
    port: int
    health: Literal["healthy", "unhealthy", "ejected"]


class ResolveCluster(BaseModel):
    name: str
    share_percent: int
    weight: int
    healthy: int
    total: int
    distance_km: float | None
    endpoints: list[ResolveEndpoint]


class ResolveLevel(BaseModel):
    priority: int
    load_percent: int
    panic: bool
    healthy: int
    total: int
    clusters: list[ResolveCluster]


class ResolvePick(BaseModel):
    cluster: str
    address: str
    port: int


class Resolution(BaseModel):
    service: str
    version: int
    client: ResolveClient
    levels: list[ResolveLevel]
    pick: ResolvePick | None
    explain: list[str]


def _resolver(request: web.Request) -> Resolver:
    resolver = context(request).resolver
    if resolver is None:
        raise ProblemError(503, "Not ready", "routing is not running on this replica yet; retry")
    return resolver


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ProblemError(
            400,
            "Invalid query",
            f"{name}={raw!r}: use true or false",
            errors=[Problem(name, f"{raw!r} is not a boolean", "write true or false")],
        )
    return raw in ("true", "1")


async def resolve(request: web.Request) -> web.Response:
    started = time.perf_counter()
    ctx = context(request)
    resolver = _resolver(request)
    service = request.query.get("service", "")
    label, outcome = "-", "bad_request"
    try:
        if not service:
            raise ProblemError(
                400,
                "Invalid query",
                "name the service: /v1/resolve?service=NAME&client_ip=IP",
                errors=[Problem("service", "missing", "add service=NAME")],
            )
        try:
            body = await resolver.resolve(
                service,
                client_ip=request.query.get("client_ip"),
                client_region=request.query.get("client_region"),
                headers=request.headers,
                explain=_flag(request, "explain"),
            )
        except ResolveInputError as exc:
            problem = Problem(exc.parameter, exc.message, exc.hint)
            raise ProblemError(400, "Invalid query", str(exc), errors=[problem]) from exc
        except UnknownServiceError as exc:
            outcome = "unknown_service"
            raise ProblemError(404, "Not found", str(exc)) from exc
        label, outcome = service, "ok" if body["pick"] is not None else "no_healthy"
        # The request's server span (a no-op when tracing is off) says what was resolved.
        trace.get_current_span().set_attributes(
            {
                "meshfed.service": service,
                "meshfed.client.source": body["client"]["source"],
                "meshfed.client.region": body["client"]["region"],
                "meshfed.pick.cluster": body["pick"]["cluster"] if body["pick"] else "",
            }
        )
        return web.json_response(body)
    finally:
        ctx.metrics.resolve_requests.labels(label, outcome).inc()
        ctx.metrics.resolve_duration.observe(time.perf_counter() - started)


def resolve_routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/v1/resolve",
            resolve,
            "Where a client's requests for a service go: levels, cluster shares, a pick, why",
            Role.VIEWER,
            "routing",
            response=Resolution,
            params=(
                Param("service", "query", "the service to resolve", required=True),
                Param("client_ip", "query", "the client's IP address (located by GeoIP2)"),
                Param("client_region", "query", "or the client's region, CLOUD:REGION"),
                Param("explain", "query", "true: say why", schema_type="boolean"),
            ),
            statuses=(200, 400, 404, 503),
        )
    ]
