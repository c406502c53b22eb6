"""`meshfed status` against a running server, and its rendering of what only some servers have."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from federation.cli import main
from federation.model import Role
from federation.status_command import StatusReport, render
from tests.federation.api.conftest import TOKENS
from tests.federation.ui.conftest import UiServer


def run_status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["status", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_shows_cluster_health_services_and_provider_sync(
    server: UiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.eject("127.0.0.10:9443")
    code, out, _ = run_status(capsys, "--server", server.url, "--token", TOKENS[Role.VIEWER])
    assert code == 0
    lines = out.splitlines()
    assert any("aws-use1" in line and "aws:us-east-1" in line and "1/2" in line for line in lines)
    assert any("gcp-euw1" in line and "2/2" in line for line in lines)
    assert any("payments.prod" in line and "8080" in line and "failover" in line for line in lines)
    assert any("local" in line and "static" in line and "fresh" in line for line in lines)
    assert "no CA yet" in out


def test_status_shows_the_ca_expiries_of_a_server_with_a_ca(
    trusted_server: UiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    token = TOKENS[Role.VIEWER]
    code, out, _ = run_status(capsys, "--server", trusted_server.url, "--token", token)
    assert code == 0
    row = next(line for line in out.splitlines() if "acme.mesh" in line)
    assert "stable" in row and "#1" in row
    assert row.count("(365d)") + row.count("(364d)") == 2


def test_status_reads_the_token_from_the_environment(
    server: UiServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHFED_TOKEN", TOKENS[Role.VIEWER])
    code, out, _ = run_status(capsys, "--server", server.url)
    assert code == 0
    assert "azure-weu" in out


def test_status_without_a_token_says_how_to_get_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MESHFED_TOKEN", raising=False)
    code, _, err = run_status(capsys, "--server", "http://127.0.0.1:9")
    assert code == 1
    assert "MESHFED_TOKEN" in err and "meshfed token create" in err


def test_status_names_the_server_it_could_not_reach(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_status(capsys, "--server", "http://127.0.0.1:9", "--token", "t")
    assert code == 1
    assert "http://127.0.0.1:9/v1/" in err and "meshfed serve is running" in err


def test_status_with_a_refused_token_reports_the_servers_answer(
    server: UiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_status(capsys, "--server", server.url, "--token", "nobody")
    assert code == 1
    assert "answered 401" in err and "not known" in err


def test_status_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    assert "meshfed status --server http://" in capsys.readouterr().out


def test_trust_expiries_are_shown_per_domain_and_an_expired_one_says_so() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    trust = {
        "trust_domains": [
            {
                "trust_domain": "acme.mesh",
                "phase": "stable",
                "bundle_sequence": 4,
                "root_expires_at": "2036-06-01T00:00:00+00:00",
                "intermediate_expires_at": "2026-05-30T00:00:00+00:00",
            }
        ],
        "foreign": [{"trust_domain": "partner.mesh", "status": "error"}],
    }
    report = StatusReport({"clusters": []}, [], [], trust)
    console = Console(record=True, width=160, color_system=None)
    console.print(render(report, now))
    text = console.export_text()
    row = next(line for line in text.splitlines() if "acme.mesh" in line)
    assert "stable" in row and "#4" in row
    assert "2036-06-01 00:00 (3653d)" in row
    assert "2026-05-30 00:00 (-2d)" in row
    assert any("partner.mesh" in line and "error" in line for line in text.splitlines())
