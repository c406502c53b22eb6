"""Proof that a caller holds a current SVID: its chain, and its key's signature over the CSR.

A gateway renews its own identity this way without any API token: the chain shows who it is
(verified against the bundle of its own trust domain), and the signature shows it holds that
certificate's key. Signing the CSR itself binds the proof to this one request; a replayed proof
only gets a certificate for a key the replayer does not hold.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from trust.bundle import BundleSet
from trust.keys import PrivateKey
from trust.spiffe_id import SpiffeId
from trust.svid import load_csr
from trust.verify import SvidVerificationError, verify_svid_chain


class PossessionError(Exception):
    """The presented SVID or its proof does not hold; says which part and what to send."""


def sign_possession_proof(private_key: PrivateKey, csr_pem: str) -> str:
    """The proof a holder of ``private_key`` attaches to a renewal request (base64)."""
    message = load_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = private_key.sign(message, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def verify_possession(
    chain_pem: str, csr_pem: str, proof: str, bundles: BundleSet, now: datetime
) -> SpiffeId:
    """The SPIFFE ID of the presented SVID, once its chain verifies and ``proof`` is its key's
    signature over the CSR."""
    try:
        chain = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError as exc:
        raise PossessionError(
            f"svid is not a PEM certificate chain ({exc}): send the chain "
            "you were issued, leaf first"
        ) from exc
    try:
        presented = verify_svid_chain(chain, bundles, now)
    except SvidVerificationError as exc:
        raise PossessionError(f"the presented SVID does not verify: {exc}") from exc
    try:
        signature = base64.b64decode(proof, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PossessionError(
            "proof is not base64: send base64(signature over the CSR's DER)"
        ) from exc
    message = load_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    key = chain[0].public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            raise PossessionError(f"the SVID's key type {type(key).__name__} is not supported")
    except InvalidSignature as exc:
        raise PossessionError(
            "proof is not a signature over this CSR by the presented SVID's key: sign the CSR's "
            "DER with the key of the SVID you present (SHA-256)"
        ) from exc
    return presented
