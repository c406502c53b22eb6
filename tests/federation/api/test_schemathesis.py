"""Property-based conformance: schemathesis generates requests from /openapi.json (valid and
invalid ones) against a real server, with an admin token. No answer may be a 5xx, and every
answer must be one the document promises: a documented status, its content type, a body that
validates against the schema."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CheckContext, CheckFunction, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from federation.model import Role
from tests.federation.api.conftest import TOKENS, api_config
from tests.support.server_thread import ServerThread


def transport_refusal(response: Response) -> bool:
    """aiohttp's HTTP parser refuses a malformed message (negative mode makes some, such as
    an empty Content-Length) with a text/plain 400 before any application code runs; the API's
    own errors are all problem+json, so this answer is not the API's to describe."""
    return response.status_code == 400 and response.headers.get("content-type", [""])[0].startswith(
        "text/plain"
    )


def api_answers_only(check: CheckFunction) -> CheckFunction:
    def checked(ctx: CheckContext, response: Response, case: schemathesis.Case[Any]) -> bool | None:
        return None if transport_refusal(response) else check(ctx, response, case)

    checked.__name__ = check.__name__
    return checked


CHECKS = [not_a_server_error] + [
    api_answers_only(check)
    for check in (status_code_conformance, content_type_conformance, response_schema_conformance)
]
EXAMPLES_PER_OPERATION = 25
MINIMUM_CASES_PER_MODE = 500


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    # Generated PUT /v1/admin/log-level calls change this process's loggers: put them back.
    manager = logging.getLogger().manager
    levels = {name: logging.getLogger(name).level for name in list(manager.loggerDict)}
    root = logging.getLogger().level
    with ServerThread(api_config()) as running:
        yield running
    logging.getLogger().setLevel(root)
    for name in list(manager.loggerDict):
        logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))


def conformance_failures(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, url: str, ran: list[int]
) -> str | None:
    """Run the operation's generated cases; the first failure, shrunk, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        ran[0] += 1
        case.call_and_validate(
            base_url=url,
            headers={"Authorization": f"Bearer {TOKENS[Role.ADMIN]}"},
            checks=CHECKS,
            timeout=10,
        )

    try:
        run()
    except Unsatisfiable:
        # An operation with no inputs has nothing to make invalid in negative mode.
        return None
    except (AssertionError, FailureGroup) as failure:
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {failure}"
    return None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_answers_conform_to_its_openapi_document(
    server: ServerThread, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    ran = [0]
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation in /openapi.json does not load: {result}"
        failure = conformance_failures(result.ok(), mode, server.url, ran)
        if failure is not None:
            failures.append(failure)
    assert failures == []
    assert ran[0] >= MINIMUM_CASES_PER_MODE, f"only {ran[0]} generated cases ran"
