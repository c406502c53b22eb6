"""``meshfed demo`` runs the lab, fails over, reports the failover time, and leaves nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it exited while we looked
        if text in args:
            found.append(args)
    return found


def test_demo_fails_over_prints_the_failover_time_and_leaves_no_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "federation.cli", "demo", "--duration", "0"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for cluster in ("aws-use1", "gcp-euw1", "azure-weu"):
        assert cluster in out
    # Not a terminal: the traffic shows as plain lines, the phases as notes.
    assert re.search(r"traffic: gcp-euw1 \d+/s 100%, azure-weu 0/s 0%", out)
    assert "* kill -9 the gcp-euw1 gateway" in out
    assert re.search(r"traffic: gcp-euw1 0/s 0%, azure-weu \d+/s 100%", out)
    assert "* traffic back on gcp-euw1" in out
    failover = re.search(r"failover time: (\d+) ms from the kill to the first answer", out)
    assert failover is not None, out
    assert int(failover.group(1)) < 2000
    assert "demo stopped; everything it started is gone" in out
    workdir = re.search(r"logs in (\S+)", out)
    assert workdir is not None
    assert not Path(workdir.group(1)).exists()
    assert processes_mentioning(workdir.group(1)) == []
