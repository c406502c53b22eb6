"""``meshfed trust …`` on a real sqlite store, and start-up refusals of ``serve``."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from federation.cli import main
from federation.trust.runtime import TrustStartupError
from tests.federation.trust.conftest import init_trust, served, trust_config
from trust.bundle import BundleSet, TrustBundle, parse_jwks
from trust.verify import verify_svid_chain

ACME = "acme.mesh"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    document = {
        "federation": {"name": "acme", "trust_domain": ACME},
        "store": f"sqlite:///{tmp_path / 'state' / 'state.db'}",
        "api": {"listen": "127.0.0.1:0"},
        "clusters": [
            {
                "name": "aws-use1",
                "cloud": "aws",
                "region": "us-east-1",
                "trust_domain": "aws.acme.mesh",
            }
        ],
        "trust": {"kek_file": str(tmp_path / "state" / "kek"), "refresh_hint": "1s"},
    }
    path = tmp_path / "meshfed.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_init_creates_a_private_kek_and_one_ca_per_trust_domain_once(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "trust", "init", "--config", str(config_file))
    assert code == 0
    kek = config_file.parent / "state" / "kek"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert len(base64.b64decode(kek.read_text())) == 32
    assert "acme.mesh: CA created" in out and "aws.acme.mesh: CA created" in out
    first_kek = kek.read_text()
    database = (config_file.parent / "state" / "state.db").read_bytes()
    assert b"PRIVATE KEY" not in database  # CA keys are stored sealed only
    code, out, _ = _run(capsys, "trust", "init", "--config", str(config_file))
    assert code == 0
    assert out.count("exists already") == 2
    assert kek.read_text() == first_kek


def test_init_of_one_named_trust_domain(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "trust", "init", "--config", str(config_file), "--trust-domain", "aws.acme.mesh"
    )
    assert code == 0
    created = [line for line in out.splitlines() if "CA created" in line]
    assert created == ["aws.acme.mesh: CA created (generation 1), bundle sequence 1"]
    code, _, err = _run(
        capsys, "trust", "init", "--config", str(config_file), "--trust-domain", "other.mesh"
    )
    assert code == 1 and "not one of this config's trust domains" in err


def test_issue_with_out_dir_writes_a_private_key_a_chain_and_the_bundle(
    config_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _run(capsys, "trust", "init", "--config", str(config_file))
    out_dir = tmp_path / "svid"
    spiffe_id = "spiffe://acme.mesh/gateway/aws-use1"
    code, _, err = _run(
        capsys,
        "trust",
        "issue",
        "--config",
        str(config_file),
        "--spiffe-id",
        spiffe_id,
        "--out-dir",
        str(out_dir),
    )
    assert code == 0, err
    assert stat.S_IMODE((out_dir / "svid.key").stat().st_mode) == 0o600
    chain = x509.load_pem_x509_certificates((out_dir / "svid.pem").read_bytes())
    roots = x509.load_pem_x509_certificates((out_dir / "bundle.pem").read_bytes())
    bundles = BundleSet((TrustBundle(ACME, tuple(roots)),))
    assert str(verify_svid_chain(chain, bundles, datetime.now(UTC))) == spiffe_id
    _, out, _ = _run(capsys, "audit", "verify", "--config", str(config_file))
    assert "audit chain intact: 3 record(s)" in out  # two inits and the issuance


def test_status_rotate_and_bundle(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "trust", "init", "--config", str(config_file))
    code, out, _ = _run(capsys, "trust", "rotate", "--config", str(config_file))
    assert code == 0 and "generation 2 prepared, bundle sequence 2" in out
    code, _, err = _run(capsys, "trust", "rotate", "--config", str(config_file))
    assert code == 1 and "already under way" in err
    code, out, _ = _run(capsys, "trust", "status", "--config", str(config_file))
    assert code == 0
    assert "acme.mesh: root expires" in out and "rotation prepared" in out
    assert "aws.acme.mesh: root expires" in out and "bundle sequence 1" in out
    code, out, _ = _run(capsys, "trust", "bundle", "--config", str(config_file))
    bundle = parse_jwks(ACME, json.loads(out))
    assert (bundle.sequence, len(bundle.roots)) == (2, 2)


async def test_serve_refuses_to_start_with_a_wrong_or_missing_kek(tmp_path: Path) -> None:
    config = trust_config(tmp_path, ACME)
    await init_trust(config)
    kek = Path(str(config.trust.kek_file))
    await asyncio.to_thread(kek.write_text, base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(TrustStartupError, match="does not decrypt the stored CA key"):
        async with served(config):
            pass
    await asyncio.to_thread(kek.unlink)
    with pytest.raises(TrustStartupError, match="run 'meshfed trust init'"):
        async with served(config):
            pass


def test_meshfed_serve_exits_1_and_names_the_fix_on_a_wrong_kek(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "trust", "init", "--config", str(config_file))
    env = {**os.environ, "MESHFED_KEK": base64.b64encode(os.urandom(32)).decode()}
    result = subprocess.run(
        [sys.executable, "-m", "federation.cli", "serve", "--config", str(config_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "check MESHFED_KEK / kek_file" in result.stderr
