"""GET/PUT /v1/admin/log-level: read and change a logger's level while the service runs.

A change applies to this replica's process at once and is audited; it is not stored, so a
restart returns to the level ``serve`` starts with (debugging is meant to be temporary)."""

from __future__ import annotations

import logging
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from federation.api.context import context, principal
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.api.trust import read_body
from federation.model import Role

Level = Literal["debug", "info", "warning", "error"]
_LEVELS: dict[int, Level] = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
}
_LOGGER_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"


class LogLevelChange(BaseModel):
    level: Level
    logger: str | None = Field(
        default=None,
        pattern=_LOGGER_NAME,
        description="a logger such as meshfed.api; absent: the root logger, so every logger "
        "without a level of its own",
    )


class LogLevel(BaseModel):
    level: Level
    logger: str | None


def effective_level(name: str | None) -> Level:
    """The level a logger acts on, named by the nearest of our four at or below it."""
    effective = logging.getLogger(name).getEffectiveLevel()
    for number in sorted(_LEVELS, reverse=True):
        if effective >= number:
            return _LEVELS[number]
    return "debug"


def _logger_query(request: web.Request) -> str | None:
    name = request.query.get("logger")
    if name is None:
        return None
    try:
        return LogLevelChange(level="info", logger=name).logger
    except ValueError as exc:
        raise ProblemError(
            400,
            "Invalid query",
            f"logger={name!r} is not a logger name: use dotted words such as meshfed.api",
        ) from exc


async def get_log_level(request: web.Request) -> web.Response:
    name = _logger_query(request)
    return web.json_response(LogLevel(level=effective_level(name), logger=name).model_dump())


async def put_log_level(request: web.Request) -> web.Response:
    change = await read_body(request, LogLevelChange)
    before = effective_level(change.logger)
    logging.getLogger(change.logger).setLevel(change.level.upper())
    await context(request).audit.record(
        actor=principal(request).name,
        action="log_level.set",
        target=f"logger/{change.logger or 'root'}",
        detail={"from": before, "to": change.level},
    )
    answer = LogLevel(level=effective_level(change.logger), logger=change.logger)
    return web.json_response(answer.model_dump())


def admin_log_routes() -> list[Route]:
    logger = Param("logger", "query", "a logger name; absent: the root logger")
    return [
        Route(
            "GET",
            "/v1/admin/log-level",
            get_log_level,
            "The level a logger (default: root) logs at",
            Role.ADMIN,
            "admin",
            response=LogLevel,
            params=(logger,),
            statuses=(200, 400),
        ),
        Route(
            "PUT",
            "/v1/admin/log-level",
            put_log_level,
            "Set a logger's level at once on this replica (audited; not kept over a restart)",
            Role.ADMIN,
            "admin",
            body=LogLevelChange,
            response=LogLevel,
            statuses=(200, 400),
        ),
    ]
