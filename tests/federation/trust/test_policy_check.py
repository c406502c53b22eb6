"""POST /v1/policies:check evaluates the policies in force and the default action."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from federation.model import Role
from tests.federation.api.conftest import Api
from tests.federation.trust.conftest import served, trust_config

SERVICES = [{"name": "payments.prod", "port": 8080}]
POLICIES = [
    {
        "name": "web-to-payments",
        "action": "allow",
        "to": "payments.prod",
        "from": ["spiffe://acme.mesh/ns/web/sa/*"],
    },
    {
        "name": "no-admin-paths",
        "action": "deny",
        "to": "payments.prod",
        "from": ["spiffe://acme.mesh/ns/web/**"],
        "paths": ["/admin*"],
    },
]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with served(
        trust_config(tmp_path, "acme.mesh", policies=POLICIES, services=SERVICES)
    ) as api:
        yield api


@pytest.mark.parametrize(
    ("request_body", "allowed", "policy"),
    [
        (
            {
                "source": "spiffe://acme.mesh/ns/web/sa/frontend",
                "destination": "payments.prod",
                "method": "POST",
                "path": "/pay",
            },
            True,
            "web-to-payments",
        ),
        (  # path unknown (plain TCP): the path-restricted deny applies, failing closed
            {"source": "spiffe://acme.mesh/ns/web/sa/frontend", "destination": "payments.prod"},
            False,
            "no-admin-paths",
        ),
        (
            {
                "source": "spiffe://acme.mesh/ns/web/sa/frontend",
                "destination": "payments.prod",
                "method": "GET",
                "path": "/admin/users",
            },
            False,
            "no-admin-paths",
        ),
        (
            {"source": "spiffe://acme.mesh/ns/batch/sa/job", "destination": "payments.prod"},
            False,
            None,
        ),
        (
            {"source": "spiffe://acme.mesh/ns/batch/sa/job", "destination": "reports.prod"},
            False,
            None,
        ),  # no policy targets it: authorization.default_action (deny)
    ],
)
async def test_decisions_follow_the_policies_in_force(
    api: Api, request_body: dict[str, str], allowed: bool, policy: str | None
) -> None:
    status, body, _ = await api.call(
        "POST", "/v1/policies:check", role=Role.VIEWER, json=request_body
    )
    assert status == 200, body
    assert (body["allowed"], body["policy"]) == (allowed, policy)
    assert request_body["destination"] in str(body["reason"])


async def test_a_policy_written_through_the_api_takes_effect(api: Api) -> None:
    source = {"source": "spiffe://acme.mesh/ns/batch/sa/job", "destination": "payments.prod"}
    spec = {"action": "allow", "to": "payments.prod", "from": ["spiffe://acme.mesh/ns/batch/**"]}
    status, _, _ = await api.call("PUT", "/v1/policies/batch-to-payments", json=spec)
    assert status in (200, 201)
    _, body, _ = await api.call("POST", "/v1/policies:check", role=Role.VIEWER, json=source)
    assert (body["allowed"], body["policy"]) == (True, "batch-to-payments")


async def test_a_malformed_source_is_a_400_problem(api: Api) -> None:
    status, body, _ = await api.call(
        "POST",
        "/v1/policies:check",
        role=Role.VIEWER,
        json={"source": "spiffe://ACME/x", "destination": "payments.prod"},
    )
    assert status == 400
    assert body["errors"][0]["path"] == "source"  # type: ignore[index]


async def test_policy_check_needs_a_token(api: Api) -> None:
    status, _, _ = await api.call(
        "POST", "/v1/policies:check", role=None, json={"source": "x", "destination": "y"}
    )
    assert status == 401
