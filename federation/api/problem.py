"""RFC 9457 problem details: the one error shape of the API."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from federation.problems import Problem

CONTENT_TYPE = "application/problem+json"


class ProblemError(Exception):
    """Raised by handlers; the problem middleware turns it into a response."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        errors: list[Problem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def body(self, instance: str) -> dict[str, Any]:
        slug = self.title.lower().replace(" ", "-")
        return {
            "type": f"https://meshfed.io/problems/{slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "errors": [problem.to_dict() for problem in self.errors],
        }


def problem_response(error: ProblemError, instance: str, request_id: str) -> web.Response:
    headers = {**error.headers, "X-Request-Id": request_id}
    return web.Response(
        status=error.status,
        text=json.dumps(error.body(instance)),
        content_type=CONTENT_TYPE,
        headers=headers,
    )
