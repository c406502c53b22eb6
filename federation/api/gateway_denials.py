"""POST /v1/gateway/denials: mtls gateways report the callers they refused; each is audited.

A gateway merges alike refusals into one entry with a count, and past a bound of distinct
callers a batch folds the rest of one trust domain into an overflow entry, so a report's size
follows the services, policies and trust domains involved rather than the IDs a partner can
mint. The log still grows with every report, so each principal has an allowance of records a
minute (429 beyond it). A report is validated whole and appended in one store write: all of its
entries are recorded, or none.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Self

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from federation.api.context import context, principal
from federation.api.problem import ProblemError
from federation.api.record_budget import RecordBudget
from federation.api.routing import Handler, Route
from federation.api.trust import read_body
from federation.audit_log import AuditEntry
from federation.gateway.control_plane import MAX_SAMPLE_PEER_IDS
from federation.gateway.route_plan import UnknownClusterError
from federation.model import Name, Role
from federation.problems import InvalidInputError, Problem
from trust.spiffe_id import parse_spiffe_id

MAX_DENIALS = 500
# Audit records one token may add through this endpoint a minute: twelve full reports.
RECORDS_PER_MINUTE = 6000
# A gateway's clock may run ahead of this server's by this much; later times are refused.
CLOCK_SKEW_ALLOWANCE = 3600.0
# Audit actions, one a kind of refusal.
ACTIONS = {"denied": "request.denied", "peer_rejected": "request.peer_rejected"}


def _spiffe_id(value: str) -> str:
    return str(parse_spiffe_id(value))


def _not_in_the_future(seconds: float) -> float:
    latest = time.time() + CLOCK_SKEW_ALLOWANCE
    if seconds > latest:
        raise ValueError(
            f"{seconds} is more than {CLOCK_SKEW_ALLOWANCE:g}s after this server's clock "
            f"({latest - CLOCK_SKEW_ALLOWANCE:.0f}): send wall-clock seconds since the epoch, "
            "and check the gateway's clock"
        )
    return seconds


SpiffeIdText = Annotated[
    str, AfterValidator(_spiffe_id), Field(description="a SPIFFE ID: spiffe://TRUST_DOMAIN/PATH")
]
Seconds = Annotated[
    float,
    Field(ge=0, allow_inf_nan=False, description="wall-clock seconds since the epoch"),
    AfterValidator(_not_in_the_future),
]


class Denial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    peer_id: SpiffeIdText | None = Field(
        None,
        description="the caller's verified SPIFFE ID; null when its SVID did not verify, or on "
        "an overflow entry",
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
    distinct_peers: Annotated[int, Field(ge=1, le=2**53)] | None = Field(
        None,
        description="set on an overflow entry: how many distinct callers (for peer_rejected, "
        "distinct reasons) the gateway folded into it",
    )
    sample_peer_ids: Annotated[list[SpiffeIdText], Field(max_length=MAX_SAMPLE_PEER_IDS)] = Field(
        default_factory=list, description="on an overflow entry: a few of the callers it folds"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        overflow = self.distinct_peers is not None
        if overflow and self.peer_id is not None:
            raise ValueError(
                "an overflow entry (distinct_peers set) stands for many callers: leave peer_id "
                "null and list a few in sample_peer_ids"
            )
        if self.sample_peer_ids and not overflow:
            raise ValueError("sample_peer_ids belongs to an overflow entry: set distinct_peers")
        if self.kind == "denied" and self.peer_id is None and not overflow:
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


def _audit_entry(actor: str, cluster: str, denial: Denial) -> AuditEntry:
    detail: dict[str, Any] = {
        "peer_id": denial.peer_id,
        "cluster": cluster,
        "policy": denial.policy,
        "reason": denial.reason,
        "count": denial.count,
        "first_seen": denial.first_seen,
        "last_seen": denial.last_seen,
    }
    if denial.distinct_peers is not None:
        detail["distinct_peers"] = denial.distinct_peers
        detail["sample_peer_ids"] = denial.sample_peer_ids
    return AuditEntry(actor, ACTIONS[denial.kind], f"services/{denial.service}", detail)


def _unknown_services(report: DenialReport, known: set[str]) -> list[Problem]:
    names = ", ".join(sorted(known)) or "none"
    return [
        Problem(
            f"denials[{i}].service",
            f"service {denial.service!r} is not in the config (services: {names})",
            "report refusals for configured services; a gateway whose routes are stale "
            "catches up on its next config poll",
        )
        for i, denial in enumerate(report.denials)
        if denial.service not in known
    ]


def report_denials_handler(budget: RecordBudget) -> Handler:
    async def report_denials(request: web.Request) -> web.Response:
        report = await read_body(request, DenialReport)
        ctx = context(request)
        config = await ctx.config.effective()
        known = [c.name for c in config.clusters]
        if report.cluster not in known:
            raise ProblemError(404, "Not found", str(UnknownClusterError(report.cluster, known)))
        if problems := _unknown_services(report, {s.name for s in config.services}):
            raise InvalidInputError(problems)
        actor = principal(request).name
        wait = budget.take(actor, len(report.denials))
        if wait is not None:
            raise ProblemError(
                429,
                "Too many requests",
                f"token {actor!r} may add {budget.per_minute} denial records a minute; this "
                f"report of {len(report.denials)} would exceed it: retry after {wait}s",
                headers={"Retry-After": str(wait)},
            )
        entries = [_audit_entry(actor, report.cluster, denial) for denial in report.denials]
        await ctx.audit.record_many(entries)
        body = DenialReportResult(recorded=len(entries))
        return web.json_response(body.model_dump(mode="json"))

    return report_denials


def gateway_denial_routes(records_per_minute: int = RECORDS_PER_MINUTE) -> list[Route]:
    budget = RecordBudget(records_per_minute)
    return [
        Route(
            "POST",
            "/v1/gateway/denials",
            report_denials_handler(budget),
            "Report callers an mtls gateway refused; each entry becomes an audit record, all "
            "or none",
            Role.OPERATOR,
            "gateway",
            body=DenialReport,
            response=DenialReportResult,
            statuses=(200, 400, 404, 429),
        )
    ]
