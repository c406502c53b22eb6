"""Two trust domains on loopback, each serving its bundle endpoint, federating one way."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from federation.audit_log import AuditLog
from federation.metrics import Metrics
from federation.model import Role
from federation.store import MemoryStore, open_store
from federation.trust.endpoint import endpoint_spiffe_id
from federation.trust.foreign import ForeignBundles, ForeignDomain
from federation.trust.records import TrustRecords
from federation.trust.runtime import TrustStartupError, build_authority
from tests.federation.api.conftest import Api
from tests.federation.store.helpers import eventually
from tests.federation.trust.conftest import free_port, init_trust, served, trust_config
from tests.support.test_ca import make_test_ca
from trust.bundle import TrustBundle
from trust.bundle_endpoint import serve_bundle_endpoint, web_profile_context
from trust.ca import create_authority
from trust.federation import BundleSource

ACME, PARTNER = "acme.mesh", "partner.example"


async def _foreign_status(api: Api) -> dict[str, Any]:
    _, body, _ = await api.call("GET", "/v1/trust/status", role=Role.VIEWER)
    return body["foreign"][0]  # type: ignore[index,no-any-return]


async def _bundle_json(config_dir: Path, domain: str) -> dict[str, Any]:
    config = trust_config(config_dir, domain)
    store = open_store(config.store)
    try:
        metrics = Metrics()
        authority = build_authority(config, store, None, AuditLog(store, metrics), metrics)
        return (await authority.bundle(domain)).to_jwks()
    finally:
        await store.close()


async def test_https_web_federation_fetches_then_keeps_last_good_when_endpoint_is_down(
    tmp_path: Path,
) -> None:
    web_ca = make_test_ca(tmp_path)
    port = free_port()
    partner = trust_config(
        tmp_path / "partner",
        PARTNER,
        trust={
            "refresh_hint": "1s",
            "bundle_endpoint": {
                "listen": f"127.0.0.1:{port}",
                "profile": "https_web",
                "cert_file": str(web_ca.cert_file),
                "key_file": str(web_ca.key_file),
            },
        },
    )
    acme = trust_config(
        tmp_path / "acme",
        ACME,
        trust={
            "federates_with": [
                {
                    "trust_domain": PARTNER,
                    "bundle_endpoint": f"https://127.0.0.1:{port}",
                    "profile": "https_web",
                    "ca_file": str(web_ca.ca_file),
                }
            ]
        },
    )
    await init_trust(partner)
    await init_trust(acme)
    partner_bundle = await _bundle_json(tmp_path / "partner", PARTNER)
    async with served(acme) as api:
        async with served(partner) as partner_api:
            assert partner_api.running.context.trust is not None
            assert (
                partner_api.running.context.trust.bundle_endpoint_url == f"https://127.0.0.1:{port}"
            )

            async def fetched() -> dict[str, Any] | None:
                status = await _foreign_status(api)
                return status if status["status"] == "ok" else None

            await eventually(fetched, within=15)
            _, bundles, _ = await api.call("GET", "/v1/trust/bundles?include=foreign")
            assert bundles["foreign"] == {PARTNER: partner_bundle}
            assert bundles["own"] == {ACME: await _bundle_json(tmp_path / "acme", ACME)}
            _, own_only, _ = await api.call("GET", "/v1/trust/bundles")
            assert PARTNER not in own_only

        async def failing() -> dict[str, Any] | None:
            status = await _foreign_status(api)
            return status if status["status"] == "error" else None

        status = await eventually(failing, within=15)
        assert "fetch:" in status["last_error"]
        assert status["bundle_sequence"] == 1
        _, bundles, _ = await api.call("GET", "/v1/trust/bundles?include=foreign")
        assert bundles["foreign"] == {PARTNER: partner_bundle}
        async with api.session.get(api.url("/metrics")) as response:
            text = await response.text()
        assert (
            'meshfed_trust_bundle_fetch_errors_total{kind="fetch",trust_domain="partner.example"}'
            in text
        )
        assert 'meshfed_trust_foreign_bundle_age_seconds{trust_domain="partner.example"}' in text


async def test_https_spiffe_federation_authenticates_the_endpoint_svid(tmp_path: Path) -> None:
    port = free_port()
    partner = trust_config(
        tmp_path / "partner",
        PARTNER,
        trust={
            "refresh_hint": "1s",
            "bundle_endpoint": {"listen": f"127.0.0.1:{port}", "profile": "https_spiffe"},
        },
    )
    await init_trust(partner)
    bootstrap = tmp_path / "partner.bundle.json"
    bootstrap.write_text(json.dumps(await _bundle_json(tmp_path / "partner", PARTNER)))
    acme = trust_config(
        tmp_path / "acme",
        ACME,
        trust={
            "federates_with": [
                {
                    "trust_domain": PARTNER,
                    "bundle_endpoint": f"https://127.0.0.1:{port}",
                    "profile": "https_spiffe",
                    "endpoint_spiffe_id": str(endpoint_spiffe_id(PARTNER)),
                    "bundle_file": str(bootstrap),
                }
            ]
        },
    )
    await init_trust(acme)
    async with served(partner), served(acme) as api:

        async def fetched() -> dict[str, Any] | None:
            status = await _foreign_status(api)
            return status if status["status"] == "ok" else None

        status = await eventually(fetched, within=15)
        assert status["bundle_sequence"] == 1
        assert status["last_error"] is None


def _source(port: int, ca_file: Path) -> ForeignDomain:
    url = f"https://127.0.0.1:{port}"
    return ForeignDomain(BundleSource(PARTNER, url, "https_web", None, ca_file), None)


async def test_lower_sequence_is_refused_as_a_rollback_and_the_held_bundle_stays(
    tmp_path: Path,
) -> None:
    web_ca = make_test_ca(tmp_path)
    partner_ca = create_authority(PARTNER, datetime.now(UTC))
    served_bundle = {"document": TrustBundle(PARTNER, partner_ca.roots, sequence=5).to_json()}

    async def document() -> bytes:
        return served_bundle["document"]

    metrics = Metrics()
    records = TrustRecords(MemoryStore(), None)
    context = web_profile_context(str(web_ca.cert_file), str(web_ca.key_file))
    async with serve_bundle_endpoint("127.0.0.1", 0, context, document) as address:
        foreign = ForeignBundles(records, [_source(address.port, web_ca.ca_file)], metrics)
        first = await foreign.refresh(_source(address.port, web_ca.ca_file))
        assert first.bundle is not None and first.bundle.sequence == 5
        served_bundle["document"] = TrustBundle(PARTNER, (), sequence=3).to_json()
        second = await foreign.refresh(_source(address.port, web_ca.ca_file))
    assert second.bundle == first.bundle
    assert second.last_error is not None and second.last_error.startswith("rollback:")
    assert second.fetched_at == first.fetched_at
    stored = await records.foreign(PARTNER)
    assert stored is not None and stored.bundle is not None and stored.bundle.sequence == 5
    errors = metrics.trust_bundle_fetch_errors.labels(PARTNER, "rollback")._value.get()
    assert errors == 1


async def test_serve_refuses_federation_before_trust_init(tmp_path: Path) -> None:
    config = trust_config(
        tmp_path,
        ACME,
        trust={
            "federates_with": [
                {
                    "trust_domain": PARTNER,
                    "bundle_endpoint": "https://127.0.0.1:9",
                    "profile": "https_web",
                }
            ]
        },
    )
    with pytest.raises(TrustStartupError, match="meshfed trust init"):
        async with served(config):
            pass
