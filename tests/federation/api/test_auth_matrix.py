"""Every route in the table against every kind of caller: no token and an unknown token get
401, a role below the route's gets 403, and the route's role or higher is never refused by
authorization. The table is read from the built app, so a new route is covered without an edit
here."""

from __future__ import annotations

import re

import pytest

from federation.api.app import build_app
from federation.api.context import ApiContext
from federation.api.routing import Route, all_routes
from federation.audit_log import AuditLog
from federation.metrics import Metrics
from federation.model import Role
from federation.resources import ConfigState
from federation.store import open_store
from federation.tokens import Principal, TokenRegistry
from tests.federation.api.conftest import Api, api_config

NO_TOKEN = "no token"
UNKNOWN_TOKEN = "unknown token"
CALLERS: list[Role | str] = [NO_TOKEN, UNKNOWN_TOKEN, Role.VIEWER, Role.OPERATOR, Role.ADMIN]

# Names the test config defines, so reads find something and nothing fails before auth matters.
PATH_VALUES = {"clusters": "aws-use1", "services": "payments.prod", "policies": "web-to-payments"}
QUERY_VALUES = {"cluster": "aws-use1", "service": "payments.prod"}


def bare_context() -> ApiContext:
    """What the API needs over a memory store, without the rest of ``serve``: for tests that
    build the app themselves."""
    store = open_store("memory://")
    metrics = Metrics()
    config = api_config()
    return ApiContext(
        store=store,
        config=ConfigState(store, config),
        tokens=TokenRegistry(store, config.api.tokens),
        audit=AuditLog(store, metrics),
        metrics=metrics,
    )


def route_table() -> list[Route]:
    return all_routes(build_app(bare_context()))


def concrete_path(route: Route) -> str:
    def value(match: re.Match[str]) -> str:
        collection = route.path.split("/")[2] if route.path.startswith("/v1/") else ""
        return PATH_VALUES.get(collection, "x")

    path = re.sub(r"\{[^}]+\}", value, route.path)
    query = [
        f"{p.name}={QUERY_VALUES.get(p.name, 'x')}"
        for p in route.params
        if p.location == "query" and p.required
    ]
    return path + ("?" + "&".join(query) if query else "")


def headers_for(api: Api, caller: Role | str) -> dict[str, str]:
    if caller == NO_TOKEN:
        return {}
    if caller == UNKNOWN_TOKEN:
        return {"Authorization": "Bearer not-a-token-anyone-holds"}
    assert isinstance(caller, Role)
    return api.auth(caller)


def expected_refusal(route: Route, caller: Role | str) -> int | None:
    """The status authorization must answer with, or None when it must let the call through."""
    if route.role is None:
        return None
    if not isinstance(caller, Role):
        return 401
    return None if Principal("caller", caller).may(route.role) else 403


async def call(api: Api, route: Route, caller: Role | str) -> tuple[int, str]:
    async with api.session.request(
        route.method,
        api.url(concrete_path(route)),
        headers=headers_for(api, caller),
        json={} if route.body is not None else None,
    ) as response:
        return response.status, await response.text()


def test_the_table_has_routes_for_every_role() -> None:
    roles = {route.role for route in route_table()}
    assert roles >= {None, Role.VIEWER, Role.OPERATOR, Role.ADMIN}


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_every_route_answers_each_caller_as_its_role_demands(
    api: Api, caller: Role | str
) -> None:
    mismatches: list[str] = []
    unauthorized_successes: list[str] = []
    for route in route_table():
        status, body = await call(api, route, caller)
        expected = expected_refusal(route, caller)
        label = f"{route.method} {route.path} as {caller}: {status}"
        if expected is not None:
            if status != expected:
                mismatches.append(f"{label}, expected {expected} ({body[:160]})")
            if status < 400:
                unauthorized_successes.append(label)
        elif route.role is not None and status in (401, 403):
            mismatches.append(f"{label}, expected no refusal at role {route.role.value}")
        elif route.role is None and status == 401 and "token create" in body:
            # An open route may refuse a bad proof itself, but never ask for a bearer token.
            mismatches.append(f"{label}: an open route asked for a bearer token")
    assert unauthorized_successes == []
    assert mismatches == []
