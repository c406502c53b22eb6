"""Fetching a foreign bundle over a real TLS bundle endpoint, both profiles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.support.test_ca import make_test_ca
from tests.trust.conftest import issue_workload
from trust.bundle import TrustBundle
from trust.bundle_endpoint import BundleEndpointAddress, serve_bundle_endpoint, web_profile_context
from trust.ca import CertificateAuthority, create_authority
from trust.federation import (
    BundleFetchError,
    BundleSource,
    RefreshBounds,
    client_ssl_context,
    fetch_bundle,
    refresh_delay,
    retry_delay,
)
from trust.spiffe_id import parse_spiffe_id
from trust.tls import bundle_server_context

PARTNER = "partner.example"
ENDPOINT_ID = "spiffe://partner.example/meshfed/bundle-endpoint"
BOUNDS = RefreshBounds(timedelta(seconds=1), timedelta(hours=1), timedelta(minutes=5))


@pytest.fixture(scope="module")
def partner_ca() -> CertificateAuthority:
    return create_authority(PARTNER, datetime.now(UTC) - timedelta(minutes=1))


@pytest.fixture
async def spiffe_endpoint(
    partner_ca: CertificateAuthority,
) -> AsyncIterator[tuple[BundleEndpointAddress, TrustBundle]]:
    bundle = TrustBundle(PARTNER, partner_ca.roots, sequence=7, refresh_hint=60)
    workload = issue_workload(partner_ca, ENDPOINT_ID, datetime.now(UTC))
    context = bundle_server_context(workload.svid.chain_pem, workload.private_key)

    async def document() -> bytes:
        return bundle.to_json()

    async with serve_bundle_endpoint("127.0.0.1", 0, context, document) as address:
        yield address, bundle


async def test_https_spiffe_fetch_checks_the_endpoint_spiffe_id(
    spiffe_endpoint: tuple[BundleEndpointAddress, TrustBundle],
) -> None:
    address, bundle = spiffe_endpoint
    source = BundleSource(PARTNER, address.url, "https_spiffe", parse_spiffe_id(ENDPOINT_ID))
    fetched = await fetch_bundle(
        source, bundle, client_ssl_context(source, bundle), datetime.now(UTC)
    )
    assert fetched == bundle


async def test_https_spiffe_fetch_refuses_an_endpoint_with_another_id(
    spiffe_endpoint: tuple[BundleEndpointAddress, TrustBundle],
) -> None:
    address, bundle = spiffe_endpoint
    wrong = parse_spiffe_id("spiffe://partner.example/not-the-endpoint")
    source = BundleSource(PARTNER, address.url, "https_spiffe", wrong)
    with pytest.raises(BundleFetchError, match="not authenticated"):
        await fetch_bundle(source, bundle, client_ssl_context(source, bundle), datetime.now(UTC))


async def test_https_spiffe_fetch_refuses_an_endpoint_outside_the_known_bundle(
    spiffe_endpoint: tuple[BundleEndpointAddress, TrustBundle],
) -> None:
    address, _ = spiffe_endpoint
    stranger = TrustBundle(PARTNER, create_authority(PARTNER, datetime.now(UTC)).roots)
    source = BundleSource(PARTNER, address.url, "https_spiffe", parse_spiffe_id(ENDPOINT_ID))
    with pytest.raises(BundleFetchError, match="CERTIFICATE_VERIFY_FAILED"):
        await fetch_bundle(
            source, stranger, client_ssl_context(source, stranger), datetime.now(UTC)
        )


def test_https_spiffe_without_a_bootstrap_bundle_says_to_set_bundle_file() -> None:
    source = BundleSource(PARTNER, "https://127.0.0.1:1", "https_spiffe")
    with pytest.raises(BundleFetchError, match="bundle_file"):
        client_ssl_context(source, None)


async def test_https_web_endpoint_answers_json_and_needs_a_trusted_certificate(
    tmp_path: Path, partner_ca: CertificateAuthority
) -> None:
    web_ca = make_test_ca(tmp_path)
    bundle = TrustBundle(PARTNER, partner_ca.roots, sequence=2)

    async def document() -> bytes:
        return bundle.to_json()

    context = web_profile_context(str(web_ca.cert_file), str(web_ca.key_file))
    async with serve_bundle_endpoint("127.0.0.1", 0, context, document) as address:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                address.url + "/",
                ssl=client_ssl_context(
                    BundleSource(PARTNER, address.url, "https_web", None, web_ca.ca_file), None
                ),
            ) as response,
        ):
            assert response.status == 200
            assert response.content_type == "application/json"
            assert await response.json() == bundle.to_jwks()
        trusted = BundleSource(PARTNER, address.url, "https_web", None, web_ca.ca_file)
        fetched = await fetch_bundle(
            trusted, None, client_ssl_context(trusted, None), datetime.now(UTC)
        )
        assert fetched == bundle
        untrusted = BundleSource(PARTNER, address.url, "https_web")
        with pytest.raises(BundleFetchError, match="CERTIFICATE_VERIFY_FAILED"):
            await fetch_bundle(
                untrusted, None, client_ssl_context(untrusted, None), datetime.now(UTC)
            )


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (None, timedelta(minutes=5)),  # no hint: the default
        (30, timedelta(seconds=30)),
        (7200, timedelta(hours=1)),  # capped
    ],
)
def test_refresh_delay_follows_the_hint_within_bounds(
    hint: int | None, expected: timedelta, partner_ca: CertificateAuthority
) -> None:
    bundle = TrustBundle(PARTNER, partner_ca.roots, refresh_hint=hint)
    assert refresh_delay(bundle, BOUNDS) == expected


def test_failed_fetches_back_off_from_the_minimum_up_to_the_hint(
    partner_ca: CertificateAuthority,
) -> None:
    bundle = TrustBundle(PARTNER, partner_ca.roots, refresh_hint=10)
    delays = [retry_delay(bundle, n, BOUNDS).total_seconds() for n in range(1, 7)]
    assert delays == [1, 2, 4, 8, 10, 10]


async def test_a_chunked_bundle_response_is_read_whole(
    tmp_path: Path, partner_ca: CertificateAuthority
) -> None:
    web_ca = make_test_ca(tmp_path)
    bundle = TrustBundle(PARTNER, partner_ca.roots, sequence=3)
    body = bundle.to_json()

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 100):
            await response.write(body[start : start + 100])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/bundle", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=web_ca.server_context())
        await site.start()
        url = f"https://127.0.0.1:{runner.addresses[0][1]}/bundle"
        source = BundleSource(PARTNER, url, "https_web", None, web_ca.ca_file)
        fetched = await fetch_bundle(
            source, None, client_ssl_context(source, None), datetime.now(UTC)
        )
    finally:
        await runner.cleanup()
    assert fetched == bundle
