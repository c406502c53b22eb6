"""GET /v1/audit pages through the chain; ``meshfed audit verify`` finds tampering done
directly in a real sqlite store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from federation.audit_log import AuditLog
from federation.cli import main
from federation.metrics import Metrics
from federation.model import Role
from federation.store import SqliteStore
from tests.federation.trust.conftest import served, trust_config

RECORDS = 6


def _write_records(db: Path) -> None:
    async def write() -> None:
        store = SqliteStore(str(db))
        try:
            log = AuditLog(store, Metrics())
            for i in range(RECORDS):
                await log.record(actor="ops", action="test.write", target=f"t/{i}", detail={"i": i})
        finally:
            await store.close()

    asyncio.run(write())


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    db = tmp_path / "state.db"
    _write_records(db)
    path = tmp_path / "meshfed.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "federation": {"name": "acme", "trust_domain": "acme.mesh"},
                "store": f"sqlite:///{db}",
            }
        )
    )
    return path


def _tamper(config_file: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    with sqlite3.connect(config_file.parent / "state.db") as conn:
        for sql, args in statements:
            conn.execute(sql, args)


def _data(config_file: Path, log_seq: int) -> bytes:
    with sqlite3.connect(config_file.parent / "state.db") as conn:
        row = conn.execute("SELECT data FROM logs WHERE log='audit' AND seq=?", (log_seq,))
        data: bytes = row.fetchone()[0]
        return data


def _verify(config_file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--config", str(config_file)])
    return code, capsys.readouterr().out


def test_an_intact_chain_verifies(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(config_file, capsys) == (0, f"audit chain intact: {RECORDS} record(s)\n")


def test_an_edited_record_is_reported(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = json.loads(_data(config_file, 3))
    record["actor"] = "someone-else"
    edited = json.dumps(record).encode()
    _tamper(config_file, ("UPDATE logs SET data=? WHERE log='audit' AND seq=3", (edited,)))
    code, out = _verify(config_file, capsys)
    assert code == 1
    assert "seq 2: edited" in out


def test_a_removed_record_is_reported(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper(config_file, ("DELETE FROM logs WHERE log='audit' AND seq=4", ()))
    code, out = _verify(config_file, capsys)
    assert code == 1
    assert "seq 3: missing" in out


def test_reordered_records_are_reported(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second, third = _data(config_file, 2), _data(config_file, 3)
    _tamper(
        config_file,
        ("UPDATE logs SET data=? WHERE log='audit' AND seq=2", (third,)),
        ("UPDATE logs SET data=? WHERE log='audit' AND seq=3", (second,)),
    )
    code, out = _verify(config_file, capsys)
    assert code == 1
    assert "seq 1: reordered" in out


async def test_audit_api_is_admin_only_and_pages_with_next_since(tmp_path: Path) -> None:
    async with served(trust_config(tmp_path, "acme.mesh")) as api:
        audit = api.running.context.audit
        for i in range(5):
            await audit.record(actor="ops", action="test.write", target=f"t/{i}", detail={})
        status, _, _ = await api.call("GET", "/v1/audit", role=Role.OPERATOR)
        assert status == 403
        status, first, _ = await api.call("GET", "/v1/audit?since=0&limit=2")
        assert status == 200
        assert [r["seq"] for r in first["items"]] == [0, 1]  # type: ignore[union-attr,index]
        _, second, _ = await api.call("GET", f"/v1/audit?since={first['next_since']}&limit=10")
        assert [r["target"] for r in second["items"]] == [f"t/{i}" for i in range(2, 5)]  # type: ignore[union-attr,index]
        assert second["next_since"] == 5
        status, problem, _ = await api.call("GET", "/v1/audit?limit=0")
        assert status == 400 and "limit" in str(problem["detail"])
