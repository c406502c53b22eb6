"""The API reference in Markdown, generated from the OpenAPI document (docs/api-reference.md).

    python -m federation.api.reference > docs/api-reference.md

A test regenerates it and fails when the committed file is stale.
"""

from __future__ import annotations

from typing import Any

from federation.api.app import api_routes
from federation.api.openapi import build_openapi

_METHODS = ("get", "put", "post", "delete")


def render_reference(spec: dict[str, Any]) -> str:
    lines = [
        "# Admin API reference",
        "",
        "Generated from `/openapi.json` by `python -m federation.api.reference`; do not edit.",
        "The guide is [api.md](api.md).",
        "",
    ]
    schemas: dict[str, Any] = spec["components"]["schemas"]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in spec["paths"].items():
        for method in _METHODS:
            if method in operations:
                operation = operations[method]
                by_tag.setdefault(operation["tags"][0], []).append((method, path, operation))
    for tag, operations in by_tag.items():
        lines += [f"## {tag}", ""]
        for method, path, operation in operations:
            lines += _operation(method, path, operation, schemas)
    return "\n".join(lines).rstrip() + "\n"


def _operation(
    method: str, path: str, operation: dict[str, Any], schemas: dict[str, Any]
) -> list[str]:
    access = operation.get("description") or "No token needed."
    lines = [f"### `{method.upper()} {path}`", "", operation["summary"] + ".", "", access, ""]
    if operation["parameters"]:
        lines += ["| parameter | in | required | description |", "|---|---|---|---|"]
        for p in operation["parameters"]:
            required = "yes" if p["required"] else "no"
            lines.append(f"| `{p['name']}` | {p['in']} | {required} | {p['description']} |")
        lines.append("")
    body = operation.get("requestBody")
    if body is not None:
        ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        fields = ", ".join(f"`{name}`" for name in schemas[ref].get("properties", {}))
        lines += [f"Body: `{ref}` — {fields}.", ""]
    lines += ["| status | meaning |", "|---|---|"]
    for status, response in operation["responses"].items():
        lines.append(f"| {status} | {response['description']} |")
    lines.append("")
    return lines


def main() -> None:
    print(render_reference(build_openapi(api_routes())), end="")


if __name__ == "__main__":
    main()
