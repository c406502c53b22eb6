"""A real meshfed with three clusters and static endpoints, on its own event loop in a thread:
the browser and the CLI call it synchronously, and must not block the loop that serves them."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from federation.model import MeshfedConfig, Role
from tests.federation.api.conftest import CONFIG, TOKENS, api_config
from tests.federation.trust.conftest import init_trust
from tests.support.server_thread import ServerThread

# Fixed static health, so active checks never move the counts; outlier reports are what the
# tests use to take endpoints out.
FEDERATION = CONFIG.replace(
    "routing: {mode: failover, failover: [aws-use1, gcp-euw1]}",
    "routing: {mode: failover, failover: [aws-use1, gcp-euw1]}\n"
    "    outlier_detection: {consecutive_5xx: 1, max_ejection_percent: 100}",
) + "".join(
    [
        "providers:\n  - name: local\n    kind: static\n    endpoints:\n",
        *(
            f"      - {{cluster: {cluster}, service: payments.prod, address: 127.0.0.{i},"
            f" port: 9443, health: healthy}}\n"
            for i, cluster in enumerate(
                ["aws-use1", "aws-use1", "gcp-euw1", "gcp-euw1", "azure-weu"], start=10
            )
        ),
    ]
)
ENDPOINTS = 5


@dataclass
class UiServer(ServerThread):
    config: MeshfedConfig = field(default_factory=lambda: api_config(FEDERATION))

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, role: Role = Role.ADMIN
    ) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {TOKENS[role]}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def eject(self, address: str) -> None:
        """Report a 5xx for an endpoint; with consecutive_5xx 1 it is ejected at once."""
        report = {"service": "payments.prod", "endpoint": address, "outcome": "5xx"}
        result = self.call("POST", "/v1/outliers", report, Role.OPERATOR)
        assert [e["endpoint"] for e in result["ejected"]] == [address], result


def wait_for_endpoints(server: UiServer, count: int, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        clusters = server.call("GET", "/v1/ui/summary", role=Role.VIEWER)["clusters"]
        if sum(c["total"] for c in clusters) == count:
            return
        time.sleep(0.05)
    raise AssertionError(f"discovery did not publish {count} endpoints within {within_s} s")


@pytest.fixture
def server() -> Iterator[UiServer]:
    with UiServer() as running:
        wait_for_endpoints(running, ENDPOINTS)
        yield running


@pytest.fixture
def trusted_server(tmp_path: Path) -> Iterator[UiServer]:
    """The same federation on a sqlite store whose CA `meshfed trust init` has created."""
    text = FEDERATION.replace("store: memory://", f"store: sqlite:///{tmp_path / 'state.db'}")
    config = api_config(text + f"trust: {{kek_file: {tmp_path / 'kek'}}}\n")
    asyncio.run(init_trust(config))
    with UiServer(config) as running:
        wait_for_endpoints(running, ENDPOINTS)
        yield running
