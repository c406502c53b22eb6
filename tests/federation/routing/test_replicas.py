"""Two replicas on one store route alike: what one learns, the other applies through the store."""

from __future__ import annotations

from pathlib import Path

from federation.model import Role
from tests.federation.routing.conftest import eventually, resolve, serving
from tests.federation.routing.test_outliers_api import CONFIG, QUERY, health_by_address


async def test_an_ejection_reported_to_one_replica_is_applied_by_the_other(
    tmp_path: Path,
) -> None:
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    async with serving(CONFIG, store_url) as first, serving(CONFIG, store_url) as second:

        async def routed() -> dict[str, str] | None:
            found = await health_by_address(second)
            return found if len(found) == 4 else None

        await eventually(routed, 5, "the second replica routes the discovered endpoints")
        body = {"service": "payments.prod", "endpoint": "127.0.0.2:9443", "outcome": "5xx"}
        status, answer, _ = await first.call(
            "POST", "/v1/outliers", Role.OPERATOR, json={**body, "count": 3}
        )
        assert status == 200, answer

        async def ejected_on_second() -> dict[str, object] | None:
            found = await resolve(second, QUERY)
            endpoints = [e for c in found["levels"][0]["clusters"] for e in c["endpoints"]]
            return (
                found
                if {"address": "127.0.0.2", "port": 9443, "health": "ejected"} in endpoints
                else None
            )

        # Generous: both replicas and their sqlite threads share one loop on a busy machine.
        await eventually(ejected_on_second, 3, "the other replica applies the ejection")
