from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from trust.bundle import BundleSet, TrustBundle
from trust.ca import CertificateAuthority, create_authority
from trust.keys import KeyType, PrivateKey
from trust.spiffe_id import SpiffeId, parse_spiffe_id
from trust.svid import IssuedSvid, create_csr, issue_svid

ACME = "acme.mesh"
PARTNER = "partner.example"


@dataclass(frozen=True, slots=True)
class Workload:
    svid: IssuedSvid
    private_key: PrivateKey


def issue_workload(
    ca: CertificateAuthority,
    spiffe_id: str,
    now: datetime,
    ttl: timedelta = timedelta(hours=1),
) -> Workload:
    parsed = parse_spiffe_id(spiffe_id)
    key = create_csr(parsed)
    return Workload(issue_svid(ca, key.csr_pem, parsed, now, ttl), key.private_key)


def bundle_of(ca: CertificateAuthority) -> TrustBundle:
    return TrustBundle(ca.trust_domain, ca.roots)


@pytest.fixture(scope="session")
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def acme_ca(now: datetime) -> CertificateAuthority:
    return create_authority(ACME, now - timedelta(days=3))


@pytest.fixture(scope="session")
def partner_ca(now: datetime) -> CertificateAuthority:
    return create_authority(PARTNER, now - timedelta(days=3))


@pytest.fixture(scope="session")
def federated(acme_ca: CertificateAuthority, partner_ca: CertificateAuthority) -> BundleSet:
    return BundleSet((bundle_of(acme_ca), bundle_of(partner_ca)))


@pytest.fixture
def web_id() -> SpiffeId:
    return SpiffeId(ACME, "/ns/web/sa/frontend")


@pytest.fixture(scope="session")
def authority_of(now: datetime) -> Callable[[KeyType], CertificateAuthority]:
    """One CA per key type for the session (in trust domain "<key type>.test"): RSA is slow."""
    cache: dict[KeyType, CertificateAuthority] = {}

    def get(key_type: KeyType) -> CertificateAuthority:
        if key_type not in cache:
            cache[key_type] = create_authority(
                f"{key_type}.test", now - timedelta(days=3), key_type=key_type
            )
        return cache[key_type]

    return get
