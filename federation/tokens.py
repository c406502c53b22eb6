"""API bearer tokens: only their SHA-256 is kept, in the config file or in the store."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from federation.model import Role, TokenSpec
from federation.store.base import ConflictError, Store

_PREFIX = "tokens/"
_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role

    def may(self, needed: Role) -> bool:
        return _RANK[self.role] >= _RANK[needed]


class TokenExistsError(Exception):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "mfd_" + secrets.token_urlsafe(32)


class TokenRegistry:
    """Resolves a presented token to who holds it. File tokens are fixed at start-up; store
    tokens are read on each check so a token created on any replica works everywhere."""

    def __init__(self, store: Store, file_tokens: list[TokenSpec]) -> None:
        self._store = store
        self._file = {spec.sha256: Principal(spec.name, spec.role) for spec in file_tokens}

    async def principal(self, token: str) -> Principal | None:
        digest = token_hash(token)
        if digest in self._file:
            return self._file[digest]
        for record in await self._store.list_prefix(_PREFIX):
            entry = json.loads(record.value)
            if secrets.compare_digest(entry["sha256"], digest):
                return Principal(entry["name"], Role(entry["role"]))
        return None

    async def create(self, name: str, role: Role) -> tuple[str, int]:
        """Store a new token's hash; returns the token (shown once) and the record revision."""
        token = new_token()
        entry = {
            "name": name,
            "role": role.value,
            "sha256": token_hash(token),
            "created": time.time(),
        }
        try:
            record = await self._store.put(
                _PREFIX + name, json.dumps(entry).encode(), expect_revision=0
            )
        except ConflictError as exc:
            raise TokenExistsError(
                f"a token named {name!r} exists already: choose another --name"
            ) from exc
        return token, record.revision
