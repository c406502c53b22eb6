"""POST /v1/trust/svid:renew — a workload renews with proof of its current SVID, no token.

Scope: the presented SVID may get a new SVID for its own ID; a gateway's SVID
(``spiffe://TD/gateway/CLUSTER``) may also get IDs of its cluster,
``spiffe://TD/cluster/CLUSTER/…``, in that cluster's trust domain.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from federation.api.context import context
from federation.api.problem import ProblemError
from federation.api.routing import Route
from federation.api.trust import (
    GATEWAY_SEGMENT,
    SvidRequest,
    SvidResponse,
    read_body,
    trust_runtime,
)
from federation.model import MeshfedConfig
from federation.problems import Problem
from trust.bundle import BundleSet
from trust.renewal import PossessionError, verify_possession
from trust.spiffe_id import SpiffeId
from trust.svid import CsrRefusedError, requested_id

CLUSTER_SEGMENT = "cluster"


class SvidRenewal(SvidRequest):
    svid: str  # the current SVID chain, PEM, leaf first
    proof: str  # base64 signature over the CSR's DER by the current SVID's key


def renewal_scope_refusal(
    presented: SpiffeId, requested: SpiffeId, config: MeshfedConfig
) -> str | None:
    """Why the holder of ``presented`` may not get ``requested``, or None when it may."""
    if requested == presented:
        return None
    head = presented.segments
    if len(head) == 2 and head[0] == GATEWAY_SEGMENT:
        cluster = next((c for c in config.clusters if c.name == head[1]), None)
        if cluster is not None:
            domain = cluster.trust_domain or config.federation.trust_domain
            wanted = requested.segments
            if (
                presented.trust_domain == domain == requested.trust_domain
                and wanted[:2] == (CLUSTER_SEGMENT, cluster.name)
                and len(wanted) > 2
            ):
                return None
    return (
        f"the SVID {presented} may renew only itself"
        + (
            f" and IDs under spiffe://{presented.trust_domain}/{CLUSTER_SEGMENT}/{head[1]}/"
            if len(head) == 2 and head[0] == GATEWAY_SEGMENT
            else ""
        )
        + f", not {requested}: ask with an admin token"
    )


async def renew_svid(request: web.Request) -> web.Response:
    runtime = trust_runtime(request)
    authority = runtime.authority
    ctx = context(request)
    body = await read_body(request, SvidRenewal)
    own = BundleSet(tuple([await authority.bundle(d) for d in authority.settings.own_domains]))
    try:
        presented = await asyncio.to_thread(
            verify_possession, body.svid, body.csr, body.proof, own, authority.now()
        )
    except PossessionError as exc:
        await ctx.audit.record(
            actor="unauthenticated",
            action="svid.renew",
            target=f"svid/{body.spiffe_id}",
            detail={"outcome": "unauthenticated", "reason": str(exc)},
        )
        raise ProblemError(401, "Unauthorized", str(exc)) from exc
    try:
        requested = requested_id(body.spiffe_id)
        refusal = renewal_scope_refusal(presented, requested, await ctx.config.effective())
        if refusal is not None:
            await ctx.audit.record(
                actor=str(presented),
                action="svid.renew",
                target=f"svid/{body.spiffe_id}",
                detail={"outcome": "forbidden"},
            )
            raise ProblemError(403, "Forbidden", refusal)
        issued = await authority.issue(body.csr, body.spiffe_id, actor=str(presented))
    except CsrRefusedError as exc:
        raise ProblemError(
            400, "CSR refused", str(exc), errors=[Problem("csr", str(exc), exc.reason.value)]
        ) from exc
    response = SvidResponse(
        spiffe_id=str(issued.spiffe_id),
        svid=issued.chain_pem,
        bundle=issued.bundle_pem,
        expires_at=issued.expires_at,
    )
    return web.json_response(response.model_dump(mode="json"))


def renewal_routes() -> list[Route]:
    return [
        Route(
            "POST",
            "/v1/trust/svid:renew",
            renew_svid,
            "Renew an X509-SVID by proving possession of the current one (no token): the "
            "chain, and its key's signature over the CSR",
            None,
            "trust",
            body=SvidRenewal,
            response=SvidResponse,
            statuses=(200, 400, 401, 403, 409),
        )
    ]
