"""X509-SVID verification against the bundle of the SVID's own trust domain (X509-SVID 5).

Chain building is done here rather than by ``cryptography.x509.verification`` because that
verifier refuses URI name constraints, which every SPIFFE intermediate carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from trust.bundle import BundleSet, UnknownTrustDomainError
from trust.spiffe_id import InvalidSpiffeIdError, SpiffeId, parse_spiffe_id

# Root + intermediates above a leaf; SPIFFE deployments nest a handful of CAs at most.
MAX_CHAIN_DEPTH = 8


class SvidVerificationError(Exception):
    """A presented X509-SVID is not acceptable."""


def verify_svid_chain(
    chain: Sequence[x509.Certificate], bundles: BundleSet, now: datetime
) -> SpiffeId:
    """The SPIFFE ID of ``chain[0]`` once the chain leads to a root of that ID's trust domain."""
    if not chain:
        raise SvidVerificationError("no certificate was presented: the peer must send its SVID")
    leaf = chain[0]
    spiffe_id = svid_spiffe_id(leaf)
    try:
        bundle = bundles.for_trust_domain(spiffe_id.trust_domain)
    except UnknownTrustDomainError as exc:
        raise SvidVerificationError(f"SVID {spiffe_id} is not trusted: {exc}") from None
    _check_leaf(spiffe_id, leaf)
    path = _build_path(spiffe_id, leaf, list(chain[1:]), bundle.roots)
    for position, cert in enumerate(path):
        _check_validity(spiffe_id, cert, now)
        if position > 0:
            _check_signing_cert(spiffe_id, cert, intermediates_below=position - 1)
            _check_name_constraints(spiffe_id, cert)
    return spiffe_id


def svid_spiffe_id(leaf: x509.Certificate) -> SpiffeId:
    """The single URI SAN of a leaf SVID (X509-SVID 2: exactly one)."""
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if len(uris) != 1:
        raise SvidVerificationError(
            f"certificate {leaf.subject.rfc4514_string()!r} has {len(uris)} URI SANs: an "
            "X509-SVID carries exactly one, its SPIFFE ID"
        )
    try:
        return parse_spiffe_id(uris[0])
    except InvalidSpiffeIdError as exc:
        raise SvidVerificationError(f"the SVID's URI SAN is not a SPIFFE ID: {exc}") from None


def _build_path(
    spiffe_id: SpiffeId,
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    roots: Sequence[x509.Certificate],
) -> list[x509.Certificate]:
    path = [leaf]
    while len(path) <= MAX_CHAIN_DEPTH:
        current = path[-1]
        root = _find_issuer(current, roots)
        if root is not None:
            return [*path, root]
        parent = _find_issuer(current, [c for c in intermediates if c not in path])
        if parent is None:
            break
        path.append(parent)
    raise SvidVerificationError(
        f"SVID {spiffe_id} does not chain to any root in the bundle of trust domain "
        f"{spiffe_id.trust_domain!r}: the peer must send its intermediates, and its CA must be "
        "in that trust domain's bundle (a root of another trust domain never counts)"
    )


def _find_issuer(
    cert: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    for candidate in candidates:
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _check_validity(spiffe_id: SpiffeId, cert: x509.Certificate, now: datetime) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SvidVerificationError(
            f"SVID {spiffe_id}: certificate {cert.subject.rfc4514_string()!r} is valid from "
            f"{cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()}, "
            f"not at {now.isoformat()}: renew it (or check the clock)"
        )


def _check_signing_cert(
    spiffe_id: SpiffeId, cert: x509.Certificate, intermediates_below: int
) -> None:
    name = cert.subject.rfc4514_string()
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise SvidVerificationError(
            f"SVID {spiffe_id}: signing certificate {name!r} lacks BasicConstraints or KeyUsage "
            f"({exc.oid.dotted_string}); X509-SVID 4.1 and 4.3 require both"
        ) from None
    if not constraints.ca or not usage.key_cert_sign:
        raise SvidVerificationError(
            f"SVID {spiffe_id}: {name!r} signed it but is not a CA with keyCertSign (X509-SVID 3.2)"
        )
    if constraints.path_length is not None and intermediates_below > constraints.path_length:
        raise SvidVerificationError(
            f"SVID {spiffe_id}: {name!r} allows pathLen {constraints.path_length} but "
            f"{intermediates_below} intermediates sit below it"
        )


def _check_name_constraints(spiffe_id: SpiffeId, cert: x509.Certificate) -> None:
    """URI subtrees only: an SVID's identity is its URI SAN (RFC 5280 4.2.1.10 for URIs)."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return
    host = spiffe_id.trust_domain
    permitted = [str(n.value) for n in constraints.permitted_subtrees or () if _is_uri(n)]
    excluded = [str(n.value) for n in constraints.excluded_subtrees or () if _is_uri(n)]
    if (permitted and not any(_host_matches(host, p) for p in permitted)) or any(
        _host_matches(host, e) for e in excluded
    ):
        raise SvidVerificationError(
            f"SVID {spiffe_id}: CA {cert.subject.rfc4514_string()!r} may only sign URIs in "
            f"{permitted or 'anything'} excluding {excluded or 'nothing'}"
        )


def _is_uri(name: x509.GeneralName) -> bool:
    return isinstance(name, x509.UniformResourceIdentifier)


def _host_matches(host: str, constraint: str) -> bool:
    # RFC 5280 4.2.1.10: a leading "." matches any subdomain; otherwise the host must be equal.
    if constraint.startswith("."):
        return host.endswith(constraint.lower())
    return host == constraint.lower()


def _check_leaf(spiffe_id: SpiffeId, leaf: x509.Certificate) -> None:
    """X509-SVID 5.2: a leaf, not a CA, naming a workload rather than the trust domain."""
    if not spiffe_id.path:
        raise SvidVerificationError(
            f"SVID {spiffe_id} names the trust domain itself: a leaf SVID needs a path"
        )
    try:
        is_ca = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise SvidVerificationError(
            f"SVID {spiffe_id} is a CA certificate: X509-SVID 5.2 requires a leaf with CA=false"
        )
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if usage.key_cert_sign or usage.crl_sign:
        raise SvidVerificationError(
            f"SVID {spiffe_id} may sign certificates or CRLs: X509-SVID 5.2 forbids "
            "keyCertSign and cRLSign on a leaf"
        )
