"""POST /v1/outliers: gateways report outcomes of real traffic; failing endpoints are ejected."""

from __future__ import annotations

import json
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from federation.api.context import context, principal
from federation.api.problem import ProblemError
from federation.api.routing import Route
from federation.config import validation_problems
from federation.model import HostPort, Name, Role
from federation.problems import InvalidInputError, Problem
from federation.routing.outliers import ReportedOutcome, UnknownHostError
from federation.scheduler import UnknownServiceError


class OutlierReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: Name
    endpoint: HostPort = Field(description="the address:port traffic went to")
    outcome: ReportedOutcome
    count: Annotated[int, Field(ge=1, le=10_000)] = 1


class Ejection(BaseModel):
    endpoint: str
    until: float = Field(description="wall-clock seconds since the epoch")
    duration_s: float
    times: int
    reason: str


class OutlierReportResult(BaseModel):
    applied: bool
    detail: str
    ejected: list[Ejection]
    returned: list[str]
    refused: list[str]


async def report_outliers(request: web.Request) -> web.Response:
    service = context(request).outliers
    if service is None:
        raise ProblemError(503, "Not ready", "routing is not running on this replica yet; retry")
    try:
        report = OutlierReport.model_validate(await request.json())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            [Problem("", f"the body is not valid JSON: {exc}", "send a JSON object")]
        ) from exc
    except ValidationError as exc:
        raise InvalidInputError(validation_problems(exc, OutlierReport)) from exc
    try:
        result = await service.report(report.service, report.endpoint, report.outcome, report.count)
    except (UnknownServiceError, UnknownHostError) as exc:
        raise ProblemError(404, "Not found", str(exc)) from exc
    if result.ejected or result.returned:
        # Reports themselves are traffic, too many to audit; what they change is audited.
        await context(request).audit.record(
            actor=principal(request).name,
            action="outlier.eject" if result.ejected else "outlier.return",
            target=f"services/{report.service}",
            detail={
                "ejected": [e["endpoint"] for e in result.ejected],
                "returned": list(result.returned),
            },
        )
    body = OutlierReportResult(
        applied=result.applied,
        detail=result.detail,
        ejected=[Ejection.model_validate(e) for e in result.ejected],
        returned=list(result.returned),
        refused=list(result.refused),
    )
    return web.json_response(body.model_dump(mode="json"), status=200 if result.applied else 202)


def outlier_routes() -> list[Route]:
    return [
        Route(
            "POST",
            "/v1/outliers",
            report_outliers,
            "Report outcomes of traffic to an endpoint; consecutive failures eject it",
            Role.OPERATOR,
            "routing",
            body=OutlierReport,
            response=OutlierReportResult,
            statuses=(200, 202, 400, 404, 503),
        )
    ]
