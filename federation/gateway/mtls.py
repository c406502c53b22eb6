"""mtls mode: the gateway ends the client's TLS with its own SVID, checks who is calling against
the authorization policies, and opens mutual TLS to the next hop.

The peer is verified after the handshake with ``verify_peer`` against the bundle of the trust
domain its SPIFFE ID names (``ssl`` alone would accept a chain from any federated root). Every
refusal is logged on ``meshfed.gateway.audit`` with the policy decision's reason, and carried in
its event (caller and policy included) for the control plane's audit log.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from federation.gateway.events import EventKind, Rejected
from federation.gateway.relay import HeldProtocol
from federation.gateway.routes import Upstream
from trust.bundle import BundleSet, TrustBundle
from trust.policy import Action, Policy, evaluate
from trust.tls import client_context, server_context, verify_peer
from trust.verify import SvidVerificationError

audit = logging.getLogger("meshfed.gateway.audit")


def _now() -> datetime:
    return datetime.now(UTC)


class MtlsTerminator:
    def __init__(
        self,
        server_context: ssl.SSLContext,
        client_context: ssl.SSLContext,
        bundles: BundleSet,
        policies: Sequence[Policy],
        default_action: Action = "deny",
        *,
        handshake_timeout: float = 10.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._server_context = server_context
        self._client_context = client_context
        self._bundles = bundles
        self._policies = tuple(policies)
        self._default = default_action
        self._handshake_timeout = handshake_timeout
        self._clock = clock
        # ssl reports the SNI to a callback during the handshake, before asyncio hands over
        # the transport; it is kept per TLS object until connection_made asks for it.
        self._names: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()
        server_context.sni_callback = self._remember_name

    @property
    def server_context(self) -> ssl.SSLContext:
        return self._server_context

    def _remember_name(
        self, tls: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext
    ) -> None:
        if name is not None and isinstance(tls, ssl.SSLObject):
            self._names[tls] = name

    def server_name(self, transport: asyncio.Transport) -> str | None:
        tls = transport.get_extra_info("ssl_object")
        return self._names.pop(tls, None) if isinstance(tls, ssl.SSLObject) else None

    def authorize(self, transport: asyncio.Transport, service: str) -> str:
        tls = transport.get_extra_info("ssl_object")
        assert isinstance(tls, ssl.SSLObject)
        try:
            peer = verify_peer(tls, self._bundles, self._clock())
        except SvidVerificationError as error:
            audit.warning("caller refused", extra={"service": service, "reason": str(error)})
            raise Rejected(
                EventKind.PEER_REJECTED, f"caller's SVID did not verify: {error}"
            ) from None
        decision = evaluate(self._policies, peer, service, default=self._default)
        if not decision.allowed:
            audit.warning(
                "caller denied",
                extra={
                    "peer_id": str(peer),
                    "service": service,
                    "policy": decision.policy_name,
                    "reason": decision.reason,
                },
            )
            raise Rejected(
                EventKind.DENIED, decision.reason, peer_id=str(peer), policy=decision.policy_name
            )
        return str(peer)

    async def dial(self, upstream: Upstream, server_name: str) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(
            HeldProtocol,
            upstream.address,
            upstream.port,
            ssl=self._client_context,
            server_hostname=server_name,
            ssl_handshake_timeout=self._handshake_timeout,
        )
        tls = transport.get_extra_info("ssl_object")
        try:
            assert isinstance(tls, ssl.SSLObject)
            verify_peer(tls, self._bundles, self._clock())
        except SvidVerificationError as error:
            transport.abort()
            # An OSError, so governance counts it as a failed connect and tries the next one.
            raise ConnectionError(
                f"next hop {upstream.address}:{upstream.port} is not a SPIFFE workload this "
                f"gateway trusts: {error}"
            ) from None
        return transport


class SvidFilesError(ValueError):
    """The gateway's SVID, key or a bundle file cannot be used."""


def load_terminator(
    cert_file: str,
    key_file: str,
    bundle_files: Mapping[str, str],
    policies: Sequence[Policy],
    default_action: Action,
    handshake_timeout: float,
) -> MtlsTerminator:
    """Build mtls mode from PEM files: the SVID chain (leaf first), its key, and the roots of
    each trust domain (``bundle_files``: trust domain -> file). Run once, before serving."""
    chain_pem = _read(cert_file, "--svid-cert").decode("ascii", errors="replace")
    try:
        key = serialization.load_pem_private_key(_read(key_file, "--svid-key"), password=None)
    except ValueError as error:
        raise SvidFilesError(
            f"--svid-key {key_file}: not an unencrypted PEM key: {error}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SvidFilesError(f"--svid-key {key_file}: use an EC or RSA key, as SVIDs do")
    bundles = []
    for trust_domain, path in sorted(bundle_files.items()):
        try:
            roots = x509.load_pem_x509_certificates(_read(path, "bundle"))
            bundles.append(TrustBundle(trust_domain, tuple(roots)))
        except ValueError as error:
            raise SvidFilesError(
                f"bundle {path} for {trust_domain}: not PEM certificates: {error}"
            ) from None
    bundle_set = BundleSet(tuple(bundles))
    try:
        server = server_context(chain_pem, key, bundle_set)
        client = client_context(chain_pem, key, bundle_set)
    except (ssl.SSLError, SvidVerificationError) as error:
        raise SvidFilesError(
            f"--svid-cert {cert_file} and --svid-key {key_file} do not make a TLS identity: "
            f"{error}; check that the key belongs to the certificate"
        ) from None
    return MtlsTerminator(
        server, client, bundle_set, policies, default_action, handshake_timeout=handshake_timeout
    )


def _read(path: str, flag: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise SvidFilesError(f"{flag} {path}: cannot read it ({error.strerror})") from None
