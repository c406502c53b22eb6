"""POST /v1/policies:check: what the policies in force decide for one request."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from federation.api.context import context
from federation.api.routing import Route
from federation.api.trust import read_body
from federation.model import MeshfedConfig, Role
from federation.problems import InvalidInputError, Problem
from trust.policy import Policy, evaluate
from trust.spiffe_id import InvalidSpiffeIdError, parse_spiffe_id


class PolicyCheckRequest(BaseModel):
    source: str
    destination: str
    method: str | None = None
    path: str | None = None


class PolicyCheckResponse(BaseModel):
    allowed: bool
    policy: str | None
    reason: str


def policies_in_force(config: MeshfedConfig) -> list[Policy]:
    return [
        Policy.build(p.name, p.action, p.to, p.from_, p.methods, p.paths) for p in config.policies
    ]


async def check_policies(request: web.Request) -> web.Response:
    body = await read_body(request, PolicyCheckRequest)
    try:
        source = parse_spiffe_id(body.source)
    except InvalidSpiffeIdError as exc:
        raise InvalidInputError([Problem("source", str(exc), exc.fix)]) from exc
    config = await context(request).config.effective()
    decision = evaluate(
        policies_in_force(config),
        source,
        body.destination,
        body.method,
        body.path,
        default=config.authorization.default_action,
    )
    answer = PolicyCheckResponse(
        allowed=decision.allowed, policy=decision.policy_name, reason=decision.reason
    )
    return web.json_response(answer.model_dump())


def policy_check_routes() -> list[Route]:
    return [
        Route(
            "POST",
            "/v1/policies:check",
            check_policies,
            "Decide whether SOURCE (a SPIFFE ID) may call DESTINATION (a service)",
            Role.VIEWER,
            "policies",
            body=PolicyCheckRequest,
            response=PolicyCheckResponse,
            statuses=(200, 400),
        )
    ]
