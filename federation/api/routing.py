"""One table of routes: aiohttp registers them and the OpenAPI document describes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from federation.model import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    location: str  # path | query | header
    description: str
    required: bool = False
    schema_type: str = "string"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    role: Role | None  # None: no authentication
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    response_list: bool = False
    params: tuple[Param, ...] = field(default=())
    statuses: tuple[int, ...] = (200,)


ROUTES = web.AppKey("meshfed_routes", dict[tuple[str, str], Route])


def register(app: web.Application, routes: list[Route]) -> None:
    index = app.setdefault(ROUTES, {})
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        index[(route.method, route.path)] = route


def route_for(request: web.Request) -> Route | None:
    """The table entry behind a matched request (None for unmatched paths)."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return request.app[ROUTES].get((request.method, resource.canonical))


def all_routes(app: web.Application) -> list[Route]:
    return list(app[ROUTES].values())
