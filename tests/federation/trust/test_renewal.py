"""Renewal by proof of possession: a gateway holding its SVID renews without any token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from federation.model import Role
from tests.federation.api.conftest import Api
from tests.federation.trust.conftest import init_trust, served, trust_config
from trust.renewal import sign_possession_proof
from trust.spiffe_id import parse_spiffe_id
from trust.svid import WorkloadKey, create_csr

GATEWAY = "spiffe://acme.mesh/gateway/aws-use1"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    config = trust_config(tmp_path, "acme.mesh")
    await init_trust(config)
    async with served(config) as api:
        yield api


async def issued_by_admin(api: Api, spiffe_id: str) -> tuple[WorkloadKey, str]:
    key = create_csr(parse_spiffe_id(spiffe_id))
    status, body, _ = await api.call(
        "POST", "/v1/trust/svid", json={"csr": key.csr_pem, "spiffe_id": spiffe_id}
    )
    assert status == 200, body
    return key, str(body["svid"])


def renewal(holder: WorkloadKey, chain: str, wanted: str) -> tuple[WorkloadKey, dict[str, Any]]:
    fresh = create_csr(parse_spiffe_id(wanted))
    proof = sign_possession_proof(holder.private_key, fresh.csr_pem)
    return fresh, {"csr": fresh.csr_pem, "spiffe_id": wanted, "svid": chain, "proof": proof}


async def test_a_gateway_renews_its_own_svid_with_no_token(api: Api) -> None:
    holder, chain = await issued_by_admin(api, GATEWAY)
    _, body = renewal(holder, chain, GATEWAY)
    status, answer, _ = await api.call("POST", "/v1/trust/svid:renew", role=None, json=body)
    assert status == 200, answer
    assert answer["spiffe_id"] == GATEWAY
    assert answer["svid"] != chain
    status, audit, _ = await api.call("GET", "/v1/audit?limit=1000", Role.ADMIN)
    last = audit["items"][-1]
    assert (last["action"], last["actor"]) == ("svid.issue", GATEWAY)


async def test_a_gateway_gets_ids_of_its_own_cluster_only(api: Api) -> None:
    holder, chain = await issued_by_admin(api, GATEWAY)
    _, own_cluster = renewal(holder, chain, "spiffe://acme.mesh/cluster/aws-use1/web")
    status, _, _ = await api.call("POST", "/v1/trust/svid:renew", role=None, json=own_cluster)
    assert status == 200
    _, other = renewal(holder, chain, "spiffe://acme.mesh/cluster/gcp-euw1/web")
    status, problem, _ = await api.call("POST", "/v1/trust/svid:renew", role=None, json=other)
    assert status == 403
    assert "may renew only itself" in problem["detail"]


async def test_a_workload_svid_renews_only_itself(api: Api) -> None:
    holder, chain = await issued_by_admin(api, "spiffe://acme.mesh/ns/web/sa/frontend")
    _, body = renewal(holder, chain, "spiffe://acme.mesh/ns/web/sa/admin")
    status, _, _ = await api.call("POST", "/v1/trust/svid:renew", role=None, json=body)
    assert status == 403


async def test_a_proof_signed_by_another_key_is_401(api: Api) -> None:
    _, chain = await issued_by_admin(api, GATEWAY)
    impostor = create_csr(parse_spiffe_id(GATEWAY))
    _, body = renewal(impostor, chain, GATEWAY)
    status, problem, _ = await api.call("POST", "/v1/trust/svid:renew", role=None, json=body)
    assert status == 401
    assert "not a signature over this CSR" in problem["detail"]


async def test_a_chain_from_another_ca_is_401(api: Api, tmp_path: Path) -> None:
    other = trust_config(tmp_path / "other", "acme.mesh")
    await init_trust(other)
    async with served(other) as foreign_api:
        holder, chain = await issued_by_admin(foreign_api, GATEWAY)
    _, body = renewal(holder, chain, GATEWAY)
    status, problem, _ = await api.call("POST", "/v1/trust/svid:renew", role=None, json=body)
    assert status == 401
    assert "does not verify" in problem["detail"]
