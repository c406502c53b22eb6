"""Trust state in the store: sealed CAs, each own trust domain's bundle and rotation state, and
the foreign bundles held. CA private keys are only ever stored sealed under the KEK."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from federation.store.base import ConflictError, Store
from trust.bundle import TrustBundle, parse_jwks
from trust.ca import CertificateAuthority
from trust.kek import Kek, KekError
from trust.rotation import RotationState

PREFIX = "trust/"
_DOMAINS = "trust/domains/"
_FOREIGN = "trust/foreign/"


class TrustNotInitializedError(LookupError):
    """No CA exists for a trust domain yet."""


class TrustStateConflictError(Exception):
    """Another writer changed the trust state first; the caller re-reads and retries."""


@dataclass(frozen=True, slots=True)
class DomainState:
    """One own trust domain: its published bundle and its rotation, written together."""

    trust_domain: str
    bundle: TrustBundle
    rotation: RotationState
    revision: int = 0  # store revision read; 0 for a state not yet stored

    def encode(self) -> bytes:
        document = {"bundle": self.bundle.to_jwks(), "rotation": self.rotation.to_dict()}
        return json.dumps(document, sort_keys=True).encode()

    @classmethod
    def decode(cls, trust_domain: str, value: bytes, revision: int) -> DomainState:
        document = json.loads(value)
        return cls(
            trust_domain,
            parse_jwks(trust_domain, document["bundle"]),
            RotationState.from_dict(document["rotation"]),
            revision,
        )


@dataclass(frozen=True, slots=True)
class ForeignRecord:
    """What is held for a foreign trust domain: the last good bundle and the last attempt."""

    trust_domain: str
    bundle: TrustBundle | None
    fetched_at: datetime | None = None  # last successful fetch
    attempted_at: datetime | None = None
    last_error: str | None = None

    def encode(self) -> bytes:
        document: dict[str, Any] = {
            "bundle": self.bundle.to_jwks() if self.bundle is not None else None,
            "fetched_at": _iso(self.fetched_at),
            "attempted_at": _iso(self.attempted_at),
            "last_error": self.last_error,
        }
        return json.dumps(document, sort_keys=True).encode()

    @classmethod
    def decode(cls, trust_domain: str, value: bytes) -> ForeignRecord:
        document = json.loads(value)
        bundle = document.get("bundle")
        return cls(
            trust_domain,
            parse_jwks(trust_domain, bundle) if bundle is not None else None,
            _time(document.get("fetched_at")),
            _time(document.get("attempted_at")),
            document.get("last_error"),
        )


class TrustRecords:
    def __init__(self, store: Store, kek: Kek | None) -> None:
        self._store = store
        self._kek = kek
        # Opened CAs by (trust domain, generation): a stored generation never changes.
        self._cas: dict[tuple[str, int], CertificateAuthority] = {}
        self._states: dict[str, tuple[DomainState, bytes]] = {}

    async def domain(self, trust_domain: str) -> DomainState:
        record = await self._store.get(_domain_key(trust_domain))
        if record is None:
            raise TrustNotInitializedError(
                f"trust domain {trust_domain!r} has no CA yet: run 'meshfed trust init'"
            )
        cached = self._states.get(trust_domain)
        # Decoding parses every root; a revision names one value, so decode each only once.
        if cached is None or cached[0].revision != record.revision:
            state = DomainState.decode(trust_domain, record.value, record.revision)
            cached = (state, state.bundle.to_json())
            self._states[trust_domain] = cached
        return cached[0]

    async def bundle_json(self, trust_domain: str) -> bytes:
        """The domain's bundle as served by the bundle endpoint, encoded once per revision."""
        await self.domain(trust_domain)
        return self._states[trust_domain][1]

    async def has_domain(self, trust_domain: str) -> bool:
        return await self._store.get(_domain_key(trust_domain)) is not None

    async def save_domain(self, state: DomainState) -> DomainState:
        """Compare-and-set against ``state.revision`` (0: the domain must be new)."""
        try:
            record = await self._store.put(
                _domain_key(state.trust_domain), state.encode(), expect_revision=state.revision
            )
        except ConflictError as exc:
            raise TrustStateConflictError(str(exc)) from exc
        return replace(state, revision=record.revision)

    async def put_ca(self, ca: CertificateAuthority, generation: int) -> None:
        sealed = ca.to_sealed(self._require_kek())
        await self._store.put(_ca_key(ca.trust_domain, generation), sealed, expect_revision=0)
        self._cas[(ca.trust_domain, generation)] = ca

    async def ca(self, trust_domain: str, generation: int) -> CertificateAuthority:
        cached = self._cas.get((trust_domain, generation))
        if cached is not None:
            return cached
        record = await self._store.get(_ca_key(trust_domain, generation))
        if record is None:
            raise TrustNotInitializedError(
                f"CA generation {generation} of {trust_domain!r} is missing from the store: "
                "restore the store from a backup"
            )
        kek = self._require_kek()
        ca = await asyncio.to_thread(CertificateAuthority.from_sealed, kek, record.value)
        self._cas[(trust_domain, generation)] = ca
        return ca

    async def foreign(self, trust_domain: str) -> ForeignRecord | None:
        record = await self._store.get(_FOREIGN + trust_domain)
        return None if record is None else ForeignRecord.decode(trust_domain, record.value)

    async def save_foreign(self, record: ForeignRecord) -> None:
        await self._store.put(_FOREIGN + record.trust_domain, record.encode())

    def _require_kek(self) -> Kek:
        if self._kek is None:
            raise KekError("no key-encryption key was loaded: set env MESHFED_KEK or kek_file")
        return self._kek


def _domain_key(trust_domain: str) -> str:
    return f"{_DOMAINS}{trust_domain}/state"


def _ca_key(trust_domain: str, generation: int) -> str:
    return f"{_DOMAINS}{trust_domain}/ca/{generation:06d}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
