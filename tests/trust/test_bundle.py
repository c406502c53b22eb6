from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.trust.conftest import ACME, PARTNER, bundle_of
from trust.bundle import (
    BundleError,
    BundleRollbackError,
    BundleSet,
    TrustBundle,
    UnknownTrustDomainError,
    accept_update,
    parse_jwks,
)
from trust.ca import CertificateAuthority
from trust.keys import KeyType


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_jwks_carries_sequence_refresh_hint_and_one_x509_svid_key_per_root(
    acme_ca: CertificateAuthority,
) -> None:
    bundle = TrustBundle(ACME, acme_ca.roots, sequence=7, refresh_hint=600)
    document = bundle.to_jwks()
    assert document["spiffe_sequence"] == 7
    assert document["spiffe_refresh_hint"] == 600
    [jwk] = document["keys"]
    assert jwk["use"] == "x509-svid"
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    key = acme_ca.root_cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    numbers = key.public_numbers()
    assert (_b64url_int(jwk["x"]), _b64url_int(jwk["y"])) == (numbers.x, numbers.y)
    assert base64.b64decode(jwk["x5c"][0]) == acme_ca.root_cert.public_bytes(
        serialization.Encoding.DER
    )


def test_rsa_roots_are_published_with_modulus_and_exponent(
    authority_of: Callable[[KeyType], CertificateAuthority],
) -> None:
    ca = authority_of("rsa-3072")
    [jwk] = bundle_of(ca).to_jwks()["keys"]
    key = ca.root_cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    numbers = key.public_numbers()
    assert jwk["kty"] == "RSA" and jwk["e"] == "AQAB"
    assert _b64url_int(jwk["n"]) == numbers.n
    assert parse_jwks(ca.trust_domain, bundle_of(ca).to_json()).roots == ca.roots


def test_jwks_round_trips(acme_ca: CertificateAuthority) -> None:
    bundle = TrustBundle(ACME, acme_ca.roots, sequence=3, refresh_hint=None)
    parsed = parse_jwks(ACME, bundle.to_json())
    assert parsed == bundle
    assert "spiffe_refresh_hint" not in bundle.to_jwks()


def test_keys_with_other_uses_are_ignored(acme_ca: CertificateAuthority) -> None:
    document = bundle_of(acme_ca).to_jwks()
    document["keys"].append({"use": "jwt-svid", "kty": "EC", "kid": "k1"})
    document["keys"].append({"use": "something-new", "kty": "OKP"})
    assert parse_jwks(ACME, document).roots == acme_ca.roots


def test_x509_entries_without_certificates_are_ignored_and_extra_ones_too(
    acme_ca: CertificateAuthority, partner_ca: CertificateAuthority
) -> None:
    document = bundle_of(acme_ca).to_jwks()
    document["keys"].append({"use": "x509-svid", "kty": "EC", "x5c": []})
    document["keys"][0]["x5c"].append(bundle_of(partner_ca).to_jwks()["keys"][0]["x5c"][0])
    assert parse_jwks(ACME, document).roots == acme_ca.roots


def _mutated(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(document))
    if path.startswith("keys.0."):
        copy["keys"][0][path.removeprefix("keys.0.")] = value
    else:
        copy[path] = value
    return copy


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("keys", "nope", "'keys' must be a list"),
        ("keys", ["x"], "keys\\[0\\] is not a JSON object"),
        ("spiffe_sequence", -1, "non-negative integer"),
        ("spiffe_sequence", "5", "non-negative integer"),
        ("spiffe_refresh_hint", 0, "positive"),
        ("keys.0.use", None, "lacks 'use'"),
        ("keys.0.x5c", "nope", "list of base64 DER"),
        ("keys.0.x5c", ["!!!"], "not base64 DER"),
        ("keys.0.x5c", [base64.b64encode(b"junk").decode()], "not base64 DER"),
        ("keys.0.kty", "RSA", "'kty' is 'RSA'"),
        ("keys.0.x", "AAAA", "'x' is 'AAAA'"),
    ],
)
def test_malformed_bundles_are_refused_naming_the_field(
    acme_ca: CertificateAuthority, path: str, value: object, message: str
) -> None:
    document = _mutated(bundle_of(acme_ca).to_jwks(), path, value)
    with pytest.raises(BundleError, match=message):
        parse_jwks(ACME, document)


@pytest.mark.parametrize("text", [b"{not json", b"[1, 2]"])
def test_non_object_documents_are_refused(text: bytes) -> None:
    with pytest.raises(BundleError, match=f"bundle for {ACME}"):
        parse_jwks(ACME, text)


def test_with_roots_moves_the_sequence_forward(
    acme_ca: CertificateAuthority, partner_ca: CertificateAuthority
) -> None:
    first = TrustBundle(ACME, acme_ca.roots, sequence=4)
    second = first.with_roots((*acme_ca.roots, partner_ca.root_cert))
    assert second.sequence == 5
    assert accept_update(first, second) == second


def test_lower_sequence_is_refused_as_a_rollback(acme_ca: CertificateAuthority) -> None:
    held = TrustBundle(ACME, acme_ca.roots, sequence=5)
    with pytest.raises(BundleRollbackError, match="sequence 4 is older than the held 5"):
        accept_update(held, TrustBundle(ACME, (), sequence=4))


def test_reused_sequence_with_other_roots_is_refused(
    acme_ca: CertificateAuthority, partner_ca: CertificateAuthority
) -> None:
    held = TrustBundle(ACME, acme_ca.roots, sequence=5)
    assert accept_update(held, TrustBundle(ACME, acme_ca.roots, sequence=5)) is held
    with pytest.raises(BundleRollbackError, match="reused"):
        accept_update(held, TrustBundle(ACME, (partner_ca.root_cert,), sequence=5))


def test_update_for_another_trust_domain_is_refused(acme_ca: CertificateAuthority) -> None:
    with pytest.raises(BundleError, match=f"{PARTNER} cannot replace the bundle of {ACME}"):
        accept_update(TrustBundle(ACME, acme_ca.roots), TrustBundle(PARTNER, acme_ca.roots))


def test_bundle_set_selects_roots_by_trust_domain(
    acme_ca: CertificateAuthority, partner_ca: CertificateAuthority, federated: BundleSet
) -> None:
    assert federated.for_trust_domain(ACME).roots == acme_ca.roots
    assert federated.for_trust_domain(PARTNER).roots == partner_ca.roots
    with pytest.raises(UnknownTrustDomainError, match=r"'other\.test'.*federates_with"):
        federated.for_trust_domain("other.test")


def test_bundle_set_replaces_a_domain_and_refuses_duplicates(
    acme_ca: CertificateAuthority, federated: BundleSet
) -> None:
    newer = federated.for_trust_domain(ACME).with_roots(acme_ca.roots)
    updated = federated.with_bundle(newer)
    assert updated.for_trust_domain(ACME).sequence == newer.sequence
    assert updated.trust_domains == (ACME, PARTNER)
    with pytest.raises(BundleError, match=f"several bundles for {ACME}"):
        BundleSet((newer, newer))
