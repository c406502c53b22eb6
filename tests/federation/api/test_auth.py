"""Bearer tokens and roles: viewer < operator < admin; no token, no access."""

from __future__ import annotations

import pytest

from federation.model import Role
from tests.federation.api.conftest import Api

SERVICE = {"name": "orders.prod", "port": 9090}


@pytest.mark.parametrize("path", ["/v1/services", "/v1/clusters/aws-use1", "/v1/endpoints"])
async def test_reads_without_a_token_are_401_with_a_challenge(api: Api, path: str) -> None:
    status, body, response = await api.call("GET", path, role=None)
    assert status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "meshfed token create" in body["detail"]


async def test_unknown_token_is_401(api: Api) -> None:
    status, _, _ = await api.call(
        "GET", "/v1/services", role=None, headers={"Authorization": "Bearer nope"}
    )
    assert status == 401


@pytest.mark.parametrize(
    ("role", "expected"), [(Role.VIEWER, 403), (Role.OPERATOR, 201), (Role.ADMIN, 201)]
)
async def test_writes_need_operator(api: Api, role: Role, expected: int) -> None:
    status, body, _ = await api.call("PUT", "/v1/services/orders.prod", role=role, json=SERVICE)
    assert status == expected
    if expected == 403:
        assert "needs operator" in body["detail"]
        status, _, _ = await api.call("GET", "/v1/services/orders.prod")
        assert status == 404


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
async def test_operational_endpoints_need_no_token(api: Api, path: str) -> None:
    async with api.session.get(api.url(path)) as response:
        assert response.status == 200


async def test_token_created_in_the_store_authenticates(api: Api) -> None:
    token, _ = await api.running.context.tokens.create("robot", Role.VIEWER)
    async with api.session.get(
        api.url("/v1/services"), headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200
    stored = await api.running.context.store.list_prefix("tokens/")
    assert token.encode() not in b"".join(r.value for r in stored)
