"""POST /v1/gateway/denials: mtls gateways report the callers they refused; each is audited.

A gateway merges alike refusals into one entry with a count before sending, so the audit log
grows with distinct refusals, not with the traffic an attacker can generate.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from federation.api.context import context, principal
from federation.api.problem import ProblemError
from federation.api.routing import Route
from federation.api.trust import read_body
from federation.gateway.route_plan import UnknownClusterError
from federation.model import Name, Role
from trust.spiffe_id import parse_spiffe_id

MAX_DENIALS = 500
# Audit actions, one a kind of refusal.
ACTIONS = {"denied": "request.denied", "peer_rejected": "request.peer_rejected"}


def _spiffe_id(value: str) -> str:
    return str(parse_spiffe_id(value))


SpiffeIdText = Annotated[
    str, AfterValidator(_spiffe_id), Field(description="a SPIFFE ID: spiffe://TRUST_DOMAIN/PATH")
]
Seconds = Annotated[float, Field(ge=0, description="wall-clock seconds since the epoch")]


class Denial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    peer_id: SpiffeIdText | None = Field(
        None, description="the caller's verified SPIFFE ID; null when its SVID did not verify"
    )
    service: Name
    kind: Literal["denied", "peer_rejected"] = Field(
        description="denied: policy refused a verified caller; peer_rejected: its SVID failed"
    )
    policy: str | None = Field(None, max_length=253, description="the deny policy, if one")
    reason: Annotated[str, Field(min_length=1, max_length=4096)]
    count: Annotated[int, Field(ge=1, le=2**53)] = 1
    first_seen: Seconds
    last_seen: Seconds

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "denied" and self.peer_id is None:
            raise ValueError(
                "a 'denied' entry needs peer_id: policy only denies a caller whose SVID verified"
            )
        if self.last_seen < self.first_seen:
            raise ValueError(
                f"last_seen {self.last_seen} is before first_seen {self.first_seen}: swap them"
            )
        return self


class DenialReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster: Name = Field(description="the cluster of the reporting gateway")
    denials: Annotated[list[Denial], Field(min_length=1, max_length=MAX_DENIALS)]


class DenialReportResult(BaseModel):
    recorded: int = Field(description="audit records appended, one an entry")


async def report_denials(request: web.Request) -> web.Response:
    report = await read_body(request, DenialReport)
    ctx = context(request)
    known = [c.name for c in (await ctx.config.effective()).clusters]
    if report.cluster not in known:
        raise ProblemError(404, "Not found", str(UnknownClusterError(report.cluster, known)))
    actor = principal(request).name
    for denial in report.denials:
        await ctx.audit.record(
            actor=actor,
            action=ACTIONS[denial.kind],
            target=f"services/{denial.service}",
            detail={
                "peer_id": denial.peer_id,
                "cluster": report.cluster,
                "policy": denial.policy,
                "reason": denial.reason,
                "count": denial.count,
                "first_seen": denial.first_seen,
                "last_seen": denial.last_seen,
            },
        )
    body = DenialReportResult(recorded=len(report.denials))
    return web.json_response(body.model_dump(mode="json"))


def gateway_denial_routes() -> list[Route]:
    return [
        Route(
            "POST",
            "/v1/gateway/denials",
            report_denials,
            "Report callers an mtls gateway refused; each entry becomes an audit record",
            Role.OPERATOR,
            "gateway",
            body=DenialReport,
            response=DenialReportResult,
            statuses=(200, 400, 404),
        )
    ]
