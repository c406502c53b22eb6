"""/ui serves the packaged page with a strict Content-Security-Policy and nothing else from the
package; /v1/ui/summary counts each cluster's healthy endpoints as the scheduler sees them."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from federation.model import Role
from tests.federation.ui.conftest import ServerThread


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.parametrize(
    ("path", "kind", "marker"),
    [
        ("/ui", "text/html", b"meshfed dashboard"),
        ("/ui/dashboard.js", "text/javascript", b"POLL_MS"),
        ("/ui/dashboard.css", "text/css", b"prefers-color-scheme"),
        ("/ui/favicon.svg", "image/svg+xml", b"<svg"),
    ],
)
def test_page_and_assets_are_served_without_a_token_and_load_only_from_this_origin(
    server: ServerThread, path: str, kind: str, marker: bytes
) -> None:
    status, headers, body = fetch(server.url + path)
    assert status == 200
    assert headers["Content-Type"].startswith(kind)
    assert marker in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]


@pytest.mark.parametrize("name", ["__init__.py", "..%2F..%2Fservice.py", "missing.js"])
def test_only_the_dashboard_files_are_served(server: ServerThread, name: str) -> None:
    status, headers, body = fetch(f"{server.url}/ui/{name}")
    assert status == 404
    assert headers["Content-Type"].startswith("application/problem+json")
    assert b"no dashboard file" in body or b"no such resource" in body


def test_summary_needs_a_token(server: ServerThread) -> None:
    status, _, _ = fetch(server.url + "/v1/ui/summary")
    assert status == 401


def test_summary_counts_ejected_endpoints_out_and_names_the_callers_role(
    server: ServerThread,
) -> None:
    server.eject("127.0.0.12:9443")
    body = server.call("GET", "/v1/ui/summary", role=Role.VIEWER)
    counts = {c["name"]: (c["healthy"], c["total"]) for c in body["clusters"]}
    assert counts == {"aws-use1": (2, 2), "gcp-euw1": (1, 2), "azure-weu": (1, 1)}
    gcp = next(c for c in body["clusters"] if c["name"] == "gcp-euw1")
    assert (gcp["lat"], gcp["lon"]) == pytest.approx((50.47, 3.82), abs=0.01)
    assert body["services"] == ["payments.prod"]
    assert body["role"] == "viewer"
    assert body["trust_initialized"] is False
