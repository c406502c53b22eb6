"""mtls mode's SVID from the control plane: issued once with the API token, then renewed.

The first SVID for ``spiffe://TD/gateway/CLUSTER`` comes from ``POST /v1/trust/svid`` (an
operator token may ask for it). Each later one comes from ``POST /v1/trust/svid:renew`` with
proof of the current SVID and no token, half way through the current one's lifetime, so a
renewal that fails has the other half to succeed in. A renewed SVID is loaded into the same
server and client ``SSLContext`` objects: OpenSSL copies a context's certificate into each
connection when it starts, so open connections keep theirs and new handshakes use the new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from cryptography import x509

from federation.gateway.mtls import MtlsTerminator
from trust.bundle import BundleSet, TrustBundle
from trust.keys import KeyType, PrivateKey
from trust.policy import Action, Policy
from trust.renewal import sign_possession_proof
from trust.spiffe_id import SpiffeId, parse_spiffe_id
from trust.svid import create_csr
from trust.tls import client_context, load_identity, server_context

log = logging.getLogger("meshfed.gateway.identity")

_REQUEST_TIMEOUT = 10.0
_MIN_RETRY_S = 1.0


class SvidUnavailableError(RuntimeError):
    """The control plane did not issue or renew the gateway's SVID."""


@dataclass(frozen=True, slots=True)
class GatewaySvid:
    chain_pem: str  # leaf first
    key: PrivateKey = field(repr=False)
    bundle_pem: str  # the roots of the gateway's trust domain
    # When it arrived: certificates are backdated for clock skew, so their not-before would put
    # the half-way point too early, and for a short TTL in the past.
    received_at: datetime
    expires_at: datetime


def gateway_spiffe_id(trust_domain: str, cluster: str) -> SpiffeId:
    return parse_spiffe_id(f"spiffe://{trust_domain}/gateway/{cluster}")


def renewal_delay(svid: GatewaySvid, now: datetime) -> float:
    """Seconds until half the SVID's life since it arrived is over (0 when that has passed)."""
    halfway = svid.received_at + (svid.expires_at - svid.received_at) / 2
    return max(0.0, (halfway - now).total_seconds())


def retry_delay(svid: GatewaySvid, now: datetime) -> float:
    """After a failed renewal: a quarter of what is left, at least a second."""
    return max(_MIN_RETRY_S, (svid.expires_at - now).total_seconds() / 4)


class SvidClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        server: str,
        token: str,
        spiffe_id: SpiffeId,
        key_type: KeyType,
    ) -> None:
        self._session = session
        self._server = server.rstrip("/")
        self._token = token
        self._spiffe_id = spiffe_id
        self._key_type = key_type

    async def issue(self) -> GatewaySvid:
        """A first SVID, asked for with the API token."""
        return await self._post("/v1/trust/svid", None)

    async def renew(self, current: GatewaySvid) -> GatewaySvid:
        """A new SVID (and key), proving possession of ``current`` instead of a token."""
        return await self._post("/v1/trust/svid:renew", current)

    async def _post(self, path: str, current: GatewaySvid | None) -> GatewaySvid:
        fresh = await asyncio.to_thread(create_csr, self._spiffe_id, self._key_type)
        body = {"csr": fresh.csr_pem, "spiffe_id": str(self._spiffe_id)}
        headers = {}
        if current is None:
            headers["Authorization"] = f"Bearer {self._token}"
        else:
            body["svid"] = current.chain_pem
            body["proof"] = sign_possession_proof(current.key, fresh.csr_pem)
        url = self._server + path
        try:
            async with self._session.post(
                url,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT),
            ) as response:
                answer = await response.json(content_type=None)
                if response.status != 200 or not isinstance(answer, dict):
                    detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
                    raise SvidUnavailableError(
                        f"POST {url} for {self._spiffe_id} answered {response.status}: "
                        f"{detail}; an operator token may ask for it"
                    )
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise SvidUnavailableError(
                f"POST {url} for {self._spiffe_id} failed: {error!r}; is --server right?"
            ) from error
        leaf = x509.load_pem_x509_certificate(answer["svid"].encode())
        return GatewaySvid(
            chain_pem=answer["svid"],
            key=fresh.private_key,
            bundle_pem=answer["bundle"],
            received_at=datetime.now(UTC),
            expires_at=leaf.not_valid_after_utc,
        )


class GatewayIdentity:
    """The current SVID and the TLS contexts that show it."""

    def __init__(self, svid: GatewaySvid, trust_domain: str) -> None:
        roots = x509.load_pem_x509_certificates(svid.bundle_pem.encode())
        self.bundles = BundleSet((TrustBundle(trust_domain, tuple(roots)),))
        self.server_context = server_context(svid.chain_pem, svid.key, self.bundles)
        self.client_context = client_context(svid.chain_pem, svid.key, self.bundles)
        self.svid = svid

    def install(self, svid: GatewaySvid) -> None:
        # On the event loop, not in a thread: handshakes read these contexts from the loop.
        load_identity(self.server_context, svid.chain_pem, svid.key)
        load_identity(self.client_context, svid.chain_pem, svid.key)
        self.svid = svid

    async def keep_renewed(self, client: SvidClient) -> None:
        """Renew half way through each SVID's life until cancelled."""
        delay = renewal_delay(self.svid, datetime.now(UTC))
        while True:
            await asyncio.sleep(delay)
            try:
                renewed = await client.renew(self.svid)
            except SvidUnavailableError as error:
                delay = retry_delay(self.svid, datetime.now(UTC))
                log.warning(
                    "SVID renewal failed; retrying",
                    extra={"error": str(error), "retry_in_s": delay},
                )
                continue
            self.install(renewed)
            delay = renewal_delay(renewed, datetime.now(UTC))
            log.info(
                "SVID renewed",
                extra={"expires_at": renewed.expires_at.isoformat(), "next_in_s": delay},
            )


async def identity_from_server(
    stack: AsyncExitStack,
    *,
    server: str,
    token: str,
    trust_domain: str,
    cluster: str,
    key_type: KeyType,
    policies: Sequence[Policy],
    default_action: Action,
    handshake_timeout: float,
) -> MtlsTerminator:
    """mtls mode with its SVID from ``server``, renewed in the background until ``stack``
    closes. Raises SvidUnavailableError when the first SVID cannot be had."""
    session = await stack.enter_async_context(aiohttp.ClientSession())
    background = await stack.enter_async_context(asyncio.TaskGroup())
    client = SvidClient(session, server, token, gateway_spiffe_id(trust_domain, cluster), key_type)
    identity = GatewayIdentity(await client.issue(), trust_domain)
    log.info(
        "SVID issued",
        extra={
            "spiffe_id": str(gateway_spiffe_id(trust_domain, cluster)),
            "expires_at": identity.svid.expires_at.isoformat(),
        },
    )
    stack.callback(background.create_task(identity.keep_renewed(client)).cancel)
    return MtlsTerminator(
        identity.server_context,
        identity.client_context,
        identity.bundles,
        policies,
        default_action,
        handshake_timeout=handshake_timeout,
    )
