"""The meshfed command: validate, schema, token create, help."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from federation.cli import build_parser, main
from federation.model import Role
from federation.store import open_store
from federation.tokens import TokenRegistry, token_hash

EXAMPLE = Path(__file__).parents[2] / "examples" / "meshfed.yaml"


def test_validate_clean_example_exits_0_with_file_warnings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "ok" in out
    assert "warning: trust.bundle_endpoint.cert_file" in out


def test_validate_prints_every_problem_with_path_and_hint_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "federation: {name: acme, trust_domain: acme.mesh}\n"
        "clusters: [{name: a, cloud: aws, region: us-east-1}]\n"
        "services: [{name: s, port: 1, routing: {failover: [a, b]}, retriez: {}}]\n"
    )
    assert main(["validate", str(EXAMPLE), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: error: services[0].routing.failover[1]: unknown cluster 'b'" in out
    assert f"{bad}: error: services[0].retriez: unknown key 'retriez'" in out
    assert "hint: did you mean 'retries'?" in out


def test_schema_prints_a_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"federation", "clusters", "services", "trust"} <= set(schema["properties"])


def test_token_create_prints_the_token_once_and_stores_only_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert main(["token", "create", "--role", "operator", "--name", "ci", "--store", url]) == 0
    token = capsys.readouterr().out.strip()

    async def check() -> None:
        store = open_store(url)
        try:
            records = await store.list_prefix("tokens/")
            assert token.encode() not in b"".join(r.value for r in records)
            assert token_hash(token).encode() in records[0].value
            who = await TokenRegistry(store, []).principal(token)
            assert who is not None
            assert (who.name, who.role) == ("ci", Role.OPERATOR)
        finally:
            await store.close()

    asyncio.run(check())
    assert main(["token", "create", "--role", "viewer", "--name", "ci", "--store", url]) == 1
    assert "exists already" in capsys.readouterr().err


def _commands() -> list[str]:
    parser = build_parser()
    (group,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(group.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "example:" in capsys.readouterr().out
