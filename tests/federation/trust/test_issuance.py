"""POST /v1/trust/svid, GET /v1/trust/bundles and /v1/trust/status on a served trust domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from federation.model import Role
from tests.federation.api.conftest import Api
from tests.federation.trust.conftest import init_trust, served, trust_config
from trust.bundle import BundleSet, parse_jwks
from trust.spiffe_id import parse_spiffe_id
from trust.svid import create_csr
from trust.verify import verify_svid_chain

ACME = "acme.mesh"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    config = trust_config(
        tmp_path,
        ACME,
        clusters=[
            {"name": "aws-use1", "cloud": "aws", "region": "us-east-1"},
            {
                "name": "gcp-euw1",
                "cloud": "gcp",
                "region": "europe-west1",
                "trust_domain": "gcp.acme.mesh",
            },
        ],
    )
    await init_trust(config)
    async with served(config) as api:
        yield api


def _csr(spiffe_id: str) -> str:
    return create_csr(parse_spiffe_id(spiffe_id)).csr_pem


async def _audit(api: Api) -> list[dict[str, object]]:
    status, body, _ = await api.call("GET", "/v1/audit?limit=1000")
    assert status == 200
    items = body["items"]
    assert isinstance(items, list)
    return items


async def test_admin_gets_an_svid_that_verifies_against_the_served_bundle(api: Api) -> None:
    wanted = "spiffe://acme.mesh/ns/web/sa/frontend"
    status, body, _ = await api.call(
        "POST", "/v1/trust/svid", json={"csr": _csr(wanted), "spiffe_id": wanted}
    )
    assert status == 200, body
    assert set(body) == {"spiffe_id", "svid", "bundle", "expires_at"}
    assert body["spiffe_id"] == wanted
    chain = x509.load_pem_x509_certificates(str(body["svid"]).encode())
    assert len(chain) == 2  # leaf then intermediate
    _, bundles, _ = await api.call("GET", "/v1/trust/bundles", role=Role.VIEWER)
    bundle = parse_jwks(ACME, bundles[ACME])  # type: ignore[arg-type]
    assert str(verify_svid_chain(chain, BundleSet((bundle,)), datetime.now(UTC))) == wanted
    assert list(bundle.roots) == x509.load_pem_x509_certificates(str(body["bundle"]).encode())
    issued = [r for r in await _audit(api) if r["action"] == "svid.issue"]
    serial = format(chain[0].serial_number, "x")
    assert issued[-1]["detail"] == {
        "outcome": "issued",
        "serial": serial,
        "expires_at": chain[0].not_valid_after_utc.isoformat(),
    }
    assert "PRIVATE" not in str(issued[-1])


async def test_cluster_trust_domain_gets_its_own_ca(api: Api) -> None:
    wanted = "spiffe://gcp.acme.mesh/ns/db"
    status, body, _ = await api.call(
        "POST", "/v1/trust/svid", json={"csr": _csr(wanted), "spiffe_id": wanted}
    )
    assert status == 200, body
    _, bundles, _ = await api.call("GET", "/v1/trust/bundles", role=Role.VIEWER)
    assert set(bundles) == {ACME, "gcp.acme.mesh"}
    chain = x509.load_pem_x509_certificates(str(body["svid"]).encode())
    own = BundleSet((parse_jwks("gcp.acme.mesh", bundles["gcp.acme.mesh"]),))  # type: ignore[arg-type]
    verify_svid_chain(chain, own, datetime.now(UTC))
    other = BundleSet((parse_jwks("gcp.acme.mesh", bundles[ACME]),))  # type: ignore[arg-type]
    with pytest.raises(Exception, match="does not chain"):
        verify_svid_chain(chain, other, datetime.now(UTC))


@pytest.mark.parametrize(
    ("spiffe_id", "allowed"),
    [
        ("spiffe://acme.mesh/gateway/aws-use1", True),
        ("spiffe://gcp.acme.mesh/gateway/gcp-euw1", True),
        ("spiffe://acme.mesh/gateway/gcp-euw1", False),  # gcp-euw1 lives in gcp.acme.mesh
        ("spiffe://acme.mesh/gateway/unknown", False),
        ("spiffe://acme.mesh/gateway/aws-use1/extra", False),
        ("spiffe://acme.mesh/ns/web/sa/frontend", False),
    ],
)
async def test_operator_may_request_only_gateway_ids_of_its_clusters(
    api: Api, spiffe_id: str, allowed: bool
) -> None:
    status, body, _ = await api.call(
        "POST",
        "/v1/trust/svid",
        role=Role.OPERATOR,
        json={"csr": _csr(spiffe_id), "spiffe_id": spiffe_id},
    )
    assert status == (200 if allowed else 403), body
    if not allowed:
        assert "gateway/CLUSTER" in str(body["detail"])
        outcomes = [r["detail"] for r in await _audit(api) if r["target"] == f"svid/{spiffe_id}"]
        assert outcomes[-1] == {"outcome": "forbidden", "role": "operator"}


async def test_viewer_may_not_request_svids(api: Api) -> None:
    wanted = "spiffe://acme.mesh/gateway/aws-use1"
    status, _, _ = await api.call(
        "POST", "/v1/trust/svid", role=Role.VIEWER, json={"csr": _csr(wanted), "spiffe_id": wanted}
    )
    assert status == 403


@pytest.mark.parametrize(
    ("csr_for", "spiffe_id", "reason"),
    [
        ("spiffe://acme.mesh/ns/web", "spiffe://acme.mesh/ns/other", "uri_san_mismatch"),
        (
            "spiffe://partner.example/ns/web",
            "spiffe://partner.example/ns/web",
            "foreign_trust_domain",
        ),
        ("spiffe://acme.mesh/ns/web", "spiffe://acme.mesh", "invalid_spiffe_id"),
        ("spiffe://acme.mesh/ns/web", "http://acme.mesh/ns/web", "invalid_spiffe_id"),
        (None, "spiffe://acme.mesh/ns/web", "csr_unreadable"),
    ],
)
async def test_refused_csr_is_a_400_problem_with_its_reason_and_is_audited(
    api: Api, csr_for: str | None, spiffe_id: str, reason: str
) -> None:
    csr = _csr(csr_for) if csr_for else "-----BEGIN CERTIFICATE REQUEST-----\nnope\n"
    status, body, response = await api.call(
        "POST", "/v1/trust/svid", json={"csr": csr, "spiffe_id": spiffe_id}
    )
    assert status == 400
    assert response.content_type == "application/problem+json"
    assert body["errors"][0]["hint"] == reason  # type: ignore[index]
    refusals = [r["detail"] for r in await _audit(api) if r["target"] == f"svid/{spiffe_id}"]
    assert refusals[-1] == {"outcome": "refused", "reason": reason}


async def test_status_reports_ca_expiry_sequence_and_rotation(api: Api) -> None:
    status, body, _ = await api.call("GET", "/v1/trust/status", role=Role.VIEWER)
    assert status == 200
    listed: list[dict[str, Any]] = body["trust_domains"]  # type: ignore[assignment]
    domains = {d["trust_domain"]: d for d in listed}
    assert set(domains) == {ACME, "gcp.acme.mesh"}
    acme = domains[ACME]
    assert acme["phase"] == "stable"
    assert acme["bundle_sequence"] == 1
    assert datetime.fromisoformat(acme["root_expires_at"]) > datetime.now(UTC)
    async with api.session.get(api.url("/metrics")) as metrics:
        text = await metrics.text()
    assert (
        'meshfed_trust_certificate_expiry_seconds{certificate="root",trust_domain="acme.mesh"}'
        in text
    )


async def test_trust_endpoints_say_to_run_init_before_it(tmp_path: Path) -> None:
    config = trust_config(tmp_path, ACME)
    async with served(config) as api:
        status, body, _ = await api.call("GET", "/v1/trust/bundles", role=Role.VIEWER)
    assert status == 409
    assert "meshfed trust init" in str(body["detail"])
