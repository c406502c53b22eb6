from __future__ import annotations

import base64
import secrets
import stat
from pathlib import Path

import pytest

from trust.kek import (
    KEK_ENV,
    Kek,
    KekError,
    KekMismatchError,
    create_kek_file,
    load_kek,
    open_sealed,
    seal,
)


def _env_kek() -> tuple[dict[str, str], bytes]:
    key = secrets.token_bytes(32)
    return {KEK_ENV: base64.b64encode(key).decode()}, key


def test_created_kek_file_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    created = create_kek_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    assert load_kek(path, {}).key == created.key


def test_existing_kek_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.write_text("precious")
    with pytest.raises(KekError, match="already exists"):
        create_kek_file(path)
    assert path.read_text() == "precious"


def test_env_kek_is_used_and_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    create_kek_file(path)
    env, key = _env_kek()
    loaded = load_kek(path, env)
    assert loaded.key == key
    assert KEK_ENV in loaded.source


def test_missing_kek_says_what_to_provide(tmp_path: Path) -> None:
    with pytest.raises(KekError, match=rf"{KEK_ENV}.*kek_file"):
        load_kek(None, {})
    with pytest.raises(KekError, match=r"does not exist.*trust init"):
        load_kek(tmp_path / "absent", {})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not base64!!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "is 5 bytes, not 32"),
    ],
)
def test_badly_encoded_kek_is_refused_with_the_fix(value: str, problem: str) -> None:
    with pytest.raises(KekError, match=problem) as caught:
        load_kek(None, {KEK_ENV: value})
    assert "base64" in str(caught.value)


def test_sealed_data_opens_with_the_same_kek_and_context() -> None:
    kek = Kek(secrets.token_bytes(32), "test")
    blob = seal(kek, b"secret key bytes", b"ctx")
    assert b"secret key bytes" not in blob
    assert open_sealed(kek, blob, b"ctx") == b"secret key bytes"


def test_wrong_kek_is_reported_as_a_mismatch() -> None:
    blob = seal(Kek(secrets.token_bytes(32), "a"), b"secret", b"ctx")
    with pytest.raises(KekMismatchError, match="does not decrypt the stored CA key"):
        open_sealed(Kek(secrets.token_bytes(32), "b"), blob, b"ctx")


def test_altered_blob_or_other_context_is_refused_but_not_as_a_kek_mismatch() -> None:
    kek = Kek(secrets.token_bytes(32), "test")
    blob = seal(kek, b"secret", b"ctx")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    for bad_blob, aad in ((flipped, b"ctx"), (blob, b"other")):
        with pytest.raises(KekError, match="altered") as caught:
            open_sealed(kek, bad_blob, aad)
        assert not isinstance(caught.value, KekMismatchError)


def test_truncated_blob_is_refused() -> None:
    kek = Kek(secrets.token_bytes(32), "test")
    with pytest.raises(KekError, match="truncated"):
        open_sealed(kek, seal(kek, b"x", b"")[:10], b"")


def test_kek_repr_never_shows_the_key() -> None:
    key = secrets.token_bytes(32)
    assert key.hex() not in repr(Kek(key, "test"))
    assert repr(key) not in repr(Kek(key, "test"))
