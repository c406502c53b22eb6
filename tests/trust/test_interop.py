"""Our SVIDs, bundles and IDs as other SPIFFE implementations and OpenSSL see them."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import spiffe
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.api_jwk import PyJWKSet

from tests.trust.conftest import ACME, bundle_of, issue_workload
from trust.bundle import TrustBundle
from trust.ca import CertificateAuthority, build_intermediate_certificate
from trust.keys import KeyType
from trust.spiffe_id import SpiffeId
from trust.svid import build_svid_certificate

WEB = f"spiffe://{ACME}/ns/web/sa/frontend"
OPENSSL = shutil.which("openssl")


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_py_spiffe_parses_our_svid_with_its_key(
    acme_ca: CertificateAuthority, now: datetime
) -> None:
    workload = issue_workload(acme_ca, WEB, now)
    key_pem = workload.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    svid = spiffe.X509Svid.parse(workload.svid.chain_pem.encode(), key_pem)
    assert str(svid.spiffe_id) == WEB
    assert [c.serial_number for c in svid.cert_chain] == [
        c.serial_number for c in x509.load_pem_x509_certificates(workload.svid.chain_pem.encode())
    ]


def test_py_spiffe_reads_the_authorities_of_our_bundle(acme_ca: CertificateAuthority) -> None:
    document = bundle_of(acme_ca).to_jwks()
    der = b"".join(base64.b64decode(key["x5c"][0]) for key in document["keys"])
    parsed = spiffe.X509Bundle.parse_raw(spiffe.TrustDomain(ACME), der)
    assert parsed.x509_authorities == set(acme_ca.roots)
    pem_parsed = spiffe.X509Bundle.parse(
        spiffe.TrustDomain(ACME), bundle_of(acme_ca).roots_pem().encode()
    )
    assert pem_parsed.x509_authorities == set(acme_ca.roots)


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-3072"])
def test_our_jwk_set_is_a_standard_rfc7517_document(
    authority_of: Callable[[KeyType], CertificateAuthority], key_type: KeyType
) -> None:
    ca = authority_of(key_type)
    document = TrustBundle(ca.trust_domain, ca.roots, sequence=2).to_jwks()
    [jwk] = PyJWKSet.from_dict(document).keys
    ours = ca.root_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = jwk.key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert theirs == ours


_SEG = st.text("abcXYZ019.-_", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))


@settings(deadline=None)
@given(st.text("abc019.-_", min_size=1, max_size=20), st.lists(_SEG, max_size=5))
def test_every_id_we_accept_py_spiffe_reads_the_same(
    trust_domain: str, segments: list[str]
) -> None:
    ours = SpiffeId(trust_domain, "".join("/" + s for s in segments))
    theirs = spiffe.SpiffeId(str(ours))
    assert (theirs.trust_domain.name, theirs.path) == (ours.trust_domain, ours.path)


needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")


def _openssl_verify(tmp_path: Path, root: str, intermediate: str, leaf: str, *extra: str) -> str:
    files = {"root.pem": root, "intermediate.pem": intermediate, "leaf.pem": leaf}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert OPENSSL is not None
    result = subprocess.run(
        [
            OPENSSL,
            "verify",
            *extra,
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "intermediate.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout + result.stderr


@needs_openssl
@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-3072"])
@pytest.mark.parametrize("purpose", ["sslserver", "sslclient"])
def test_openssl_accepts_our_chains(
    tmp_path: Path,
    authority_of: Callable[[KeyType], CertificateAuthority],
    now: datetime,
    key_type: KeyType,
    purpose: str,
) -> None:
    ca = authority_of(key_type)
    workload = issue_workload(ca, f"spiffe://{ca.trust_domain}/ns/web", now)
    output = _openssl_verify(
        tmp_path,
        workload.svid.bundle_pem,
        _pem(ca.intermediate_cert),
        workload.svid.leaf_pem,
        "-purpose",
        purpose,
    )
    assert output.strip().endswith(": OK"), output


@needs_openssl
def test_openssl_enforces_our_uri_name_constraints(
    tmp_path: Path, acme_ca: CertificateAuthority, now: datetime
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = build_intermediate_certificate(
        "other.test", key, acme_ca.root_cert, acme_ca.root_key, now, timedelta(days=1)
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = build_svid_certificate(
        SpiffeId(ACME, "/ns/web"), leaf_key.public_key(), other, key, now, timedelta(hours=1)
    )
    output = _openssl_verify(tmp_path, _pem(acme_ca.root_cert), _pem(other), _pem(leaf))
    assert "permitted subtree violation" in output, output
