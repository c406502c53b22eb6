"""The whole config at once: GET /v1/config, POST /v1/config:validate, PUT /v1/config."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from federation.api.context import context, principal
from federation.api.objects import _etag, _expected_revision
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.config import check_config_data
from federation.config_checks import missing_files
from federation.model import Role
from federation.problems import InvalidInputError, Problem
from federation.resources import ConflictError
from federation.store.url import redact


class ProblemItem(BaseModel):
    path: str
    message: str
    hint: str


class ValidationReport(BaseModel):
    valid: bool
    problems: list[ProblemItem]
    warnings: list[ProblemItem]


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            [Problem("", f"the body is not valid JSON: {exc}", "send the config as JSON")]
        ) from exc


async def get_config(request: web.Request) -> web.Response:
    state = context(request).config
    revision = await state.revision()
    document = (await state.effective()).model_dump(mode="json", by_alias=True)
    # The store URL may carry a Redis password; token entries are only hashes already.
    document["store"] = redact(document["store"])
    return web.json_response({**document, "revision": revision}, headers={"ETag": _etag(revision)})


async def validate_config(request: web.Request) -> web.Response:
    body = await _json_body(request)
    # What `meshfed validate` does for a file: every problem, then missing files as warnings.
    config, problems = check_config_data(body)
    warnings = [] if config is None else await asyncio.to_thread(missing_files, config)
    report = ValidationReport(
        valid=not problems,
        problems=[ProblemItem(**p.to_dict()) for p in problems],
        warnings=[ProblemItem(**p.to_dict()) for p in warnings],
    )
    return web.json_response(report.model_dump())


async def replace_config(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _json_body(request)
    expect = _expected_revision(request)
    if expect is None:
        current = await ctx.config.revision()
        raise ProblemError(
            428,
            "Precondition required",
            f'replacing the config needs If-Match with its revision: send If-Match: "{current}" '
            "after reading GET /v1/config",
        )
    if isinstance(body, dict):
        body.pop("revision", None)  # read-only, echoed back from GET
    try:
        result = await ctx.config.replace(body, expect)
    except InvalidInputError as exc:
        ctx.metrics.config_rejected.labels("config").inc()
        await _audit(request, "config.replace.rejected", {"problems": len(exc.problems)})
        raise
    except ConflictError as exc:
        await _audit(request, "config.replace.rejected", {"stale_revision": expect})
        raise ProblemError(
            412,
            "Precondition failed",
            f"the config is at revision {exc.actual}, not {exc.expected}: read GET /v1/config "
            "again, reapply your change, and send the new revision in If-Match",
        ) from exc
    ctx.metrics.config_writes.labels("config", "replace").inc()
    changes = {
        "created": list(result.created),
        "updated": list(result.updated),
        "deleted": list(result.deleted),
    }
    await _audit(
        request,
        "config.replace",
        {"before_revision": result.before_revision, "after_revision": result.revision, **changes},
    )
    return web.json_response(
        {"revision": result.revision, **changes}, headers={"ETag": _etag(result.revision)}
    )


async def _audit(request: web.Request, action: str, detail: dict[str, Any]) -> None:
    await context(request).audit.record(
        actor=principal(request).name, action=action, target="config", detail=detail
    )


def config_routes() -> list[Route]:
    if_match = Param("If-Match", "header", "the config revision from GET /v1/config", True)
    return [
        Route(
            "GET",
            "/v1/config",
            get_config,
            "The config in force: the file's global sections and the stored objects, no secrets",
            Role.VIEWER,
            "config",
        ),
        Route(
            "POST",
            "/v1/config:validate",
            validate_config,
            "Dry-run a whole config document with the checks of `meshfed validate`",
            Role.OPERATOR,
            "config",
            response=ValidationReport,
            statuses=(200, 400),
        ),
        Route(
            "PUT",
            "/v1/config",
            replace_config,
            "Replace every cluster, service and policy at once, or change nothing",
            Role.OPERATOR,
            "config",
            params=(if_match,),
            statuses=(200, 400, 412, 428),
        ),
    ]
