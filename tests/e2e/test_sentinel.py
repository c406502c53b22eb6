"""``meshfed serve`` on a ``redis+sentinel://`` store keeps taking writes when the primary
dies: Sentinel promotes the replica and the store follows it within a bounded window."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests

from tests.e2e.replicas import (
    AUTH,
    FastSentinel,
    endpoint_listeners,
    eventually,
    put_service,
    replica_of,
    replica_set,
)
from tests.e2e.serve_process import ServeProcess
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e
# Sentinel calls the primary down after 500 ms (FastSentinel), then elects and promotes; the
# store's calls give up after about two seconds each. Measured: 1.7 - 1.8 s.
FAILOVER_WINDOW = 15.0


@dataclass
class Topology:
    primary: RedisServer
    replica: RedisServer
    sentinel: FastSentinel


@pytest.fixture
def topology() -> Iterator[Topology]:
    with ExitStack() as stack:
        primary = stack.enter_context(RedisServer(persistence=True))
        replica = stack.enter_context(replica_of(primary))
        sentinel = stack.enter_context(FastSentinel(primary))
        with redis.Redis(port=sentinel.port) as client:
            eventually(
                lambda: _replica_known(client, sentinel.service, replica.port) or None,
                15,
                "Sentinel learns of the replica",
            )
        yield Topology(primary, replica, sentinel)


def _replica_known(client: redis.Redis, service: str, port: int) -> bool:
    replicas = client.sentinel_slaves(service)
    return any(r["port"] == port and r["master-link-status"] == "ok" for r in replicas)


@dataclass
class Writer:
    """PUTs one new service after another and notes which were acknowledged, and when."""

    replica: ServeProcess
    acknowledged: dict[str, float] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            name = f"w{n}.prod"
            n += 1
            try:
                status = put_service(self.replica, name, {"port": 8080}).status_code
            except requests.RequestException:
                status = -1
            if status == 201:
                self.acknowledged[name] = time.monotonic()
            else:
                self.refused[name] = status
            self.stop.wait(0.05)


def test_writes_continue_after_the_primary_is_killed(topology: Topology, tmp_path: Path) -> None:
    with (
        endpoint_listeners(2) as ports,
        replica_set(tmp_path, topology.sentinel.url, ports, 1) as (serve,),
    ):
        writer = Writer(serve)
        thread = threading.Thread(target=writer.run)
        thread.start()
        try:
            eventually(lambda: len(writer.acknowledged) >= 10 or None, 10, "writes flow")
            killed_at = time.monotonic()
            topology.primary.kill()
            eventually(
                lambda: max(writer.acknowledged.values()) > killed_at or None,
                FAILOVER_WINDOW,
                "a write is acknowledged after the primary died",
            )
            resumed = min(t for t in writer.acknowledged.values() if t > killed_at)
            eventually(lambda: len(writer.acknowledged) >= 30 or None, 10, "writes keep flowing")
        finally:
            writer.stop.set()
            thread.join(10)
        print(f"\nSentinel failover: writes resumed {resumed - killed_at:.2f}s after the kill")
        assert set(writer.refused.values()) <= {503}
        listed = requests.get(serve.url + "/v1/services", headers=AUTH, timeout=5).json()
        assert set(writer.acknowledged) <= {item["name"] for item in listed["items"]}
    with redis.Redis(port=topology.replica.port) as promoted:
        assert promoted.info("replication")["role"] == "master"
