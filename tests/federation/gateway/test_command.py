"""``meshfed gateway`` refuses flags and configs it cannot run with, before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.cli import main

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1}
services:
  - {name: payments.prod, port: 8080}
"""


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--cluster", "nowhere"], "cluster 'nowhere' is not in the config (clusters: aws-use1)"),
        (["--listen", "15443"], "--listen '15443' is not HOST:PORT"),
        (["--server", "http://127.0.0.1:1"], "--server needs a viewer token"),
        (["--rate-limit", "lots"], "write it like 100/s"),
        (["--burst", "5"], "--burst needs --rate-limit"),
        (["--rate-limit", "10/s", "--queue-timeout", "100"], "--queue-timeout"),
        (["--drain-timeout", "soon"], "--drain-timeout"),
        (["--access-log", "/nonexistent/access.log"], "--access-log /nonexistent/access.log"),
        (["--mode", "mtls"], "--mode mtls needs --svid-cert, --svid-key and --bundle"),
        (["--svid-cert", "gw.pem"], "need --mode mtls"),
        (
            [
                "--mode",
                "mtls",
                "--svid-cert",
                "/nonexistent/gw.pem",
                "--svid-key",
                "k",
                "--bundle",
                "b",
            ],
            "--svid-cert /nonexistent/gw.pem: cannot read it",
        ),
        (
            [
                "--mode",
                "mtls",
                "--svid-cert",
                "c",
                "--svid-key",
                "k",
                "--bundle",
                "b",
                "--federated-bundle",
                "partner.example",
            ],
            "is not TRUST_DOMAIN=FILE",
        ),
    ],
)
def test_unusable_flags_exit_2_with_the_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    says: str,
) -> None:
    monkeypatch.delenv("MESHFED_TOKEN", raising=False)
    config = tmp_path / "meshfed.yaml"
    config.write_text(CONFIG)
    defaults = {"--cluster": "aws-use1", "--listen": "127.0.0.1:0"}
    for flag, value in defaults.items():
        if flag not in flags:
            flags = [*flags, flag, value]
    assert main(["gateway", "--config", str(config), *flags]) == 2
    assert says in capsys.readouterr().err


def test_an_invalid_config_exits_1_with_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "meshfed.yaml"
    config.write_text(CONFIG.replace("port: 8080", "port: 0"))
    code = main(["gateway", "--config", str(config), "--cluster", "aws-use1", "--listen", ":1"])
    assert code == 1
    assert "services[0].port" in capsys.readouterr().out
