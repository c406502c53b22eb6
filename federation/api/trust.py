"""/v1/trust: bundles, status, X509-SVID issuance and CA rotation.

Issuance authorization: an admin token may request any ID in an own trust domain; an operator
token only ``spiffe://TD/gateway/CLUSTER`` for a configured cluster whose trust domain is TD
(the federation's when the cluster sets none), so a gateway's credential renews only its own
kind of identity.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from federation.api.context import context, principal
from federation.api.problem import ProblemError
from federation.api.routing import Param, Route
from federation.config import validation_problems
from federation.model import ClusterSpec, MeshfedConfig, Role
from federation.problems import InvalidInputError, Problem
from federation.tokens import Principal
from federation.trust.records import TrustNotInitializedError, TrustStateConflictError
from federation.trust.runtime import TrustRuntime
from trust.rotation import RotationError
from trust.spiffe_id import SpiffeId
from trust.svid import CsrRefusedError, requested_id

Body = TypeVar("Body", bound=BaseModel)
GATEWAY_SEGMENT = "gateway"


class SvidRequest(BaseModel):
    csr: str
    spiffe_id: str


class SvidResponse(BaseModel):
    spiffe_id: str
    svid: str
    bundle: str
    expires_at: datetime


class RotateRequest(BaseModel):
    trust_domain: str | None = None


async def read_body(request: web.Request, model: type[Body]) -> Body:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            [Problem("", f"the body is not valid JSON: {exc}", "send a JSON object")]
        ) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(validation_problems(exc, model)) from exc


def gateway_scope_refusal(who: Principal, spiffe_id: SpiffeId, config: MeshfedConfig) -> str | None:
    """Why ``who`` may not request ``spiffe_id``, or None when it may."""
    if who.may(Role.ADMIN):
        return None
    clusters: dict[str, ClusterSpec] = {c.name: c for c in config.clusters}
    segments = spiffe_id.segments
    if len(segments) == 2 and segments[0] == GATEWAY_SEGMENT and segments[1] in clusters:
        cluster = clusters[segments[1]]
        if spiffe_id.trust_domain == (cluster.trust_domain or config.federation.trust_domain):
            return None
    return (
        f"token {who.name!r} has role {who.role.value}, which may request only "
        f"spiffe://TRUST_DOMAIN/{GATEWAY_SEGMENT}/CLUSTER for a configured cluster in its trust "
        f"domain, not {spiffe_id}: use an admin token for other identities"
    )


def trust_runtime(request: web.Request) -> TrustRuntime:
    runtime = context(request).trust
    if runtime is None or not runtime.initialized:
        raise ProblemError(
            409,
            "Trust not initialized",
            "this federation has no CA yet: run 'meshfed trust init --config FILE' and restart",
        )
    return runtime


async def list_bundles(request: web.Request) -> web.Response:
    runtime = trust_runtime(request)
    authority = runtime.authority
    own = {d: (await authority.bundle(d)).to_jwks() for d in authority.settings.own_domains}
    if request.query.get("include") != "foreign":
        return web.json_response(own)
    foreign: dict[str, Any] = {}
    for domain in runtime.foreign.trust_domains:
        held = await authority.records.foreign(domain)
        if held is not None and held.bundle is not None:
            foreign[domain] = held.bundle.to_jwks()
    # Kept apart on purpose: a foreign root must never look like one of ours.
    return web.json_response({"own": own, "foreign": foreign})


async def trust_status(request: web.Request) -> web.Response:
    runtime = trust_runtime(request)
    authority = runtime.authority
    now = authority.now()
    domains = []
    for domain in authority.settings.own_domains:
        status = await authority.status(domain)
        domains.append(
            {
                "trust_domain": domain,
                "phase": status.phase.value,
                "signing_generation": status.signing_generation,
                "published_generations": list(status.published_generations),
                "bundle_sequence": status.bundle_sequence,
                "root_expires_at": status.root_expires_at.isoformat(),
                "intermediate_expires_at": status.intermediate_expires_at.isoformat(),
                "next_step": status.next_step.value if status.next_step else None,
                "next_step_at": status.next_step_at.isoformat() if status.next_step_at else None,
            }
        )
    foreign = []
    for domain in runtime.foreign.trust_domains:
        held = await authority.records.foreign(domain)
        fetched = held.fetched_at if held else None
        state = "never_fetched" if fetched is None else "ok"
        if held is not None and held.last_error:
            state = "error"
        foreign.append(
            {
                "trust_domain": domain,
                "status": state,
                "bundle_sequence": held.bundle.sequence if held and held.bundle else None,
                "fetched_at": fetched.isoformat() if fetched else None,
                "age_seconds": (now - fetched).total_seconds() if fetched else None,
                "last_error": held.last_error if held else None,
            }
        )
    return web.json_response(
        {
            "trust_domains": domains,
            "foreign": foreign,
            "bundle_endpoint": runtime.bundle_endpoint_url,
        }
    )


async def issue_svid(request: web.Request) -> web.Response:
    runtime = trust_runtime(request)
    ctx = context(request)
    who = principal(request)
    body = await read_body(request, SvidRequest)
    try:
        refusal = None
        # A malformed ID is left for the authority to refuse (and audit) as a bad request.
        with contextlib.suppress(CsrRefusedError):
            requested = requested_id(body.spiffe_id)
            refusal = gateway_scope_refusal(who, requested, await ctx.config.effective())
        if refusal is not None:
            await ctx.audit.record(
                actor=who.name,
                action="svid.issue",
                target=f"svid/{body.spiffe_id}",
                detail={"outcome": "forbidden", "role": who.role.value},
            )
            raise ProblemError(403, "Forbidden", refusal)
        issued = await runtime.authority.issue(body.csr, body.spiffe_id, actor=who.name)
    except CsrRefusedError as exc:
        raise ProblemError(
            400,
            "CSR refused",
            str(exc),
            errors=[Problem("csr", str(exc), exc.reason.value)],
        ) from exc
    response = SvidResponse(
        spiffe_id=str(issued.spiffe_id),
        svid=issued.chain_pem,
        bundle=issued.bundle_pem,
        expires_at=issued.expires_at,
    )
    return web.json_response(response.model_dump(mode="json"))


async def rotate(request: web.Request) -> web.Response:
    runtime = trust_runtime(request)
    authority = runtime.authority
    body = await read_body(request, RotateRequest) if request.can_read_body else RotateRequest()
    domain = body.trust_domain or authority.settings.federation_domain
    if domain not in authority.settings.own_domains:
        raise ProblemError(
            404,
            "Not found",
            f"trust domain {domain!r} is not one of ours "
            f"({', '.join(authority.settings.own_domains)}): name an own trust domain",
        )
    try:
        state = await authority.rotate(domain, principal(request).name)
    except (RotationError, TrustStateConflictError) as exc:
        raise ProblemError(409, "Rotation in progress", str(exc)) from exc
    except TrustNotInitializedError as exc:
        raise ProblemError(409, "Trust not initialized", str(exc)) from exc
    status = await authority.status(domain)
    return web.json_response(
        {
            "trust_domain": domain,
            "phase": state.rotation.phase.value,
            "incoming_generation": state.rotation.incoming,
            "bundle_sequence": state.bundle.sequence,
            "activates_at": status.next_step_at.isoformat() if status.next_step_at else None,
        },
        status=202,
    )


def trust_routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/v1/trust/bundles",
            list_bundles,
            "SPIFFE bundles (JWK Sets) of the own trust domains; ?include=foreign adds the "
            "foreign ones, kept under their own key",
            Role.VIEWER,
            "trust",
            params=(Param("include", "query", "'foreign' to add the foreign bundles held"),),
            statuses=(200, 409),
        ),
        Route(
            "GET",
            "/v1/trust/status",
            trust_status,
            "CA expiry, bundle sequence and rotation phase per own trust domain; foreign "
            "bundles' age and last error",
            Role.VIEWER,
            "trust",
            statuses=(200, 409),
        ),
        Route(
            "POST",
            "/v1/trust/svid",
            issue_svid,
            "Issue an X509-SVID for a CSR (admin: any own ID; operator: its gateway ID only)",
            Role.OPERATOR,
            "trust",
            body=SvidRequest,
            response=SvidResponse,
            statuses=(200, 400, 403, 409),
        ),
        Route(
            "POST",
            "/v1/trust/rotate",
            rotate,
            "Start a CA rotation: prepare now, activate after 3 refresh hints, retire the old "
            "root once its leaves expired",
            Role.ADMIN,
            "trust",
            body=RotateRequest,
            statuses=(202, 404, 409),
        ),
    ]
