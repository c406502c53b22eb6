"""A trust domain's CA hierarchy: a self-signed root and an intermediate that signs SVIDs."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from trust.kek import Kek, KekError, open_sealed, seal
from trust.keys import (
    KeyType,
    PrivateKey,
    generate_key,
    load_private_key_der,
    private_key_der,
    signature_hash,
)
from trust.spiffe_id import SpiffeId, validate_trust_domain

SEALED_FORMAT = "meshfed-ca/1"
DEFAULT_ROOT_TTL = timedelta(days=365)
DEFAULT_INTERMEDIATE_TTL = timedelta(days=90)


class IssuerExpiredError(Exception):
    """The signing CA is not valid at the time of issuance."""


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    trust_domain: str
    root_cert: x509.Certificate
    root_key: PrivateKey = field(repr=False)
    intermediate_cert: x509.Certificate
    intermediate_key: PrivateKey = field(repr=False)

    @property
    def roots(self) -> tuple[x509.Certificate, ...]:
        return (self.root_cert,)

    def to_sealed(self, kek: Kek) -> bytes:
        """A JSON envelope whose trust domain is clear and whose keys are AES-GCM sealed."""
        secret = {
            "root_cert": _pem(self.root_cert),
            "root_key": _b64(private_key_der(self.root_key)),
            "intermediate_cert": _pem(self.intermediate_cert),
            "intermediate_key": _b64(private_key_der(self.intermediate_key)),
        }
        sealed = seal(kek, json.dumps(secret).encode(), _aad(self.trust_domain))
        envelope = {"format": SEALED_FORMAT, "trust_domain": self.trust_domain}
        envelope["sealed"] = _b64(sealed)
        return json.dumps(envelope, sort_keys=True).encode()

    @classmethod
    def from_sealed(cls, kek: Kek, blob: bytes) -> CertificateAuthority:
        try:
            envelope = json.loads(blob)
            if envelope["format"] != SEALED_FORMAT:
                raise ValueError(envelope["format"])
            trust_domain = str(envelope["trust_domain"])
            sealed = base64.b64decode(envelope["sealed"], validate=True)
        except (ValueError, KeyError, TypeError) as exc:
            raise KekError(
                f"the stored CA is not a {SEALED_FORMAT} envelope ({exc}): restore it from a backup"
            ) from None
        # The trust domain is authenticated as AES-GCM associated data, so editing it fails here.
        secret = json.loads(open_sealed(kek, sealed, _aad(trust_domain)))
        return cls(
            trust_domain=trust_domain,
            root_cert=x509.load_pem_x509_certificate(secret["root_cert"].encode()),
            root_key=load_private_key_der(base64.b64decode(secret["root_key"])),
            intermediate_cert=x509.load_pem_x509_certificate(secret["intermediate_cert"].encode()),
            intermediate_key=load_private_key_der(base64.b64decode(secret["intermediate_key"])),
        )


def create_authority(
    trust_domain: str,
    now: datetime,
    key_type: KeyType = "ec-p256",
    root_ttl: timedelta = DEFAULT_ROOT_TTL,
    intermediate_ttl: timedelta = DEFAULT_INTERMEDIATE_TTL,
) -> CertificateAuthority:
    validate_trust_domain(trust_domain)
    root_key = generate_key(key_type)
    root = build_root_certificate(trust_domain, root_key, now, root_ttl)
    intermediate_key = generate_key(key_type)
    intermediate = build_intermediate_certificate(
        trust_domain, intermediate_key, root, root_key, now, intermediate_ttl
    )
    return CertificateAuthority(trust_domain, root, root_key, intermediate, intermediate_key)


def build_root_certificate(
    trust_domain: str, key: PrivateKey, now: datetime, ttl: timedelta
) -> x509.Certificate:
    name = _ca_name(trust_domain, "root CA")
    builder = _ca_builder(trust_domain, name, key, now, now + ttl, path_length=1)
    builder = builder.issuer_name(name).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
    )
    return builder.sign(key, signature_hash(key))


def build_intermediate_certificate(
    trust_domain: str,
    key: PrivateKey,
    root: x509.Certificate,
    root_key: PrivateKey,
    now: datetime,
    ttl: timedelta,
) -> x509.Certificate:
    not_after = min(now + ttl, root.not_valid_after_utc)
    builder = _ca_builder(
        trust_domain, _ca_name(trust_domain, "intermediate CA"), key, now, not_after, 0
    )
    builder = (
        builder.issuer_name(root.subject)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        # X509-SVID 4.2: a URI name constraint is matched against the URI's host, which for a
        # SPIFFE ID is the trust domain; so everything below may only name this trust domain.
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.UniformResourceIdentifier(trust_domain)],
                excluded_subtrees=None,
            ),
            critical=True,
        )
    )
    return builder.sign(root_key, signature_hash(root_key))


def require_valid_issuer(cert: x509.Certificate, now: datetime) -> None:
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        raise IssuerExpiredError(
            f"the signing CA {cert.subject.rfc4514_string()} is valid from "
            f"{cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()}, "
            f"not at {now.isoformat()}: rotate the CA ('meshfed trust rotate')"
        )


def _ca_builder(
    trust_domain: str,
    name: x509.Name,
    key: PrivateKey,
    not_before: datetime,
    not_after: datetime,
    path_length: int,
) -> x509.CertificateBuilder:
    trust_domain_id = str(SpiffeId(trust_domain))
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        # X509-SVID 3.2: signing certificates may carry the trust domain's own SPIFFE ID.
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(trust_domain_id)]),
            critical=False,
        )
    )


def _ca_name(trust_domain: str, role: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain),
            x509.NameAttribute(NameOID.COMMON_NAME, f"meshfed {role}"),
        ]
    )


def _aad(trust_domain: str) -> bytes:
    return f"{SEALED_FORMAT}:{trust_domain}".encode()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
