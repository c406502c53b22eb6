"""GET/PUT/DELETE for clusters, services and policies: one handler set for the three kinds."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel, create_model

from federation.api.context import context, principal
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.model import Role
from federation.problems import InvalidInputError, Problem
from federation.resources import (
    KINDS,
    ConflictError,
    Kind,
    NotFoundError,
    PreconditionRequiredError,
    StoredObject,
)

_IF_MATCH = Param(
    "If-Match", "header", "the object's revision as read (required to replace or delete)"
)


def _payload(obj: StoredObject) -> dict[str, Any]:
    return {**obj.spec, "revision": obj.revision, "origin": obj.origin}


def _etag(revision: int) -> str:
    return f'"{revision}"'


def _expected_revision(request: web.Request) -> int | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    text = header.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ProblemError(
            400, "Invalid If-Match", f'If-Match {header!r} is not a revision: send it as "N"'
        )
    return int(text)


def _kind(request: web.Request) -> Kind:
    return KINDS[request.path.split("/")[2]]


async def list_objects(request: web.Request) -> web.Response:
    kind = _kind(request)
    items = await context(request).config.list(kind)
    return web.json_response({"items": [_payload(o) for o in items]})


async def get_object(request: web.Request) -> web.Response:
    kind, name = _kind(request), request.match_info["name"]
    obj = await context(request).config.get(kind, name)
    if obj is None:
        raise ProblemError(404, "Not found", f"no {kind.singular} named {name!r}")
    return web.json_response(_payload(obj), headers={"ETag": _etag(obj.revision)})


async def put_object(request: web.Request) -> web.Response:
    kind, name = _kind(request), request.match_info["name"]
    ctx = context(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            [Problem("", f"the body is not valid JSON: {exc}", "send a JSON object")]
        ) from exc
    if isinstance(body, dict):
        body.pop("revision", None)  # read-only fields a client may echo back
        body.pop("origin", None)
    try:
        result = await ctx.config.put(kind, name, body, _expected_revision(request))
    except InvalidInputError:
        ctx.metrics.config_rejected.labels(kind.section).inc()
        raise
    except PreconditionRequiredError as exc:
        raise ProblemError(428, "Precondition required", str(exc)) from exc
    except ConflictError as exc:
        raise _stale(kind, name, exc) from exc
    assert result.object is not None
    action = "create" if result.before_revision is None else "update"
    await _audit(request, kind, name, action, result.before_revision, result.object.revision)
    status = 201 if action == "create" else 200
    return web.json_response(
        _payload(result.object), status=status, headers={"ETag": _etag(result.object.revision)}
    )


async def delete_object(request: web.Request) -> web.Response:
    kind, name = _kind(request), request.match_info["name"]
    ctx = context(request)
    try:
        result = await ctx.config.delete(kind, name, _expected_revision(request))
    except NotFoundError as exc:
        raise ProblemError(404, "Not found", str(exc)) from exc
    except PreconditionRequiredError as exc:
        raise ProblemError(428, "Precondition required", str(exc)) from exc
    except ConflictError as exc:
        raise _stale(kind, name, exc) from exc
    except InvalidInputError as exc:
        raise ProblemError(
            409,
            "Still referenced",
            f"deleting {kind.singular} {name!r} would leave the config invalid: "
            "remove the references first",
            errors=exc.problems,
        ) from exc
    await _audit(request, kind, name, "delete", result.before_revision, None)
    return web.Response(status=204)


def _stale(kind: Kind, name: str, exc: ConflictError) -> ProblemError:
    return ProblemError(
        412,
        "Precondition failed",
        f"{kind.singular} {name!r} is at revision {exc.actual}, not {exc.expected}: "
        "read it again, reapply your change, and send the new revision in If-Match",
    )


async def _audit(
    request: web.Request,
    kind: Kind,
    name: str,
    action: str,
    before: int | None,
    after: int | None,
) -> None:
    ctx = context(request)
    ctx.metrics.config_writes.labels(kind.section, action).inc()
    await ctx.audit.record(
        actor=principal(request).name,
        action=f"{kind.singular}.{action}",
        target=f"{kind.section}/{name}",
        detail={"before_revision": before, "after_revision": after},
    )


@cache
def stored_model(model: type[BaseModel]) -> type[BaseModel]:
    """The object as the API returns it: its spec plus the read-only store fields."""
    return create_model(
        f"Stored{model.__name__.removesuffix('Spec')}",
        __base__=model,
        revision=(int, ...),
        origin=(str, ...),
    )


def object_routes() -> list[Route]:
    routes: list[Route] = []
    for kind in KINDS.values():
        base = f"/v1/{kind.section}"
        one = f"{base}/{{name}}"
        name = Param("name", "path", f"the {kind.singular}'s name", required=True)
        routes += [
            Route(
                "GET",
                base,
                list_objects,
                f"List {kind.section}",
                Role.VIEWER,
                kind.section,
                response=stored_model(kind.model),
                response_list=True,
            ),
            Route(
                "GET",
                one,
                get_object,
                f"Read one {kind.singular}",
                Role.VIEWER,
                kind.section,
                response=stored_model(kind.model),
                params=(name,),
                statuses=(200, 404),
            ),
            Route(
                "PUT",
                one,
                put_object,
                f"Create or replace a {kind.singular}",
                Role.OPERATOR,
                kind.section,
                body=kind.model,
                response=stored_model(kind.model),
                params=(name, _IF_MATCH),
                statuses=(200, 201, 400, 412, 428),
            ),
            Route(
                "DELETE",
                one,
                delete_object,
                f"Delete a {kind.singular}",
                Role.OPERATOR,
                kind.section,
                params=(name, _IF_MATCH),
                statuses=(204, 404, 409, 412, 428),
            ),
        ]
    return routes
