"""Running checkov on the modules, once per test session, all modules side by side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.layout import REPO

CHECKOV_TIMEOUT_S = 180


@dataclass(frozen=True, slots=True)
class CheckovReport:
    summary: dict[str, Any]
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    passed: list[dict[str, Any]]


def find_checkov() -> str | None:
    """$CHECKOV, then the project's own checkov venv, then PATH. checkov pins boto3 and
    friends below what meshfed needs, so it lives in a venv of its own (.venv-checkov)."""
    candidates = [os.environ.get("CHECKOV"), str(REPO / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("checkov")


def scan(checkov: str, directories: list[Path]) -> dict[Path, CheckovReport]:
    """Scan every directory in its own process, concurrently; fail loudly on a crash."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    env.pop("BC_API_KEY", None)
    processes = {
        directory: subprocess.Popen(
            # Not --quiet: it drops the passed and skipped checks the tests look at.
            [checkov, "-d", str(directory), "--framework", "terraform", "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for directory in directories
    }
    reports = {}
    for directory, process in processes.items():
        try:
            out, err = process.communicate(timeout=CHECKOV_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for other in processes.values():
                other.kill()
            raise
        # checkov exits 1 when a check fails; anything else is a crash.
        if process.returncode not in (0, 1):
            raise RuntimeError(f"checkov on {directory} exited {process.returncode}: {err[-2000:]}")
        reports[directory] = _report(json.loads(out))
    return reports


def _report(document: Any) -> CheckovReport:
    # One framework gives one object; checkov wraps several in a list.
    if isinstance(document, list):
        (document,) = document
    # With no resource to check, checkov prints the bare summary.
    if "summary" not in document:
        return CheckovReport(summary=document, failed=[], skipped=[], passed=[])
    results = document.get("results", {})
    return CheckovReport(
        summary=document["summary"],
        failed=results.get("failed_checks", []),
        skipped=results.get("skipped_checks", []),
        passed=results.get("passed_checks", []),
    )
