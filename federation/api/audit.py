"""GET /v1/audit: page through the hash-chained audit log (admin: it tells who did what)."""

from __future__ import annotations

from aiohttp import web

from federation.api.context import context
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.model import Role

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ProblemError(
            400, "Invalid query", f"{name}={text!r} must be a whole number from {low} to {high}"
        )
    return int(text)


async def read_audit(request: web.Request) -> web.Response:
    since = _int_param(request, "since", 0, 0, 2**62)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    records = await context(request).audit.read(after=since - 1, limit=limit)
    following = records[-1].seq + 1 if records else since
    return web.json_response({"items": [r.to_dict() for r in records], "next_since": following})


def audit_routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/v1/audit",
            read_audit,
            "Audit records from seq 'since' on, oldest first; continue with 'next_since'",
            Role.ADMIN,
            "audit",
            params=(
                Param("since", "query", "first record seq to return (default 0)", False, "integer"),
                Param("limit", "query", f"at most this many (1-{MAX_LIMIT})", False, "integer"),
            ),
            statuses=(200, 400),
        )
    ]
