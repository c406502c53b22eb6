"""docs/api-reference.md is exactly what the generator makes from the routes today."""

from __future__ import annotations

from pathlib import Path

from federation.api.app import api_routes
from federation.api.openapi import build_openapi
from federation.api.reference import render_reference

REFERENCE = Path(__file__).parents[2] / "docs" / "api-reference.md"


def test_the_committed_api_reference_is_current() -> None:
    generated = render_reference(build_openapi(api_routes()))
    assert REFERENCE.read_text() == generated, (
        "docs/api-reference.md is stale: run "
        "`.venv/bin/python -m federation.api.reference > docs/api-reference.md`"
    )


def test_every_route_is_in_the_reference() -> None:
    text = REFERENCE.read_text()
    for route in api_routes():
        assert f"### `{route.method} {route.path}`" in text
