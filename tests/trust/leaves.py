"""Leaf certificates signed by a real intermediate but shaped to break an X509-SVID rule, for
tests of what verification refuses."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from trust.ca import CertificateAuthority
from trust.keys import PrivateKey, signature_hash


def custom_leaf(
    ca: CertificateAuthority,
    now: datetime,
    uris: list[str],
    is_ca: bool = False,
    key_cert_sign: bool = False,
    key: PrivateKey | None = None,
) -> x509.Certificate:
    """A one-hour leaf from ``ca``'s intermediate with ``uris`` as its URI SANs; ``key`` (a new
    P-256 key when None) is the one the caller will present it with."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.intermediate_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, key_cert_sign, False, False, False),
            critical=True,
        )
    )
    if uris:
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=True)
    return builder.sign(ca.intermediate_key, signature_hash(ca.intermediate_key))
