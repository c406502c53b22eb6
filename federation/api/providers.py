"""GET /v1/providers: each provider's sync status, as the discovery lease holder last wrote it."""

from __future__ import annotations

import json

from aiohttp import web
from pydantic import BaseModel

from federation.api.context import context
from federation.api.routing import Route
from federation.discovery import STATUS_PREFIX
from federation.model import Role


class ProviderStatusView(BaseModel):
    name: str
    cloud: str
    endpoints: int
    last_success: float | None
    last_attempt: float | None
    last_duration: float | None
    last_error: str | None
    last_error_kind: str | None
    consecutive_failures: int
    stale: bool
    staleness_seconds: float
    withdrawn: bool
    next_run: float | None
    warnings: list[str]


class ProviderStatusList(BaseModel):
    items: list[ProviderStatusView]


async def list_providers(request: web.Request) -> web.Response:
    ctx = context(request)
    configured = {p.name for p in (await ctx.config.effective()).providers}
    records = await ctx.store.list_prefix(STATUS_PREFIX)
    items = [ProviderStatusView.model_validate(json.loads(r.value)) for r in records]
    body = ProviderStatusList(items=[i for i in items if i.name in configured])
    return web.json_response(body.model_dump(mode="json"))


def provider_routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/v1/providers",
            list_providers,
            "Sync status of every provider: last success, last error, staleness, next run",
            Role.VIEWER,
            "providers",
            response=ProviderStatusList,
        )
    ]
