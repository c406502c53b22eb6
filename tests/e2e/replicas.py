"""Several ``meshfed serve`` processes on one Redis, and what the tests read from them."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import redis
import requests

from federation.tokens import token_hash
from tests.e2e.serve_process import ServeProcess, free_port
from tests.support.redis_server import RedisSentinel, RedisServer

TOKEN = "e2e-replicas-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVICE = "payments.prod"
RESOLVE = {"service": SERVICE, "client_region": "aws:us-east-1"}
# Redis keys as federation/store/redis.py lays them out (namespace "meshfed").
LEASE_KEY = "{meshfed}:lease:discovery"
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``probe`` until it answers something other than None, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.02)


@contextmanager
def endpoint_listeners(count: int) -> Iterator[list[int]]:
    """Listening sockets for the static endpoints, so TCP health checks find them up (the
    kernel completes the handshake from the backlog; nothing needs to accept)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            sockets.append(sock)
        yield [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_replica_config(directory: Path, port: int, store: str, endpoints: Sequence[int]) -> Path:
    """One service served by two clusters (one static endpoint each), weighted 50/50."""
    aws, gcp = endpoints
    path = directory / f"meshfed-{port}.yaml"
    path.write_text(
        f"""
federation: {{name: e2e, trust_domain: e2e.mesh}}
store: {store}
api:
  listen: 127.0.0.1:{port}
  drain_timeout: 2s
  tokens: [{{name: e2e, role: operator, sha256: "{token_hash(TOKEN)}"}}]
clusters:
  - {{name: aws-use1, cloud: aws, region: us-east-1}}
  - {{name: gcp-euw1, cloud: gcp, region: europe-west1}}
providers:
  - name: local
    kind: static
    refresh_interval: 1s
    endpoints:
      - {{cluster: aws-use1, service: {SERVICE}, address: 127.0.0.1, port: {aws}}}
      - {{cluster: gcp-euw1, service: {SERVICE}, address: 127.0.0.1, port: {gcp}}}
services:
  - name: {SERVICE}
    port: 8080
    routing: {{mode: weighted, weights: {{aws-use1: 50, gcp-euw1: 50}}}}
"""
    )
    return path


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


@contextmanager
def replica_set(
    directory: Path, store: str, endpoints: Sequence[int], count: int
) -> Iterator[list[ServeProcess]]:
    """``count`` replicas started in parallel, each on its own port; killed afterwards."""

    def start(index: int) -> ServeProcess:
        port = free_port()
        config = write_replica_config(directory, port, store, endpoints)
        return ServeProcess(config, port, directory / f"replica-{index}.log")

    with ThreadPoolExecutor(count) as pool:
        replicas = list(pool.map(start, range(count)))
    try:
        yield replicas
    finally:
        for replica in replicas:
            if replica.process.poll() is None:
                replica.kill()


def lease_holder_pid(client: redis.Redis) -> int | None:
    """The pid in the discovery lease's holder (``host:pid``), or None while nobody holds it."""
    holder, expires_ms = (_text(v) for v in client.hmget(LEASE_KEY, ["holder", "expires_ms"]))
    if not holder or int(expires_ms) <= time.time() * 1000:
        return None
    return int(holder.rpartition(":")[2])


def stored_value(client: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = client.hget("{meshfed}:kv:" + key, "v")
    return None if raw is None else dict(json.loads(raw))


def resolve(replica: ServeProcess) -> dict[str, Any]:
    response = requests.get(replica.url + "/v1/resolve", params=RESOLVE, headers=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    return dict(response.json())


def shares(answer: dict[str, Any]) -> dict[str, float]:
    return {c["name"]: c["share_percent"] for lvl in answer["levels"] for c in lvl["clusters"]}


def put_service(
    replica: ServeProcess, name: str, body: dict[str, Any], revision: int | None = None
) -> requests.Response:
    headers = dict(AUTH) if revision is None else {**AUTH, "If-Match": f'"{revision}"'}
    return requests.put(
        f"{replica.url}/v1/services/{name}", json={"name": name, **body}, headers=headers, timeout=5
    )


class FastSentinel(RedisSentinel):
    """A Sentinel that calls the primary down after 500 ms, so a failover fits in a test."""

    def _command(self) -> list[str]:
        command = super()._command()
        config = self._dir / "sentinel.conf"
        text = config.read_text()
        if "down-after-milliseconds" not in text:
            config.write_text(
                text
                + f"sentinel down-after-milliseconds {self.service} 500\n"
                + f"sentinel failover-timeout {self.service} 3000\n"
            )
        return command


def replica_of(primary: RedisServer) -> RedisServer:
    return RedisServer(persistence=True, extra_args=("--replicaof", "127.0.0.1", str(primary.port)))
