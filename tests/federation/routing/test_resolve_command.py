"""``meshfed resolve``: locally from a config, and from a running server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from federation.cli import main
from federation.model import Role
from tests.federation.api.conftest import TOKENS
from tests.federation.routing.conftest import eventually, resolve, serving

CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
api: {listen: 127.0.0.1:0}
clusters:
  - {name: aws-euw2, cloud: aws, region: eu-west-2}
  - {name: aws-use1, cloud: aws, region: us-east-1}
providers:
  - name: local
    kind: static
    endpoints:
      - {cluster: aws-euw2, service: payments.prod, address: 127.0.0.2, port: 9443}
      - {cluster: aws-use1, service: payments.prod, address: 127.0.0.4, port: 9443}
services:
  - {name: payments.prod, port: 8080, routing: {mode: failover, failover: [aws-euw2, aws-use1]}}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "meshfed.yaml"
    path.write_text(CONFIG)
    return path


def test_local_resolve_prints_the_api_json(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = ["--from-region", "aws:us-east-1"]
    code = main(["resolve", "payments.prod", *client, "--config", str(config_file), "-o", "json"])
    body = json.loads(capsys.readouterr().out)
    assert code == 0
    assert body["client"]["source"] == "region"
    assert [level["load_percent"] for level in body["levels"]] == [100, 0]
    assert body["pick"] == {"cluster": "aws-euw2", "address": "127.0.0.2", "port": 9443}


def test_local_resolve_table_shows_levels_shares_and_the_pick(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = ["--from-ip", "10.1.2.3"]
    code = main(["resolve", "payments.prod", *client, "--config", str(config_file), "--explain"])
    out = capsys.readouterr().out
    assert code == 0
    assert "pick: aws-euw2 127.0.0.2:9443" in out
    assert "aws-use1" in out
    assert "10.1.2.3 is a private address; using the default location aws:us-east-1" in out


def test_local_resolve_of_an_unknown_service_fails_with_the_known_ones(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["resolve", "nope.prod", "--from-region", "aws:us-east-1", "--config", str(config_file)]
    )
    assert code == 1
    assert "known: payments.prod" in capsys.readouterr().err


async def run_cli(*args: str, token: str | None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MESHFED_TOKEN"}
    if token is not None:
        env["MESHFED_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "federation.cli",
        "resolve",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_server_resolve_matches_the_api_and_needs_a_token() -> None:
    query = "service=payments.prod&client_region=aws:us-east-1"
    async with serving(CONFIG) as api:

        async def discovered() -> dict[str, object] | None:
            body = await resolve(api, query)
            return body if body["pick"] is not None else None

        await eventually(discovered, 5, "discovery writes the endpoints")
        args = ("payments.prod", "--from-region", "aws:us-east-1", "--server", api.running.url)
        code, out, _ = await run_cli(*args, "-o", "json", token=TOKENS[Role.VIEWER])
        api_body = await resolve(api, query)
        no_token = await run_cli(*args, token=None)
        wrong_service = await run_cli("nope.prod", *args[1:], token=TOKENS[Role.VIEWER])
    assert code == 0
    cli_body = json.loads(out)
    assert cli_body["levels"] == api_body["levels"]
    assert cli_body["client"] == api_body["client"]
    assert no_token[0] == 1
    assert "MESHFED_TOKEN" in no_token[2]
    assert wrong_service[0] == 1
    assert "answered 404" in wrong_service[2]
