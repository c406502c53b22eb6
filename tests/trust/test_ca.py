from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.trust.conftest import ACME
from trust.ca import CertificateAuthority, create_authority
from trust.kek import Kek, KekError, KekMismatchError
from trust.keys import KeyType, UnsupportedKeyError, private_key_der
from trust.spiffe_id import InvalidSpiffeIdError


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(kind)


def test_root_is_a_self_signed_ca_allowing_one_intermediate(acme_ca: CertificateAuthority) -> None:
    root = acme_ca.root_cert
    root.verify_directly_issued_by(root)
    constraints = _ext(root, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 1
    usage = _ext(root, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and not usage.value.digital_signature
    ski = _ext(root, x509.SubjectKeyIdentifier).value.digest
    assert _ext(root, x509.AuthorityKeyIdentifier).value.key_identifier == ski


def test_intermediate_may_only_name_its_own_trust_domain(acme_ca: CertificateAuthority) -> None:
    intermediate = acme_ca.intermediate_cert
    intermediate.verify_directly_issued_by(acme_ca.root_cert)
    assert _ext(intermediate, x509.BasicConstraints).value.path_length == 0
    constraints = _ext(intermediate, x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.UniformResourceIdentifier(ACME)]
    root_ski = _ext(acme_ca.root_cert, x509.SubjectKeyIdentifier).value.digest
    aki = _ext(intermediate, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == root_ski
    san = _ext(intermediate, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"spiffe://{ACME}"]


def test_intermediate_never_outlives_its_root(now: datetime) -> None:
    ca = create_authority(
        "short.test", now, root_ttl=timedelta(days=10), intermediate_ttl=timedelta(days=90)
    )
    assert ca.intermediate_cert.not_valid_after_utc == ca.root_cert.not_valid_after_utc


@pytest.mark.parametrize(
    ("key_type", "expected"),
    [("ec-p256", "secp256r1"), ("ec-p384", "secp384r1"), ("rsa-3072", 3072)],
)
def test_each_key_type_produces_that_key(
    authority_of: Callable[[KeyType], CertificateAuthority], key_type: KeyType, expected: str | int
) -> None:
    ca = authority_of(key_type)
    for key in (ca.root_key, ca.intermediate_key):
        if isinstance(key, ec.EllipticCurvePrivateKey):
            assert key.curve.name == expected
        else:
            assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == expected
    ca.intermediate_cert.verify_directly_issued_by(ca.root_cert)


def test_unknown_key_type_names_the_supported_ones(now: datetime) -> None:
    with pytest.raises(UnsupportedKeyError, match="ec-p256, ec-p384, rsa-3072"):
        create_authority("keys.test", now, key_type="dsa-1024")  # type: ignore[arg-type]


def test_invalid_trust_domain_is_refused(now: datetime) -> None:
    with pytest.raises(InvalidSpiffeIdError):
        create_authority("Acme.Mesh", now)


def test_sealed_authority_round_trips_without_clear_private_keys(
    acme_ca: CertificateAuthority,
) -> None:
    kek = Kek(secrets.token_bytes(32), "test")
    blob = acme_ca.to_sealed(kek)
    for key in (acme_ca.root_key, acme_ca.intermediate_key):
        der = private_key_der(key)
        assert der not in blob
        assert base64.b64encode(der) not in blob
    restored = CertificateAuthority.from_sealed(kek, blob)
    assert restored.trust_domain == acme_ca.trust_domain
    assert restored.root_cert == acme_ca.root_cert
    assert restored.intermediate_cert == acme_ca.intermediate_cert
    assert private_key_der(restored.root_key) == private_key_der(acme_ca.root_key)
    assert private_key_der(restored.intermediate_key) == private_key_der(acme_ca.intermediate_key)


def test_sealed_authority_refuses_a_wrong_kek(acme_ca: CertificateAuthority) -> None:
    blob = acme_ca.to_sealed(Kek(secrets.token_bytes(32), "file a"))
    with pytest.raises(KekMismatchError, match="MESHFED_KEK / kek_file"):
        CertificateAuthority.from_sealed(Kek(secrets.token_bytes(32), "file b"), blob)


def test_sealed_authority_moved_to_another_trust_domain_is_refused(
    acme_ca: CertificateAuthority,
) -> None:
    kek = Kek(secrets.token_bytes(32), "test")
    envelope = json.loads(acme_ca.to_sealed(kek))
    envelope["trust_domain"] = "evil.test"
    with pytest.raises(KekError, match="altered"):
        CertificateAuthority.from_sealed(kek, json.dumps(envelope).encode())


def test_garbage_instead_of_a_sealed_authority_is_refused() -> None:
    with pytest.raises(KekError, match="meshfed-ca/1"):
        CertificateAuthority.from_sealed(Kek(secrets.token_bytes(32), "t"), b"{}")


def test_repr_of_an_authority_hides_its_keys(acme_ca: CertificateAuthority) -> None:
    assert "PrivateKey" not in repr(acme_ca)
