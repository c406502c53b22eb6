"""SPIFFE bundles (SPIFFE Trust Domain and Bundle, section 4) and per-trust-domain bundle sets."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from trust.spiffe_id import validate_trust_domain

X509_SVID_USE = "x509-svid"
DEFAULT_REFRESH_HINT = 300
_CURVES: dict[str, tuple[str, int]] = {"secp256r1": ("P-256", 32), "secp384r1": ("P-384", 48)}


class BundleError(ValueError):
    """A bundle document or update is unacceptable."""


class BundleRollbackError(BundleError):
    pass


class UnknownTrustDomainError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class TrustBundle:
    trust_domain: str
    roots: tuple[x509.Certificate, ...]
    sequence: int = 1
    refresh_hint: int | None = DEFAULT_REFRESH_HINT

    def __post_init__(self) -> None:
        validate_trust_domain(self.trust_domain)
        if self.sequence < 0:
            raise BundleError(
                f"bundle for {self.trust_domain}: sequence {self.sequence} is negative; "
                "sequences start at 0"
            )
        if self.refresh_hint is not None and self.refresh_hint <= 0:
            raise BundleError(
                f"bundle for {self.trust_domain}: refresh hint {self.refresh_hint}s must be "
                "positive or absent"
            )

    def with_roots(self, roots: Iterable[x509.Certificate]) -> TrustBundle:
        """The next revision holding ``roots``; the sequence moves forward, never reused."""
        return TrustBundle(self.trust_domain, tuple(roots), self.sequence + 1, self.refresh_hint)

    def roots_pem(self) -> str:
        return "".join(r.public_bytes(serialization.Encoding.PEM).decode() for r in self.roots)

    def to_jwks(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "keys": [_root_to_jwk(root) for root in self.roots],
            "spiffe_sequence": self.sequence,
        }
        if self.refresh_hint is not None:
            document["spiffe_refresh_hint"] = self.refresh_hint
        return document

    def to_json(self) -> bytes:
        return json.dumps(self.to_jwks(), sort_keys=True).encode()


def parse_jwks(trust_domain: str, data: str | bytes | Mapping[str, Any]) -> TrustBundle:
    """Read a SPIFFE bundle document for ``trust_domain``; refuse anything malformed."""
    where = f"bundle for {trust_domain}"
    document = _load_document(where, data)
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise BundleError(f"{where}: 'keys' must be a list of JWKs (RFC 7517 section 5)")
    sequence = _optional_int(where, document, "spiffe_sequence", default=0) or 0
    refresh_hint = _optional_int(where, document, "spiffe_refresh_hint", default=None)
    roots: list[x509.Certificate] = []
    for index, jwk in enumerate(keys):
        if not isinstance(jwk, Mapping):
            raise BundleError(f"{where}: keys[{index}] is not a JSON object")
        use = jwk.get("use")
        if not isinstance(use, str):
            raise BundleError(f"{where}: keys[{index}] lacks 'use' (required by section 4.2.2)")
        # Section 4.2.2: unknown uses (and here jwt-svid, which we do not consume) are ignored.
        root = _root_from_jwk(f"{where}: keys[{index}]", jwk) if use == X509_SVID_USE else None
        if root is not None:
            roots.append(root)
    return TrustBundle(trust_domain, tuple(roots), sequence, refresh_hint)


def accept_update(current: TrustBundle | None, new: TrustBundle) -> TrustBundle:
    """The bundle to keep after receiving ``new``; a rollback or reused sequence is refused."""
    if current is None:
        return new
    if new.trust_domain != current.trust_domain:
        raise BundleError(
            f"bundle for {new.trust_domain} cannot replace the bundle of {current.trust_domain}: "
            "check which endpoint serves which trust domain"
        )
    if new.sequence < current.sequence:
        raise BundleRollbackError(
            f"bundle for {new.trust_domain}: sequence {new.sequence} is older than the held "
            f"{current.sequence}; refusing the rollback (a stale or replayed bundle). If the "
            "foreign CA was really reset, remove the held bundle explicitly"
        )
    if new.sequence == current.sequence and _fingerprints(new) != _fingerprints(current):
        raise BundleRollbackError(
            f"bundle for {new.trust_domain}: sequence {new.sequence} was reused with other "
            "roots; the publisher must increase spiffe_sequence with every change"
        )
    return new if new.sequence > current.sequence else current


@dataclass(frozen=True, slots=True)
class BundleSet:
    """Bundles keyed by trust domain; roots of one domain never vouch for another's IDs."""

    bundles: tuple[TrustBundle, ...] = ()

    def __post_init__(self) -> None:
        names = [b.trust_domain for b in self.bundles]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise BundleError(
                f"bundle set holds several bundles for {', '.join(duplicates)}: keep one each"
            )

    @property
    def trust_domains(self) -> tuple[str, ...]:
        return tuple(sorted(b.trust_domain for b in self.bundles))

    def for_trust_domain(self, trust_domain: str) -> TrustBundle:
        for bundle in self.bundles:
            if bundle.trust_domain == trust_domain:
                return bundle
        raise UnknownTrustDomainError(
            f"no bundle for trust domain {trust_domain!r} (have: "
            f"{', '.join(self.trust_domains) or 'none'}): federate with it under "
            "trust.federates_with"
        )

    def with_bundle(self, bundle: TrustBundle) -> BundleSet:
        """A set where ``bundle`` replaces its trust domain's entry (after ``accept_update``)."""
        others = tuple(b for b in self.bundles if b.trust_domain != bundle.trust_domain)
        return BundleSet((*others, bundle))

    def to_jwks_by_domain(self) -> dict[str, dict[str, Any]]:
        """``{trust domain: SPIFFE bundle JWK Set}``, the shape GET /v1/trust/bundles answers."""
        return {b.trust_domain: b.to_jwks() for b in sorted(self.bundles, key=_domain)}

    def all_roots_pem(self) -> str:
        """Every root of every domain: only for TLS libraries that cannot choose per domain."""
        return "".join(b.roots_pem() for b in self.bundles)


def _root_to_jwk(root: x509.Certificate) -> dict[str, Any]:
    key = root.public_key()
    jwk: dict[str, Any] = {"use": X509_SVID_USE}
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv, size = _CURVES[key.curve.name]
        numbers = key.public_numbers()
        jwk |= {"kty": "EC", "crv": crv, "x": _b64url(numbers.x, size)}
        jwk["y"] = _b64url(numbers.y, size)
    elif isinstance(key, rsa.RSAPublicKey):
        numbers_rsa = key.public_numbers()
        jwk |= {"kty": "RSA", "n": _b64url(numbers_rsa.n), "e": _b64url(numbers_rsa.e)}
    else:
        raise BundleError(f"root {root.subject.rfc4514_string()} has an unsupported key type")
    # RFC 7517 4.7: x5c entries are standard base64 (not base64url) DER.
    jwk["x5c"] = [base64.b64encode(root.public_bytes(serialization.Encoding.DER)).decode()]
    return jwk


def _root_from_jwk(where: str, jwk: Mapping[str, Any]) -> x509.Certificate | None:
    x5c = jwk.get("x5c")
    # X509-SVID 6.2: an entry without x5c values is ignored, and only the first value counts.
    if x5c is None or x5c == []:
        return None
    if not isinstance(x5c, list) or not isinstance(x5c[0], str):
        raise BundleError(f"{where}: 'x5c' must be a list of base64 DER certificates")
    try:
        root = x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
    except (binascii.Error, ValueError) as exc:
        raise BundleError(f"{where}: x5c[0] is not base64 DER certificate ({exc})") from None
    expected = _root_to_jwk(root)
    # RFC 7517 4.7: the first certificate's key must be the key the JWK members describe.
    for name in ("kty", "crv", "x", "y", "n", "e"):
        if jwk.get(name) != expected.get(name):
            raise BundleError(
                f"{where}: {name!r} is {jwk.get(name)!r} but the certificate in x5c says "
                f"{expected.get(name)!r}; the key parameters must describe the x5c key"
            )
    return root


def _load_document(where: str, data: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{where}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise BundleError(f"{where}: the document must be a JSON object (a JWK Set)")
    return document


def _optional_int(
    where: str, document: Mapping[str, Any], name: str, default: int | None
) -> int | None:
    value = document.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BundleError(f"{where}: {name!r} is {value!r}; it must be a non-negative integer")
    return value


def _b64url(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return base64.urlsafe_b64encode(value.to_bytes(length, "big")).rstrip(b"=").decode()


def _domain(bundle: TrustBundle) -> str:
    return bundle.trust_domain


def _fingerprints(bundle: TrustBundle) -> frozenset[bytes]:
    return frozenset(r.public_bytes(serialization.Encoding.DER) for r in bundle.roots)
