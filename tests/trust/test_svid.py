from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.trust.conftest import ACME, PARTNER
from trust.ca import CertificateAuthority, IssuerExpiredError, create_authority
from trust.keys import PrivateKey
from trust.spiffe_id import SpiffeId
from trust.svid import CsrRefusal, CsrRefusedError, create_csr, issue_svid

WEB = f"spiffe://{ACME}/ns/web/sa/frontend"


def _csr(
    key: PrivateKey | ed25519.Ed25519PrivateKey,
    uris: list[str],
    ca: bool | None = None,
) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    if uris:
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _tampered_signature_csr() -> str:
    der = bytearray(
        x509.load_pem_x509_csr(_csr(_ec_key(), [WEB]).encode()).public_bytes(
            serialization.Encoding.DER
        )
    )
    der[-5] ^= 0x01  # inside the ECDSA signature, which ends the DER structure
    csr = x509.load_der_x509_csr(bytes(der))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("csr_factory", "requested", "reason", "hint"),
    [
        (lambda: "not a csr", WEB, CsrRefusal.UNREADABLE, "PEM"),
        (_tampered_signature_csr, WEB, CsrRefusal.BAD_SIGNATURE, "sign the CSR"),
        (
            lambda: _csr(_ec_key(), []),
            f"spiffe://{ACME}/ns/../web",
            CsrRefusal.INVALID_SPIFFE_ID,
            "relative",
        ),
        (lambda: _csr(_ec_key(), []), f"spiffe://{ACME}", CsrRefusal.INVALID_SPIFFE_ID, "path"),
        (
            lambda: _csr(_ec_key(), [f"spiffe://{PARTNER}/ns/web"]),
            f"spiffe://{PARTNER}/ns/web",
            CsrRefusal.FOREIGN_TRUST_DOMAIN,
            f"spiffe://{ACME}/",
        ),
        (
            lambda: _csr(_ec_key(), [WEB, f"spiffe://{ACME}/ns/admin"]),
            WEB,
            CsrRefusal.MULTIPLE_URI_SANS,
            "only the requested SPIFFE ID",
        ),
        (
            lambda: _csr(_ec_key(), [f"spiffe://{ACME}/ns/admin"]),
            WEB,
            CsrRefusal.URI_SAN_MISMATCH,
            "make them the same",
        ),
        (lambda: _csr(_ec_key(), [WEB], ca=True), WEB, CsrRefusal.CA_REQUESTED, "ca=false"),
        (
            lambda: _csr(rsa.generate_private_key(65537, 1024), [WEB]),
            WEB,
            CsrRefusal.UNSUPPORTED_KEY,
            "2048",
        ),
        (
            lambda: _csr(ed25519.Ed25519PrivateKey.generate(), [WEB]),
            WEB,
            CsrRefusal.UNSUPPORTED_KEY,
            "EC",
        ),
    ],
)
def test_csr_is_refused_with_a_reason_and_what_to_change(
    acme_ca: CertificateAuthority,
    now: datetime,
    csr_factory: object,
    requested: str,
    reason: CsrRefusal,
    hint: str,
) -> None:
    assert callable(csr_factory)
    with pytest.raises(CsrRefusedError) as caught:
        issue_svid(acme_ca, csr_factory(), requested, now)
    assert caught.value.reason is reason
    assert hint in str(caught.value)


def test_csr_with_ca_false_basic_constraints_is_accepted(
    acme_ca: CertificateAuthority, now: datetime
) -> None:
    issued = issue_svid(acme_ca, _csr(_ec_key(), [WEB], ca=False), WEB, now)
    assert str(issued.spiffe_id) == WEB


def test_csr_without_uri_san_gets_the_requested_id(
    acme_ca: CertificateAuthority, now: datetime
) -> None:
    issued = issue_svid(acme_ca, _csr(_ec_key(), []), WEB, now)
    leaf = x509.load_pem_x509_certificate(issued.leaf_pem.encode())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [WEB]


@pytest.mark.parametrize("key_type", ["ec-p256", "rsa-3072"])
def test_leaf_follows_the_x509_svid_profile(
    acme_ca: CertificateAuthority, now: datetime, key_type: str
) -> None:
    request = create_csr(SpiffeId(ACME, "/ns/web/sa/frontend"), key_type)  # type: ignore[arg-type]
    issued = issue_svid(acme_ca, request.csr_pem, WEB, now)
    leaf = x509.load_pem_x509_certificate(issued.leaf_pem.encode())
    leaf.verify_directly_issued_by(acme_ca.intermediate_cert)
    ext = leaf.extensions
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [WEB]
    assert len(list(san)) == 1
    constraints = ext.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_cert_sign and not usage.value.crl_sign
    assert usage.value.key_encipherment == (key_type == "rsa-3072")
    assert set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    assert leaf.public_key() == request.private_key.public_key()


def test_issued_svid_carries_chain_bundle_and_a_24h_default_ttl(
    acme_ca: CertificateAuthority, now: datetime
) -> None:
    issued = issue_svid(
        acme_ca, create_csr(SpiffeId(ACME, "/a")).csr_pem, f"spiffe://{ACME}/a", now
    )
    chain = x509.load_pem_x509_certificates(issued.chain_pem.encode())
    assert [c.subject for c in chain] == [
        x509.load_pem_x509_certificate(issued.leaf_pem.encode()).subject,
        acme_ca.intermediate_cert.subject,
    ]
    assert x509.load_pem_x509_certificates(issued.bundle_pem.encode()) == [acme_ca.root_cert]
    assert issued.expires_at == now + timedelta(hours=24)
    assert chain[0].not_valid_after_utc == issued.expires_at


def test_serial_numbers_are_random_per_issue(acme_ca: CertificateAuthority, now: datetime) -> None:
    request = create_csr(SpiffeId(ACME, "/a"))
    serials = {
        x509.load_pem_x509_certificate(
            issue_svid(acme_ca, request.csr_pem, request.spiffe_id, now).leaf_pem.encode()
        ).serial_number
        for _ in range(3)
    }
    assert len(serials) == 3


def test_ttl_never_reaches_beyond_the_intermediate(now: datetime) -> None:
    ca = create_authority("short.test", now, intermediate_ttl=timedelta(hours=2))
    request = create_csr(SpiffeId("short.test", "/a"))
    issued = issue_svid(ca, request.csr_pem, request.spiffe_id, now, ttl=timedelta(days=7))
    assert issued.expires_at == ca.intermediate_cert.not_valid_after_utc


def test_an_expired_intermediate_issues_nothing(now: datetime) -> None:
    ca = create_authority("old.test", now - timedelta(days=10), intermediate_ttl=timedelta(days=1))
    request = create_csr(SpiffeId("old.test", "/a"))
    with pytest.raises(IssuerExpiredError, match="rotate the CA"):
        issue_svid(ca, request.csr_pem, request.spiffe_id, now)
