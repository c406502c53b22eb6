"""X509-SVID issuance from a certificate signing request (CSR)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trust.ca import CertificateAuthority, require_valid_issuer
from trust.keys import KeyType, PrivateKey, PublicKey, generate_key, signature_hash
from trust.spiffe_id import InvalidSpiffeIdError, SpiffeId, parse_spiffe_id

DEFAULT_SVID_TTL = timedelta(hours=24)
# Peers' clocks drift; a leaf valid from "now" is briefly rejected by a peer a little behind.
CLOCK_SKEW_ALLOWANCE = timedelta(seconds=30)


class CsrRefusal(enum.Enum):
    UNREADABLE = "csr_unreadable"
    BAD_SIGNATURE = "csr_bad_signature"
    UNSUPPORTED_KEY = "csr_unsupported_key"
    INVALID_SPIFFE_ID = "invalid_spiffe_id"
    FOREIGN_TRUST_DOMAIN = "foreign_trust_domain"
    MULTIPLE_URI_SANS = "multiple_uri_sans"
    URI_SAN_MISMATCH = "uri_san_mismatch"
    CA_REQUESTED = "ca_requested"


class CsrRefusedError(ValueError):
    """The CA will not sign this CSR; ``reason`` is a stable code for API clients."""

    def __init__(self, reason: CsrRefusal, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class IssuedSvid:
    spiffe_id: SpiffeId
    leaf_pem: str
    chain_pem: str
    bundle_pem: str
    expires_at: datetime

    @property
    def serial(self) -> int:
        return x509.load_pem_x509_certificate(self.leaf_pem.encode()).serial_number


@dataclass(frozen=True, slots=True)
class WorkloadKey:
    """A workload's fresh private key and the CSR asking for its SPIFFE ID."""

    spiffe_id: SpiffeId
    private_key: PrivateKey = field(repr=False)
    csr_pem: str


def create_csr(spiffe_id: SpiffeId, key_type: KeyType = "ec-p256") -> WorkloadKey:
    key = generate_key(key_type)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(spiffe_id))]),
            critical=True,
        )
        .sign(key, signature_hash(key))
    )
    return WorkloadKey(spiffe_id, key, csr.public_bytes(serialization.Encoding.PEM).decode())


def issue_svid(
    ca: CertificateAuthority,
    csr_pem: str | bytes,
    spiffe_id: str | SpiffeId,
    now: datetime,
    ttl: timedelta = DEFAULT_SVID_TTL,
) -> IssuedSvid:
    """Check the CSR against the requested ID and sign a leaf with the intermediate."""
    requested = requested_id(spiffe_id)
    csr = load_csr(csr_pem)
    public_key = check_csr(csr, requested, ca.trust_domain)
    require_valid_issuer(ca.intermediate_cert, now)
    leaf = build_svid_certificate(
        requested, public_key, ca.intermediate_cert, ca.intermediate_key, now, ttl
    )
    leaf_pem = _pem(leaf)
    return IssuedSvid(
        spiffe_id=requested,
        leaf_pem=leaf_pem,
        chain_pem=leaf_pem + _pem(ca.intermediate_cert),
        bundle_pem="".join(_pem(root) for root in ca.roots),
        expires_at=leaf.not_valid_after_utc,
    )


def check_csr(
    csr: x509.CertificateSigningRequest, requested: SpiffeId, trust_domain: str
) -> PublicKey:
    """Return the CSR's public key when the CA may sign it for ``requested``; raise otherwise."""
    if not csr.is_signature_valid:
        raise CsrRefusedError(
            CsrRefusal.BAD_SIGNATURE,
            "the CSR signature does not verify: sign the CSR with the private key it carries",
        )
    if not requested.member_of(trust_domain):
        raise CsrRefusedError(
            CsrRefusal.FOREIGN_TRUST_DOMAIN,
            f"spiffe_id {requested} is in trust domain {requested.trust_domain!r}, "
            f"but this CA issues only for {trust_domain!r}: request an ID under "
            f"spiffe://{trust_domain}/ or ask that trust domain's CA",
        )
    if not requested.path:
        raise CsrRefusedError(
            CsrRefusal.INVALID_SPIFFE_ID,
            f"spiffe_id {requested} names the trust domain itself: X509-SVID 2 requires a "
            "workload path such as /ns/NAMESPACE/sa/ACCOUNT",
        )
    _check_uri_sans(csr, requested)
    _check_not_ca(csr)
    public_key = csr.public_key()
    if not isinstance(public_key, PublicKey):
        raise CsrRefusedError(
            CsrRefusal.UNSUPPORTED_KEY,
            f"the CSR carries a {type(public_key).__name__}: use an EC (P-256/P-384) "
            "or RSA (>= 2048 bits) key",
        )
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        raise CsrRefusedError(
            CsrRefusal.UNSUPPORTED_KEY,
            f"the CSR's RSA key is {public_key.key_size} bits: use at least 2048 bits",
        )
    return public_key


def build_svid_certificate(
    spiffe_id: SpiffeId,
    public_key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    now: datetime,
    ttl: timedelta,
) -> x509.Certificate:
    not_before = max(now - CLOCK_SKEW_ALLOWANCE, issuer.not_valid_before_utc)
    not_after = min(now + ttl, issuer.not_valid_after_utc)
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIFFE")]))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        # X509-SVID 4.1 / 4.3 / 4.4: leaf is not a CA, signs, may encipher (RSA key transport).
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(spiffe_id))]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .sign(issuer_key, signature_hash(issuer_key))
    )


def requested_id(spiffe_id: str | SpiffeId) -> SpiffeId:
    if isinstance(spiffe_id, SpiffeId):
        return spiffe_id
    try:
        return parse_spiffe_id(spiffe_id)
    except InvalidSpiffeIdError as exc:
        raise CsrRefusedError(CsrRefusal.INVALID_SPIFFE_ID, str(exc)) from exc


def load_csr(csr_pem: str | bytes) -> x509.CertificateSigningRequest:
    data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    try:
        return x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise CsrRefusedError(
            CsrRefusal.UNREADABLE,
            f"the CSR is not a PEM 'CERTIFICATE REQUEST' ({exc}): send the PEM text as produced "
            "by 'openssl req' or trust.svid.create_csr",
        ) from None


def _check_uri_sans(csr: x509.CertificateSigningRequest, requested: SpiffeId) -> None:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) > 1:
        raise CsrRefusedError(
            CsrRefusal.MULTIPLE_URI_SANS,
            f"the CSR has {len(uris)} URI SANs ({', '.join(uris)}): X509-SVID 2 allows exactly "
            "one; put only the requested SPIFFE ID in the CSR",
        )
    if uris and uris[0] != str(requested):
        raise CsrRefusedError(
            CsrRefusal.URI_SAN_MISMATCH,
            f"the CSR's URI SAN {uris[0]!r} differs from the requested spiffe_id {requested}: "
            "make them the same",
        )


def _check_not_ca(csr: x509.CertificateSigningRequest) -> None:
    try:
        constraints = csr.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return
    if constraints.ca:
        raise CsrRefusedError(
            CsrRefusal.CA_REQUESTED,
            "the CSR asks for a CA certificate (BasicConstraints ca=true): workloads get leaf "
            "SVIDs only; remove the BasicConstraints extension or set ca=false",
        )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
