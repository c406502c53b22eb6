"""``meshfed gateway`` refuses flags and configs it cannot run with, before it listens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from federation.cli import main
from federation.config import parse_config
from federation.gateway.command import running_gateway
from federation.gateway.metrics import GatewayMetrics
from federation.gateway.options import GatewayOptions
from tests.federation.gateway.hellos import captured_client_hello
from tests.federation.gateway.test_observers import samples

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


async def test_a_running_gateway_counts_unknown_services_under_no_route_and_lost_log_lines(
    tmp_path: Path,
) -> None:
    # /dev/full refuses every write: the access log must count what it loses and carry on.
    config = parse_config(CONFIG)
    options = GatewayOptions(
        config=config,
        cluster="aws-use1",
        listen=("127.0.0.1", 0),
        access_log="/dev/full",
        drain_timeout=1.0,
    )
    async with running_gateway(options) as running:
        for _ in range(2):
            reader, writer = await asyncio.open_connection(*running.address)
            writer.write(captured_client_hello("made-up.ns.svc.cluster.local"))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) != b""  # the TLS alert, then EOF
            writer.close()
        seen = await _metrics_when(running.metrics, _has_write_error, deadline_s=5)
    assert (
        seen[("meshfed_gateway_connections_total", (("outcome", "no_upstream"), ("route", "-")))]
        == 2
    )
    assert not any(dict(labels).get("route") == "made-up.ns" for (_, labels) in seen), (
        "a name only the client vouched for became a label"
    )


def _has_write_error(seen: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> bool:
    key = ("meshfed_gateway_access_log_dropped_total", (("reason", "write_error"),))
    return seen.get(key, 0) >= 1


async def _metrics_when(
    metrics: GatewayMetrics,
    condition: Callable[[dict[tuple[str, tuple[tuple[str, str], ...]], float]], bool],
    deadline_s: float,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with asyncio.timeout(deadline_s):
        while not condition(seen := samples(metrics)):  # noqa: ASYNC110 - a thread counts
            await asyncio.sleep(0.05)
    return seen
