"""``meshfed serve`` as a process: durability across kill -9, clean SIGTERM, JSON logs."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from federation.tokens import token_hash
from tests.e2e.serve_process import ServeProcess, free_port, write_config

pytestmark = pytest.mark.e2e
TOKEN = "e2e-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    store = f"sqlite:///{tmp_path / 'state.db'}"
    yield write_config(tmp_path, port, store, token_hash(TOKEN)), port


def test_object_written_just_before_kill_9_is_there_after_restart(
    sqlite_config: tuple[Path, int], tmp_path: Path
) -> None:
    config, port = sqlite_config
    server = ServeProcess(config, port, tmp_path / "serve.log")
    try:
        response = requests.put(
            server.url + "/v1/services/orders.prod",
            json={"name": "orders.prod", "port": 9090},
            headers=AUTH,
            timeout=5,
        )
        assert response.status_code == 201
        revision = response.json()["revision"]
    finally:
        server.kill()
    restarted = ServeProcess(config, port, tmp_path / "serve2.log")
    try:
        again = requests.get(server.url + "/v1/services/orders.prod", headers=AUTH, timeout=5)
        assert again.status_code == 200
        assert again.json()["revision"] == revision
        assert again.json()["port"] == 9090
    finally:
        assert restarted.terminate() == 0


def test_sigterm_lets_a_request_in_flight_finish_then_exits_zero(
    sqlite_config: tuple[Path, int], tmp_path: Path
) -> None:
    config, port = sqlite_config
    server = ServeProcess(config, port, tmp_path / "serve.log")
    results: list[int] = []

    def slow_reads() -> None:
        for _ in range(20):
            try:
                results.append(
                    requests.get(server.url + "/v1/services", headers=AUTH, timeout=5).status_code
                )
            except requests.ConnectionError:
                results.append(-1)
                return

    reader = threading.Thread(target=slow_reads)
    reader.start()
    time.sleep(0.05)
    code = server.terminate()
    reader.join(10)
    assert code == 0
    assert 200 in results
    # Once the listener closes, new connections are refused, never answered with 5xx.
    assert all(status in (200, -1) for status in results)
    messages = [line["message"] for line in server.log_lines()]
    assert "draining" in messages
    assert messages[-1] == "stopped"


def test_every_request_log_line_is_json_with_the_request_id(
    sqlite_config: tuple[Path, int], tmp_path: Path
) -> None:
    config, port = sqlite_config
    server = ServeProcess(config, port, tmp_path / "serve.log")
    try:
        requests.get(
            server.url + "/v1/services", headers={**AUTH, "X-Request-Id": "trace-42"}, timeout=5
        )
    finally:
        server.terminate()
    lines = [line for line in server.log_lines() if line.get("request_id") == "trace-42"]
    assert lines, server.log_path.read_text()
    assert lines[-1]["message"] == "request"
    assert lines[-1]["path"] == "/v1/services"
    assert lines[-1]["status"] == 200
    assert lines[-1]["principal"] == "e2e"


def test_serve_refuses_an_invalid_config_with_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("federation: {name: x, trust_domain: x.mesh}\nclusters: [{name: a}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "federation.cli", "serve", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "clusters[0].cloud" in result.stdout
