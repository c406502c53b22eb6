"""Redis stops under two ``meshfed serve`` replicas: reads go on from the last snapshot,
writes answer 503, and once Redis is back (AOF on) the replicas resync and no acknowledged
write is lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.replicas import (
    AUTH,
    SERVICE,
    endpoint_listeners,
    eventually,
    put_service,
    replica_set,
    resolve,
    shares,
)
from tests.e2e.serve_process import ServeProcess
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e
# Redis calls give up after about two seconds (federation/store/redis.py); a replica's watch
# retries once a second; the rest is slack for a busy machine.
RECOVERY_DEADLINE = 15.0


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(persistence=True) as server:
        yield server


@pytest.fixture
def replicas(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[ServeProcess]]:
    with endpoint_listeners(2) as ports, replica_set(tmp_path, redis_server.url, ports, 2) as rs:
        yield rs


def _routing(answer: dict[str, Any]) -> dict[str, Any]:
    # The pick is a weighted draw per request; everything else must not move.
    return {key: value for key, value in answer.items() if key != "pick"}


def _ready(replica: ServeProcess) -> bool:
    return requests.get(replica.url + "/readyz", timeout=5).status_code == 200


def _write_round(replicas: list[ServeProcess], tag: str) -> list[str]:
    """One new service per replica; the names that were acknowledged with 201."""
    acknowledged = []
    for index, replica in enumerate(replicas):
        name = f"{tag}-{index}.prod"
        if put_service(replica, name, {"port": 8080}).status_code == 201:
            acknowledged.append(name)
    return acknowledged


def test_replicas_ride_out_a_redis_outage_and_lose_no_acknowledged_write(
    replicas: list[ServeProcess], redis_server: RedisServer
) -> None:
    first, second = replicas
    acknowledged = _write_round(replicas, "before")
    assert len(acknowledged) == 2
    before = [_routing(resolve(r)) for r in replicas]
    assert before[0]["levels"] == before[1]["levels"]

    redis_server.stop()
    for replica, answer in zip(replicas, before, strict=True):
        assert _routing(resolve(replica)) == answer
    refused = put_service(first, "during.prod", {"port": 8080})
    assert refused.status_code == 503
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["title"] == "Store unavailable"
    assert "nothing was written" in problem["detail"]
    assert f"127.0.0.1:{redis_server.port}" in problem["detail"]
    assert not _ready(second)

    redis_server.start()
    for replica in replicas:
        eventually(lambda: _ready(replica) or None, RECOVERY_DEADLINE, "readyz after Redis returns")  # noqa: B023
    acknowledged += _write_round(replicas, "after")
    assert len(acknowledged) == 4

    # The watch resumed: a routing change made on one replica reaches the other's answers.
    current = requests.get(f"{first.url}/v1/services/{SERVICE}", headers=AUTH, timeout=5).json()
    body = {"port": 8080, "routing": {"mode": "weighted", "weights": {"aws-use1": 100}}}
    assert put_service(first, SERVICE, body, current["revision"]).status_code == 200
    eventually(
        lambda: shares(resolve(second)).get("aws-use1") == 100 or None,
        RECOVERY_DEADLINE,
        "the other replica applies a change written after the outage",
    )

    for replica in replicas:
        listed = requests.get(replica.url + "/v1/services", headers=AUTH, timeout=5).json()
        names = {item["name"] for item in listed["items"]}
        assert set(acknowledged) <= names
        assert "during.prod" not in names
