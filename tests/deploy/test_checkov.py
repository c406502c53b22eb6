"""checkov finds nothing to fix in the modules, and every check it skips says why in the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.checkov_scan import CheckovReport
from tests.deploy.layout import CONFIG_MODULE, MODULES, module_dir, tf_files

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+)(?::(?P<reason>.*))?$")


@pytest.mark.parametrize("cloud", MODULES)
def test_checkov_scans_the_module_and_fails_no_check(
    cloud: str, checkov_reports: dict[Path, CheckovReport]
) -> None:
    report = checkov_reports[module_dir(cloud)]
    assert report.summary["parsing_errors"] == 0
    assert report.summary["resource_count"] >= 10, "checkov saw too few resources to mean much"
    assert len(report.passed) == report.summary["passed"] > 0, "checkov ran no check"
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report.failed]
    assert not failed, "\n".join(failed)


def test_checkov_parses_meshfed_config_and_fails_no_check(
    checkov_reports: dict[Path, CheckovReport],
) -> None:
    report = checkov_reports[CONFIG_MODULE]
    assert report.summary["parsing_errors"] == 0
    # It only renders the config: a resource here would escape the cloud modules' checks.
    assert report.summary["resource_count"] == 0
    assert report.summary["failed"] == 0 and not report.failed


@pytest.mark.parametrize("cloud", MODULES)
def test_every_check_checkov_skips_is_skipped_in_the_code_with_a_reason(
    cloud: str, checkov_reports: dict[Path, CheckovReport]
) -> None:
    written: dict[str, set[str]] = {}
    for path in tf_files(module_dir(cloud)):
        for line in path.read_text(encoding="utf-8").splitlines():
            if match := SKIP_COMMENT.search(line.strip()):
                written.setdefault(match["id"], set()).add((match["reason"] or "").strip())
    report = checkov_reports[module_dir(cloud)]
    assert len(report.skipped) == report.summary["skipped"]
    for check in report.skipped:
        reason = str(check["check_result"].get("suppress_comment", "")).strip()
        where = f"{check['check_id']} on {check['resource']}"
        assert reason in written.get(check["check_id"], set()), f"{where}: skip not in the code"
        assert len(reason.split()) >= 5, f"{where} is skipped without a real reason"


def test_skip_comments_carry_reasons_everywhere() -> None:
    for path in tf_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "checkov:skip" in line:
                match = SKIP_COMMENT.search(line.strip())
                assert match and len((match["reason"] or "").split()) >= 5, f"{path}:{number}"
