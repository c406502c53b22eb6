"""POST /v1/gateway/denials on a real server: each entry becomes a chained audit record."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from federation.api.gateway_denials import MAX_DENIALS, RECORDS_PER_MINUTE
from federation.model import Role
from tests.federation.api.conftest import Api

FRONTEND = "spiffe://acme.mesh/ns/web/sa/frontend"
DENIED = {
    "peer_id": FRONTEND,
    "service": "payments.prod",
    "kind": "denied",
    "policy": "no-web",
    "reason": f"{FRONTEND} -> payments.prod: deny by policy 'no-web'",
    "count": 7,
    "first_seen": 1_790_000_000.5,
    "last_seen": 1_790_000_004.0,
}
REJECTED = {
    "service": "payments.prod",
    "kind": "peer_rejected",
    "reason": "caller's SVID did not verify: SVID spiffe://acme.mesh/x is not trusted",
    "first_seen": 1_790_000_001.0,
    "last_seen": 1_790_000_001.0,
}


OVERFLOW = {
    "service": "payments.prod",
    "kind": "denied",
    "policy": "no-partners",
    "reason": "40 more distinct callers of trust domain partner.example refused alike",
    "count": 95,
    "first_seen": 1_790_000_000.0,
    "last_seen": 1_790_000_001.0,
    "distinct_peers": 40,
    "sample_peer_ids": ["spiffe://partner.example/m/1", "spiffe://partner.example/m/2"],
}


async def audit_records(api: Api) -> list[dict[str, Any]]:
    status, body, _ = await api.call("GET", "/v1/audit?limit=1000")
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]
    return items


async def report(api: Api, body: dict[str, Any], role: Role = Role.OPERATOR) -> Any:
    return await api.call("POST", "/v1/gateway/denials", role, json=body)


async def test_each_reported_denial_becomes_an_audit_record_on_an_intact_chain(api: Api) -> None:
    before = len(await audit_records(api))
    status, body, _ = await report(api, {"cluster": "aws-use1", "denials": [DENIED, REJECTED]})
    assert (status, body) == (200, {"recorded": 2})
    records = await audit_records(api)
    assert len(records) == before + 2
    denied, rejected = records[-2:]
    assert (denied["actor"], denied["action"], denied["target"]) == (
        "operator-user",
        "request.denied",
        "services/payments.prod",
    )
    assert denied["detail"] == {
        "peer_id": FRONTEND,
        "cluster": "aws-use1",
        "policy": "no-web",
        "reason": DENIED["reason"],
        "count": 7,
        "first_seen": 1_790_000_000.5,
        "last_seen": 1_790_000_004.0,
    }
    assert rejected["action"] == "request.peer_rejected"
    assert rejected["detail"]["peer_id"] is None
    assert rejected["detail"]["count"] == 1
    assert rejected["prev_hash"] == denied["hash"]
    assert await api.running.context.audit.verify() == []


async def test_a_viewer_token_may_not_report_denials(api: Api) -> None:
    before = await audit_records(api)
    status, _, _ = await report(api, {"cluster": "aws-use1", "denials": [DENIED]}, Role.VIEWER)
    assert status == 403
    assert await audit_records(api) == before


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        (
            {"cluster": "aws-use1", "denials": [{**DENIED, "peer_id": "spiffe://ACME/x"}]},
            "denials[0].peer_id",
            "lowercase",
        ),
        (
            {"cluster": "aws-use1", "denials": [{**DENIED, "kind": "refused"}]},
            "denials[0].kind",
            "",
        ),
        ({"cluster": "aws-use1", "denials": [{**DENIED, "count": 0}]}, "denials[0].count", ""),
        ({"cluster": "aws-use1", "denials": [{**DENIED, "who": "x"}]}, "denials[0].who", "who"),
        (
            {"cluster": "aws-use1", "denials": [{**DENIED, "peer_id": None}]},
            "denials[0]",
            "peer_id",
        ),
        (
            {"cluster": "aws-use1", "denials": [{**DENIED, "last_seen": 1.0}]},
            "denials[0]",
            "first_seen",
        ),
        ({"cluster": "aws-use1", "denials": [REJECTED] * 501}, "denials", "500"),
        ({"denials": [DENIED]}, "cluster", "cluster"),
        # A bad entry after a good one: nothing of the report is recorded.
        (
            {"cluster": "aws-use1", "denials": [DENIED, {**REJECTED, "last_seen": math.inf}]},
            "denials[1].last_seen",
            "finite",
        ),
        (
            {"cluster": "aws-use1", "denials": [DENIED, {**REJECTED, "first_seen": math.nan}]},
            "denials[1].first_seen",
            "finite",
        ),
        (
            {"cluster": "aws-use1", "denials": [{**DENIED, "first_seen": -1.0}]},
            "denials[0].first_seen",
            "greater than or equal to 0",
        ),
        (
            {"cluster": "aws-use1", "denials": [{**DENIED, "last_seen": time.time() + 7200}]},
            "denials[0].last_seen",
            "clock",
        ),
        (
            {"cluster": "aws-use1", "denials": [DENIED, {**DENIED, "service": "ghost.prod"}]},
            "denials[1].service",
            "ghost.prod",
        ),
        (
            {"cluster": "aws-use1", "denials": [{**OVERFLOW, "peer_id": FRONTEND}]},
            "denials[0]",
            "peer_id null",
        ),
        (
            {"cluster": "aws-use1", "denials": [{**DENIED, "sample_peer_ids": [FRONTEND]}]},
            "denials[0]",
            "distinct_peers",
        ),
    ],
)
async def test_a_bad_report_is_a_400_naming_the_field_and_records_nothing(
    api: Api, body: dict[str, Any], path: str, words: str
) -> None:
    before = await audit_records(api)
    status, problem, response = await report(api, body)
    assert status == 400, problem
    assert response.content_type == "application/problem+json"
    errors: list[dict[str, str]] = problem["errors"]
    assert [e["path"] for e in errors] == [path]
    assert words in errors[0]["message"]
    assert await audit_records(api) == before


async def test_a_report_from_an_unknown_cluster_is_a_404_and_records_nothing(api: Api) -> None:
    before = await audit_records(api)
    status, problem, _ = await report(api, {"cluster": "aws-usw9", "denials": [DENIED]})
    assert status == 404
    assert "aws-usw9" in str(problem["detail"])
    assert await audit_records(api) == before


async def test_an_overflow_entry_is_recorded_with_its_distinct_count_and_samples(api: Api) -> None:
    status, body, _ = await report(api, {"cluster": "aws-use1", "denials": [OVERFLOW]})
    assert (status, body) == (200, {"recorded": 1})
    (record,) = (await audit_records(api))[-1:]
    assert record["action"] == "request.denied"
    assert record["detail"]["peer_id"] is None
    assert (record["detail"]["count"], record["detail"]["distinct_peers"]) == (95, 40)
    assert record["detail"]["sample_peer_ids"] == OVERFLOW["sample_peer_ids"]


async def test_past_a_tokens_records_a_minute_a_report_is_a_429_with_retry_after(api: Api) -> None:
    full = {"cluster": "aws-use1", "denials": [REJECTED] * MAX_DENIALS}
    for _ in range(RECORDS_PER_MINUTE // MAX_DENIALS):
        status, body, _ = await report(api, full)
        assert status == 200, body
    before = await audit_records_count(api)
    status, problem, response = await report(api, full)
    assert status == 429, problem
    assert response.content_type == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "operator-user" in str(problem["detail"])
    assert await audit_records_count(api) == before
    # The allowance is a token's: another token still reports.
    status, body, _ = await report(api, {"cluster": "aws-use1", "denials": [DENIED]}, Role.ADMIN)
    assert (status, body) == (200, {"recorded": 1})


async def audit_records_count(api: Api) -> int:
    """How many records the log holds, paging with next_since (there are thousands here)."""
    count, since = 0, 0
    while True:
        status, body, _ = await api.call("GET", f"/v1/audit?limit=1000&since={since}")
        assert status == 200, body
        items: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]
        if not items:
            return count
        count += len(items)
        since = int(body["next_since"])  # type: ignore[call-overload]
