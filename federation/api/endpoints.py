"""GET /v1/endpoints: the merged endpoint set, filtered and paged."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from federation.api.context import context
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.model import Role

PREFIX = "endpoints/"
_FILTERS = ("cluster", "service", "cloud", "region")
MAX_LIMIT = 1000


class EndpointView(BaseModel):
    key: str
    cluster: str
    role: str
    service: str | None
    address: str
    port: int
    cloud: str
    region: str
    zone: str = ""
    network: str = ""
    weight: int = 1
    health: str = "unknown"
    provider: str = ""
    stale: bool = False


class EndpointPage(BaseModel):
    items: list[EndpointView]
    next_page_token: str | None


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ProblemError(
            400, "Invalid query", f"limit={raw!r}: use a number from 1 to {MAX_LIMIT}"
        )
    return int(raw)


def _matches(entry: dict[str, Any], request: web.Request) -> bool:
    for name in _FILTERS:
        wanted = request.query.get(name)
        if wanted is not None and entry.get(name) != wanted:
            return False
    stale = request.query.get("stale")
    return stale is None or entry.get("stale", False) == (stale.lower() == "true")


async def list_endpoints(request: web.Request) -> web.Response:
    limit = _limit(request)
    after = request.query.get("page_token", "")
    records = await context(request).store.list_prefix(PREFIX)
    items: list[dict[str, Any]] = []
    next_token = None
    for record in records:
        if record.key <= PREFIX + after and after:
            continue
        entry = json.loads(record.value)
        if not _matches(entry, request):
            continue
        if len(items) == limit:
            next_token = items[-1]["key"]
            break
        items.append(entry)
    page = EndpointPage(
        items=[EndpointView.model_validate(i) for i in items], next_page_token=next_token
    )
    return web.json_response(page.model_dump(mode="json"))


def endpoint_routes() -> list[Route]:
    params = (
        *(Param(n, "query", f"only endpoints of this {n}") for n in _FILTERS),
        Param(
            "stale",
            "query",
            "true: only endpoints kept from a failing provider",
            schema_type="boolean",
        ),
        Param(
            "limit", "query", f"page size, 1 to {MAX_LIMIT} (default 100)", schema_type="integer"
        ),
        Param("page_token", "query", "next_page_token of the previous page"),
    )
    return [
        Route(
            "GET",
            "/v1/endpoints",
            list_endpoints,
            "List discovered endpoints",
            Role.VIEWER,
            "endpoints",
            response=EndpointPage,
            params=params,
            statuses=(200, 400),
        ),
    ]
