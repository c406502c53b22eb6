"""The web dashboard: its static page under /ui, and /v1/ui/summary, the one view it needs that
no other endpoint gives (each cluster's place on the map and its healthy/total endpoints)."""

from __future__ import annotations

import time
from importlib import resources

from aiohttp import web
from pydantic import BaseModel

from federation.api.context import context, principal
from federation.api.problem import ProblemError
from federation.api.routing import Route
from federation.model import Role
from federation.routing.inputs import combined
from federation.routing.live import LiveRouting
from geo import UnknownRegionError

# Only these names are served, so a request can never walk out of the package folder. Types
# are fixed here rather than guessed from the host's mime.types, which differ between systems.
ASSETS = {
    "index.html": "text/html",
    "dashboard.js": "text/javascript",  # RFC 9239
    "dashboard.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
# The page loads nothing from elsewhere: no CDN, fonts or tiles, only this origin.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class ClusterHealth(BaseModel):
    name: str
    cloud: str
    region: str
    city: str | None
    lat: float | None
    lon: float | None
    healthy: int
    total: int


class UiSummary(BaseModel):
    clusters: list[ClusterHealth]
    services: list[str]
    # The page asks only what it may read, so a viewer's dashboard logs no 403s and an
    # uninitialized CA no 409s.
    role: Role
    trust_initialized: bool


def cluster_health(routing: LiveRouting, now: float) -> list[ClusterHealth]:
    """Every configured cluster with its endpoints counted as the scheduler sees them: the
    source's health, active checks and outlier ejection together."""
    counts: dict[str, tuple[int, int]] = {}
    for routed in routing.endpoints():
        state = combined(routed.base, routed.reported, routing.health(routed.base.key), now)
        healthy, total = counts.get(state.cluster, (0, 0))
        counts[state.cluster] = (healthy + int(state.healthy and not state.ejected), total + 1)
    views = []
    for name, spec in sorted(routing.clusters().items()):
        try:
            region = routing.catalog.get(spec.cloud, spec.region)
            place: tuple[str | None, float | None, float | None] = (
                region.city,
                region.lat,
                region.lon,
            )
        except UnknownRegionError:
            place = (None, None, None)
        healthy, total = counts.get(name, (0, 0))
        views.append(
            ClusterHealth(
                name=name,
                cloud=spec.cloud,
                region=spec.region,
                city=place[0],
                lat=place[1],
                lon=place[2],
                healthy=healthy,
                total=total,
            )
        )
    return views


async def summary(request: web.Request) -> web.Response:
    resolver = context(request).resolver
    if resolver is None:
        raise ProblemError(503, "Not ready", "routing is not running on this replica yet; retry")
    routing = resolver.routing
    trust = context(request).trust
    body = UiSummary(
        clusters=cluster_health(routing, time.time()),
        services=sorted(routing.services()),
        role=principal(request).role,
        trust_initialized=trust is not None and trust.initialized,
    )
    return web.json_response(body.model_dump(mode="json"))


UI_FILES = web.AppKey("meshfed_ui_files", dict[str, bytes])


def _asset(request: web.Request, name: str) -> web.Response:
    return web.Response(
        body=request.app[UI_FILES][name],
        content_type=ASSETS[name],
        charset="utf-8",
        headers={
            "Content-Security-Policy": _CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


async def page(request: web.Request) -> web.Response:
    return _asset(request, "index.html")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise ProblemError(404, "Not found", f"no dashboard file {name!r}; open /ui")
    return _asset(request, name)


async def to_page(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui")


def install_ui(app: web.Application) -> None:
    """The page itself is public (it holds no data); every call it makes needs a token. It
    stays out of the API route table, and so out of the OpenAPI document: it is not JSON.
    The files are read here, before serving starts, so no request reads the disk."""
    package = resources.files("federation.ui")
    app[UI_FILES] = {name: package.joinpath(name).read_bytes() for name in ASSETS}
    app.router.add_get("/ui", page)
    app.router.add_get("/ui/", to_page)
    app.router.add_get("/ui/{name}", asset)


def ui_routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/v1/ui/summary",
            summary,
            "For the dashboard: each cluster's place and healthy/total endpoints, the services",
            Role.VIEWER,
            "ui",
            response=UiSummary,
            statuses=(200, 503),
        )
    ]
