from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.trust.conftest import ACME, PARTNER, bundle_of, issue_workload
from tests.trust.leaves import custom_leaf
from trust.bundle import BundleSet, TrustBundle
from trust.ca import CertificateAuthority, build_intermediate_certificate, build_root_certificate
from trust.keys import PrivateKey
from trust.spiffe_id import SpiffeId
from trust.svid import build_svid_certificate
from trust.verify import SvidVerificationError, verify_svid_chain

WEB = SpiffeId(ACME, "/ns/web")


def _chain(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def _leaf(
    spiffe_id: SpiffeId, issuer: x509.Certificate, issuer_key: PrivateKey, now: datetime
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return build_svid_certificate(
        spiffe_id, key.public_key(), issuer, issuer_key, now, timedelta(hours=1)
    )


def _refused(chain: Sequence[x509.Certificate], bundles: BundleSet, now: datetime) -> str:
    with pytest.raises(SvidVerificationError) as caught:
        verify_svid_chain(chain, bundles, now)
    return str(caught.value)


def test_svids_of_each_federated_domain_verify_to_their_id(
    acme_ca: CertificateAuthority,
    partner_ca: CertificateAuthority,
    federated: BundleSet,
    now: datetime,
) -> None:
    for ca, spiffe_id in ((acme_ca, WEB), (partner_ca, SpiffeId(PARTNER, "/billing"))):
        workload = issue_workload(ca, str(spiffe_id), now)
        assert verify_svid_chain(_chain(workload.svid.chain_pem), federated, now) == spiffe_id


def test_root_of_one_domain_never_vouches_for_another_domains_id(
    acme_ca: CertificateAuthority, now: datetime
) -> None:
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_root = build_root_certificate(PARTNER, rogue_key, now, timedelta(days=1))
    forged = _leaf(WEB, rogue_root, rogue_key, now)
    bundles = BundleSet((bundle_of(acme_ca), TrustBundle(PARTNER, (rogue_root,))))
    message = _refused([forged], bundles, now)
    assert f"bundle of trust domain {ACME!r}" in message


def test_name_constraints_of_an_intermediate_are_enforced(
    acme_ca: CertificateAuthority, now: datetime
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = build_intermediate_certificate(
        "other.test", key, acme_ca.root_cert, acme_ca.root_key, now, timedelta(days=1)
    )
    leaf = _leaf(WEB, other, key, now)
    assert "may only sign URIs in ['other.test']" in _refused(
        [leaf, other], BundleSet((bundle_of(acme_ca),)), now
    )


def test_path_length_of_the_intermediate_is_enforced(
    acme_ca: CertificateAuthority, now: datetime
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    nested = build_intermediate_certificate(
        ACME, key, acme_ca.intermediate_cert, acme_ca.intermediate_key, now, timedelta(days=1)
    )
    leaf = _leaf(WEB, nested, key, now)
    message = _refused(
        [leaf, nested, acme_ca.intermediate_cert], BundleSet((bundle_of(acme_ca),)), now
    )
    assert "pathLen 0" in message


@pytest.mark.parametrize(
    ("offset", "ttl"),
    [(timedelta(hours=-3), timedelta(hours=1)), (timedelta(hours=2), timedelta(hours=1))],
    ids=["expired", "not-yet-valid"],
)
def test_svid_outside_its_validity_is_refused(
    acme_ca: CertificateAuthority,
    federated: BundleSet,
    now: datetime,
    offset: timedelta,
    ttl: timedelta,
) -> None:
    workload = issue_workload(acme_ca, str(WEB), now + offset, ttl)
    assert "renew it" in _refused(_chain(workload.svid.chain_pem), federated, now)


def test_missing_intermediate_means_no_path(
    acme_ca: CertificateAuthority, federated: BundleSet, now: datetime
) -> None:
    workload = issue_workload(acme_ca, str(WEB), now)
    leaf_only = _chain(workload.svid.leaf_pem)
    assert "send its intermediates" in _refused(leaf_only, federated, now)


def test_unknown_trust_domain_is_refused(now: datetime, federated: BundleSet) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    root = build_root_certificate("stranger.test", key, now, timedelta(days=1))
    leaf = _leaf(SpiffeId("stranger.test", "/x"), root, key, now)
    assert "no bundle for trust domain 'stranger.test'" in _refused([leaf], federated, now)


@pytest.mark.parametrize(
    ("uris", "is_ca", "key_cert_sign", "message"),
    [
        ([str(WEB)], True, False, "CA=false"),
        ([str(WEB)], False, True, "forbids keyCertSign"),
        ([f"spiffe://{ACME}"], False, False, "names the trust domain itself"),
        ([], False, False, "has 0 URI SANs"),
        ([str(WEB), f"spiffe://{ACME}/ns/admin"], False, False, "has 2 URI SANs"),
        (["https://x.test/"], False, False, "not a SPIFFE ID"),
    ],
)
def test_leaf_breaking_x509_svid_leaf_rules_is_refused(
    acme_ca: CertificateAuthority,
    federated: BundleSet,
    now: datetime,
    uris: list[str],
    is_ca: bool,
    key_cert_sign: bool,
    message: str,
) -> None:
    leaf = custom_leaf(acme_ca, now, uris, is_ca, key_cert_sign)
    assert message in _refused([leaf, acme_ca.intermediate_cert], federated, now)


def test_empty_chain_is_refused(federated: BundleSet, now: datetime) -> None:
    assert "no certificate" in _refused([], federated, now)
