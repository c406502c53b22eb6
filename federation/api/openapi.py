"""OpenAPI 3.1 for the routes in the table, with schemas from the same pydantic models the
handlers validate with (JSON Schema 2020-12 is OpenAPI 3.1's own dialect)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from federation import __version__
from federation.api.routing import Route

_REF = "#/components/schemas/{model}"

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "message": {"type": "string"},
                    "hint": {"type": "string"},
                },
            },
        },
    },
}


def build_openapi(routes: list[Route]) -> dict[str, Any]:
    models = sorted(
        {m for r in routes for m in (r.body, r.response) if m is not None}, key=lambda m: m.__name__
    )
    refs, top = models_json_schema(
        [(m, "validation") for m in models], ref_template=_REF, by_alias=True
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Problem"] = _PROBLEM
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        ref = {m: refs[(m, "validation")] for m in models}
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "meshfed admin API",
            "version": __version__,
            "description": "Multi-cloud service mesh federation: discovery, routing, trust.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route, refs: dict[type[BaseModel], Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}_{route.path.strip('/').replace('/', '_')}".replace(
            "{", ""
        )
        .replace("}", "")
        .replace(":", "_"),
        "tags": [route.tag],
        "parameters": [
            {
                "name": p.name,
                "in": p.location,
                "required": p.required or p.location == "path",
                "description": p.description,
                "schema": {"type": p.schema_type},
            }
            for p in route.params
        ],
        "responses": {},
    }
    if route.role is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = f"Needs a token with role {route.role.value} or higher."
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[route.body]}},
        }
    for status in route.statuses:
        operation["responses"][str(status)] = _response(route, status, refs)
    problems = {400, 401, 403, 404, 409, 412, 428, 503} & set(route.statuses)
    if route.params or route.body is not None:
        # Whatever takes input can be sent malformed input, and answers 400 for it.
        problems.add(400)
    if route.role is not None:
        problems |= {401, 403}
    for status in sorted(problems):
        operation["responses"][str(status)] = {
            "description": "problem details (RFC 9457)",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
    return operation


def _response(route: Route, status: int, refs: dict[type[BaseModel], Any]) -> dict[str, Any]:
    if status == 304:
        return {"description": "not modified: nothing changed since the version asked about"}
    if status >= 300 or status == 204 or route.response is None:
        return {"description": "done" if status < 300 else "see problem details"}
    schema = refs[route.response]
    if route.response_list:
        schema = {"type": "object", "properties": {"items": {"type": "array", "items": schema}}}
    return {"description": "ok", "content": {"application/json": {"schema": schema}}}
