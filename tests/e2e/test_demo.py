"""``meshfed demo`` runs a local federation, shows it, and exits cleanly by itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_serves_tours_and_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "federation.cli", "demo", "--duration", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "serving the admin API at http://127.0.0.1:" in out
    for cluster in ("aws-use1", "gcp-euw1", "azure-weu"):
        assert cluster in out
    assert "PUT /v1/services/orders.prod -> 201" in out
    assert "a bad write is refused (400): routing.weights.aws-usw2" in out
    assert "demo stopped" in out
