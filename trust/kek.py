"""The key-encryption key (KEK) and AES-GCM sealing of secrets stored at rest.

A sealed blob is ``version(1) || kek_id(8) || nonce(12) || ciphertext+tag``. The KEK id lets
``open_sealed`` tell "wrong KEK" apart from "the blob or its context was altered".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEK_ENV = "MESHFED_KEK"
KEK_BYTES = 32
_VERSION = 1
_ID_BYTES = 8
_NONCE_BYTES = 12
_HEADER_BYTES = 1 + _ID_BYTES + _NONCE_BYTES


class KekError(Exception):
    """The KEK is missing, unreadable or badly encoded, or a sealed blob is unusable."""


class KekMismatchError(KekError):
    """The KEK at hand is not the one that sealed the blob."""


@dataclass(frozen=True, slots=True)
class Kek:
    key: bytes = field(repr=False)
    source: str

    def __post_init__(self) -> None:
        if len(self.key) != KEK_BYTES:
            raise KekError(
                f"the key-encryption key from {self.source} is {len(self.key)} bytes, "
                f"not {KEK_BYTES}: provide {KEK_BYTES} random bytes, base64-encoded"
            )

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(b"meshfed-kek-id\x00" + self.key).digest()[:_ID_BYTES]


def load_kek(path: Path | None, env: Mapping[str, str]) -> Kek:
    """The KEK from env ``MESHFED_KEK`` if set, else from ``path``.

    The variable wins so that a container can override a file baked into an image.
    """
    if env.get(KEK_ENV):
        return _decode(env[KEK_ENV], f"env {KEK_ENV}")
    if path is None:
        raise KekError(
            f"no key-encryption key: set env {KEK_ENV} or trust.kek_file "
            "(create one with 'meshfed trust init')"
        )
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KekError(
            f"kek_file {path} does not exist: run 'meshfed trust init' or set env {KEK_ENV}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KekError(f"kek_file {path} cannot be read ({exc}): fix its permissions") from exc
    return _decode(text, f"kek_file {path}")


def create_kek_file(path: Path) -> Kek:
    """Write a new random KEK to ``path`` (mode 0600); never replace an existing file."""
    key = secrets.token_bytes(KEK_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KekError(
            f"kek_file {path} already exists: it may protect stored CA keys, so it is never "
            "overwritten; remove it yourself only if no sealed data depends on it"
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(base64.b64encode(key).decode("ascii") + "\n")
    return Kek(key, f"kek_file {path}")


def seal(kek: Kek, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` bound to ``aad`` (the context it belongs to, e.g. a trust domain)."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    body = AESGCM(kek.key).encrypt(nonce, plaintext, aad)
    return bytes([_VERSION]) + kek.key_id + nonce + body


def open_sealed(kek: Kek, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < _HEADER_BYTES + 16 or blob[0] != _VERSION:
        raise KekError(
            "the sealed blob is truncated or of an unknown format: restore it from a backup"
        )
    if blob[1 : 1 + _ID_BYTES] != kek.key_id:
        raise KekMismatchError(
            "the key-encryption key does not decrypt the stored CA key: "
            f"check {KEK_ENV} / kek_file (loaded from {kek.source})"
        )
    nonce = blob[1 + _ID_BYTES : _HEADER_BYTES]
    try:
        return AESGCM(kek.key).decrypt(nonce, blob[_HEADER_BYTES:], aad)
    except InvalidTag:
        raise KekError(
            "the sealed blob was altered or belongs to another context "
            f"({aad.decode(errors='replace')!r}): restore it from a backup"
        ) from None


def _decode(text: str, source: str) -> Kek:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KekError(
            f"the key-encryption key in {source} is not valid base64: provide {KEK_BYTES} "
            "random bytes, base64-encoded (e.g. 'openssl rand -base64 32')"
        ) from None
    return Kek(key, source)
