"""The bundle endpoint listener of the federation's trust domain, per ``trust.bundle_endpoint``.

With ``https_spiffe`` the listener shows an SVID of its own, issued by the local CA and renewed
at half its lifetime or as soon as a rotation changes the signing CA.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from federation.model import BundleEndpointSpec
from federation.store.base import StoreError
from federation.trust.authority import Clock, TrustAuthority
from trust.bundle_endpoint import BundleEndpointAddress, serve_bundle_endpoint, web_profile_context
from trust.keys import PrivateKey
from trust.spiffe_id import SpiffeId
from trust.svid import IssuedSvid, create_csr
from trust.tls import bundle_server_context, load_identity

log = logging.getLogger("meshfed.trust.endpoint")
ENDPOINT_PATH = "/meshfed/bundle-endpoint"


def endpoint_spiffe_id(trust_domain: str) -> SpiffeId:
    """The SPIFFE ID an https_spiffe bundle endpoint presents (peers set endpoint_spiffe_id)."""
    return SpiffeId(trust_domain, ENDPOINT_PATH)


class EndpointIdentity:
    """The https_spiffe listener's SVID, kept fresh inside one SSL context."""

    def __init__(self, authority: TrustAuthority, clock: Clock) -> None:
        self._authority = authority
        self._clock = clock
        self._id = endpoint_spiffe_id(authority.settings.federation_domain)
        self._renew_at: datetime | None = None
        self._generation = 0

    async def context(self) -> ssl.SSLContext:
        svid, key = await self._issue()
        return await asyncio.to_thread(bundle_server_context, svid.chain_pem, key)

    async def keep_fresh(self, context: ssl.SSLContext, tick: float) -> None:
        while True:
            await asyncio.sleep(tick)
            try:
                if await self._due(self._clock()):
                    svid, key = await self._issue()
                    await asyncio.to_thread(load_identity, context, svid.chain_pem, key)
            except StoreError as exc:
                log.warning("bundle endpoint SVID not renewed", extra={"error": str(exc)})

    async def _due(self, now: datetime) -> bool:
        if self._renew_at is None or now >= self._renew_at:
            return True
        state = await self._authority.records.domain(self._id.trust_domain)
        return state.rotation.signing != self._generation

    async def _issue(self) -> tuple[IssuedSvid, PrivateKey]:
        state = await self._authority.records.domain(self._id.trust_domain)
        workload = await asyncio.to_thread(create_csr, self._id, self._authority.settings.key_type)
        now = self._clock()
        svid = await self._authority.issue(workload.csr_pem, str(self._id), actor="meshfed")
        self._renew_at = now + (svid.expires_at - now) / 2
        self._generation = state.rotation.signing
        return svid, workload.private_key


@asynccontextmanager
async def bundle_endpoint(
    spec: BundleEndpointSpec, authority: TrustAuthority, clock: Clock
) -> AsyncIterator[BundleEndpointAddress]:
    domain = authority.settings.federation_domain

    async def document() -> bytes:
        return await authority.records.bundle_json(domain)

    host, _, port = spec.listen.rpartition(":")
    identity = EndpointIdentity(authority, clock) if spec.profile == "https_spiffe" else None
    if identity is not None:
        context = await identity.context()
    else:
        assert spec.cert_file and spec.key_file  # config_checks requires both for https_web
        context = await asyncio.to_thread(web_profile_context, spec.cert_file, spec.key_file)
    async with serve_bundle_endpoint(host, int(port), context, document) as address:
        log.info("bundle endpoint serving", extra={"url": address.url, "profile": spec.profile})
        if identity is None:
            yield address
            return
        tick = min(1.0, authority.settings.refresh_hint.total_seconds() / 4)
        async with asyncio.TaskGroup() as group:
            renewal = group.create_task(identity.keep_fresh(context, tick))
            try:
                yield address
            finally:
                renewal.cancel()
