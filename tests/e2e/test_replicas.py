"""Three ``meshfed serve`` replicas on one real redis-server: one discovery lease holder,
takeover after kill -9 and after a freeze, fenced writes, config fan-out, one audit chain."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from federation.discovery import DiscoveryLoop, Schedule, ScheduledProvider
from federation.leadership import LeaseKeeper
from federation.metrics import Metrics
from federation.registry import ENDPOINTS_PREFIX, Registry
from federation.store import open_store
from providers.base import Endpoint, Role, Snapshot
from tests.e2e.replicas import (
    AUTH,
    SERVICE,
    endpoint_listeners,
    eventually,
    lease_holder_pid,
    put_service,
    replica_set,
    resolve,
    shares,
    stored_value,
    write_replica_config,
)
from tests.e2e.serve_process import ServeProcess, free_port
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e
LEASE_TTL = 3.0
# Another replica polls for the lease every third of the TTL, and its discovery loop looks
# for leadership once a second (FOLLOWER_POLL_SECONDS); the rest is slack for a busy machine.
TAKEOVER_BOUND = LEASE_TTL + LEASE_TTL / 3 + 1.0 + 1.5
AUDIT_VERIFY = (sys.executable, "-m", "federation.cli", "audit", "verify", "--config")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url) as connection:
        yield connection


@pytest.fixture
def replicas(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[ServeProcess]]:
    monkeypatch.setenv("MESHFED_DISCOVERY_LEASE_TTL", f"{LEASE_TTL}s")
    with endpoint_listeners(2) as ports, replica_set(tmp_path, redis_server.url, ports, 3) as rs:
        yield rs


def _holder(client: redis.Redis, replicas: list[ServeProcess]) -> ServeProcess | None:
    pid = lease_holder_pid(client)
    return next((r for r in replicas if r.process.pid == pid), None)


def _discovery_after(client: redis.Redis, moment: float) -> float | None:
    status = stored_value(client, "status/providers/local")
    attempt = None if status is None else status["last_attempt"]
    return attempt if attempt is not None and attempt > moment else None


def _lease_events(replica: ServeProcess) -> list[str]:
    return [
        str(line["message"])
        for line in replica.log_lines()
        if line.get("lease") == "discovery" and line["message"] in ("lease acquired", "lease lost")
    ]


def test_exactly_one_replica_holds_the_lease_and_another_resumes_discovery_after_kill_9(
    replicas: list[ServeProcess], client: redis.Redis
) -> None:
    holder = eventually(lambda: _holder(client, replicas), 10, "a replica takes the lease")
    eventually(lambda: _discovery_after(client, 0), 10, "the holder runs discovery")
    acquired = [r for r in replicas if "lease acquired" in _lease_events(r)]
    assert acquired == [holder]

    killed_at = time.time()
    holder.process.send_signal(signal.SIGKILL)
    holder.process.wait(5)
    survivors = [r for r in replicas if r is not holder]
    successor = eventually(
        lambda: _holder(client, survivors), TAKEOVER_BOUND, "a survivor takes the lease"
    )
    took_over = time.time() - killed_at
    resumed = eventually(
        lambda: _discovery_after(client, killed_at), TAKEOVER_BOUND, "discovery resumes"
    )
    resumed_after = resumed - killed_at
    print(f"\nlease TTL {LEASE_TTL}s: takeover {took_over:.2f}s, discovery {resumed_after:.2f}s")
    assert [r for r in survivors if "lease acquired" in _lease_events(r)] == [successor]
    assert resolve(successor)["pick"] is not None


def test_a_frozen_holder_loses_the_lease_to_another_and_does_not_win_it_back_when_thawed(
    replicas: list[ServeProcess], client: redis.Redis
) -> None:
    holder = eventually(lambda: _holder(client, replicas), 10, "a replica takes the lease")
    holder.process.send_signal(signal.SIGSTOP)
    try:
        others = [r for r in replicas if r is not holder]
        successor = eventually(
            lambda: _holder(client, others), TAKEOVER_BOUND, "another replica takes over"
        )
    finally:
        holder.process.send_signal(signal.SIGCONT)
    eventually(
        lambda: _lease_events(holder)[-1] == "lease lost" or None,
        TAKEOVER_BOUND,
        "the thawed replica notices it lost the lease",
    )
    # Two more renewal periods: the thawed replica must not win it back from a live holder.
    time.sleep(2 * LEASE_TTL / 3)
    assert _holder(client, replicas) is successor
    assert _lease_events(holder) == ["lease acquired", "lease lost"]


class GatedProvider:
    """A provider whose listing blocks until the test lets it finish, like a slow cloud or a
    process paused in the middle of a sync."""

    name = "slow"
    cloud = "static"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def discover(self) -> Snapshot:
        self.started.set()
        self.release.wait(10)
        endpoint = Endpoint(
            "aws-use1", Role.SERVICE, SERVICE, "127.0.0.9", 9443, "aws", "us-east-1"
        )
        return Snapshot(self.name, (endpoint,))


async def test_a_sync_that_outlives_its_lease_is_refused_by_the_store(
    redis_server: RedisServer,
) -> None:
    """The defect this pins: the registry fenced with ``LeaseKeeper.current``, which is None
    once the lease lapses, so a sync begun as holder wrote unfenced after another took over."""
    frozen_store, successor_store = open_store(redis_server.url), open_store(redis_server.url)
    try:
        frozen = LeaseKeeper(frozen_store, "discovery", "frozen", ttl=1.0)
        assert await frozen.try_acquire() is not None
        registry = Registry(frozen_store, ["slow"])
        registry.fence = lambda: frozen.fence
        provider = GatedProvider()
        schedule = Schedule(refresh_interval=60)
        loop = DiscoveryLoop([ScheduledProvider(provider, schedule)], registry, Metrics())
        sync = asyncio.create_task(loop.sync_once("slow"))
        await asyncio.to_thread(provider.started.wait, 5)

        # The holder renews nothing while its sync hangs; once the lease lapses, another wins.
        successor = LeaseKeeper(successor_store, "discovery", "successor", ttl=30.0)
        async with asyncio.timeout(5):
            while await successor.try_acquire() is None:  # noqa: ASYNC110 - polls Redis
                await asyncio.sleep(0.05)
        provider.release.set()
        status = await sync
    finally:
        provider.release.set()
        await frozen_store.close()

    try:
        assert status.last_error_kind == "store", status
        assert "no longer current for 'frozen'" in (status.last_error or "")
        assert await successor_store.list_prefix(ENDPOINTS_PREFIX) == []
    finally:
        await successor_store.close()


def test_a_change_on_one_replica_reaches_another_resolve_within_a_second_p99(
    replicas: list[ServeProcess],
) -> None:
    writer, reader = replicas[0], replicas[2]
    current = requests.get(f"{writer.url}/v1/services/{SERVICE}", headers=AUTH, timeout=5).json()
    latencies = []
    for i in range(100):
        # Each write flips the split, so the old answer can never pass for the new one.
        expected = 20 if i % 2 else 80
        weights = {"aws-use1": expected, "gcp-euw1": 100 - expected}
        body = {"port": 8080, "routing": {"mode": "weighted", "weights": weights}}
        started = time.perf_counter()
        answer = put_service(writer, SERVICE, body, current["revision"])
        assert answer.status_code == 200, answer.text
        current = answer.json()
        eventually(
            lambda: abs(shares(resolve(reader))["aws-use1"] - expected) < 0.5 or None,  # noqa: B023
            5,
            f"write {i} reaches the third replica",
        )
        latencies.append(time.perf_counter() - started)
    cuts = statistics.quantiles(latencies, n=100)
    p50, p99 = statistics.median(latencies), cuts[98]
    print(f"\nfan-out over 100 writes: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    assert p99 < 1.0


def test_replicas_writing_at_once_keep_one_unbroken_audit_chain(
    replicas: list[ServeProcess], tmp_path: Path
) -> None:
    def write(index: int) -> list[int]:
        replica = replicas[index % 3]
        return [
            put_service(replica, f"svc-{index}-{n}.prod", {"port": 8080}).status_code
            for n in range(8)
        ]

    with ThreadPoolExecutor(9) as pool:
        codes = [code for batch in pool.map(write, range(9)) for code in batch]
    assert codes == [201] * 72
    verified = subprocess.run(
        [*AUDIT_VERIFY, str(next(tmp_path.glob("meshfed-*.yaml")))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize(
    ("ttl", "message"),
    [("500ms", "is under 1s"), ("soon", "is not a duration")],
)
def test_serve_refuses_an_unusable_lease_ttl_with_exit_1(
    tmp_path: Path, ttl: str, message: str
) -> None:
    config = write_replica_config(tmp_path, free_port(), "memory://", [1, 2])
    result = subprocess.run(
        [sys.executable, "-m", "federation.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "MESHFED_DISCOVERY_LEASE_TTL": ttl},
    )
    assert result.returncode == 1
    assert "MESHFED_DISCOVERY_LEASE_TTL" in result.stderr
    assert message in result.stderr
