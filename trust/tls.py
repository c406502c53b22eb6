"""mTLS between SPIFFE workloads with Python's ``ssl``.

``ssl`` trusts one pool of CAs and cannot pick roots by the peer's trust domain. So the
handshake runs against the roots of every federated domain, and right after it
``verify_peer`` rebuilds the chain the peer sent against the bundle of the trust domain named
in the peer's SPIFFE ID. A caller closes the connection when ``verify_peer`` raises; only then
is the connection authenticated. The handshake alone is not enough: a federated domain's root
could otherwise vouch for an ID in another domain (SPIFFE Trust Domain and Bundle 6.4).
"""

from __future__ import annotations

import secrets
import ssl
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trust.bundle import BundleSet
from trust.keys import PrivateKey
from trust.spiffe_id import SpiffeId
from trust.verify import SvidVerificationError, verify_svid_chain

PeerCheck = SpiffeId | Callable[[SpiffeId], bool] | None


class PeerIdentityError(SvidVerificationError):
    """The peer holds a valid SVID, but not for the identity this side expects."""


def server_context(chain_pem: str, private_key: PrivateKey, bundles: BundleSet) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _configure(context, chain_pem, private_key, bundles)
    return context


def bundle_server_context(chain_pem: str, private_key: PrivateKey) -> ssl.SSLContext:
    """The https_spiffe bundle endpoint: it shows its SVID and asks the client for nothing
    (SPIFFE Federation 5.2.2: the endpoint is public, only the server authenticates)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_identity(context, chain_pem, private_key)
    return context


def client_context(chain_pem: str, private_key: PrivateKey, bundles: BundleSet) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # SVIDs name workloads by URI SAN, not DNS; identity is checked by verify_peer instead.
    context.check_hostname = False
    _configure(context, chain_pem, private_key, bundles)
    return context


def verify_peer(
    connection: ssl.SSLSocket | ssl.SSLObject,
    bundles: BundleSet,
    now: datetime,
    expect: PeerCheck = None,
) -> SpiffeId:
    """The peer's SPIFFE ID, verified against its own trust domain's bundle and ``expect``."""
    peer_id = verify_svid_chain(peer_chain(connection), bundles, now)
    if isinstance(expect, SpiffeId) and peer_id != expect:
        raise PeerIdentityError(
            f"peer presented {peer_id} but {expect} was expected: connect to the right "
            "endpoint or change the expected SPIFFE ID"
        )
    if callable(expect) and not expect(peer_id):
        raise PeerIdentityError(f"peer {peer_id} is not an identity this endpoint accepts")
    return peer_id


def peer_chain(connection: ssl.SSLSocket | ssl.SSLObject) -> list[x509.Certificate]:
    """The certificates the peer sent, leaf first.

    Python 3.13 exposes ``get_unverified_chain``; 3.11 and 3.12 have the same call on the
    private ``_sslobj``. The unverified chain is what we want: the verified one ends at a root
    OpenSSL picked from the pooled roots, which may belong to the wrong trust domain.
    """
    getter = getattr(connection, "get_unverified_chain", None)
    if getter is None:
        getter = connection._sslobj.get_unverified_chain  # type: ignore[union-attr]
    return [x509.load_der_x509_certificate(_der(item)) for item in getter() or []]


def _der(item: Any) -> bytes:
    # 3.13's public call gives DER bytes; the 3.11 private one gives _ssl.Certificate objects.
    if isinstance(item, bytes):
        return item
    return ssl.PEM_cert_to_DER_cert(item.public_bytes())


def _configure(
    context: ssl.SSLContext, chain_pem: str, private_key: PrivateKey, bundles: BundleSet
) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    roots = bundles.all_roots_pem()
    if not roots:
        raise SvidVerificationError("the bundle set holds no roots: add at least your own bundle")
    context.load_verify_locations(cadata=roots)
    load_identity(context, chain_pem, private_key)


def load_identity(context: ssl.SSLContext, chain_pem: str, private_key: PrivateKey) -> None:
    """Set (or replace: later handshakes use it) the certificate chain and key ``context`` shows."""
    # ssl only loads keys from files; the key goes there encrypted under a one-time password
    # and the directory is removed at once, so the private key never touches disk in clear.
    password = secrets.token_bytes(32)
    encrypted = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with tempfile.TemporaryDirectory(prefix="meshfed-svid-") as directory:
        chain_file = Path(directory, "chain.pem")
        key_file = Path(directory, "key.pem")
        chain_file.write_text(chain_pem)
        key_file.write_bytes(encrypted)
        key_file.chmod(0o600)
        context.load_cert_chain(chain_file, key_file, password=password)
