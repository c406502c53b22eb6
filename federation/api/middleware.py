"""The chain every request passes: request id and access log, problem details, authorization.
Handlers hold only their own logic."""

from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web
from cryptography import x509

from federation.api.context import PRINCIPAL, context
from federation.api.problem import ProblemError, problem_response
from federation.api.routing import Handler, route_for
from federation.logs import request_id
from federation.problems import InvalidInputError
from federation.store.base import StoreUnavailableError
from federation.tokens import Principal
from trust.verify import SvidVerificationError, svid_spiffe_id

log = logging.getLogger("meshfed.api")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex[:16]
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = route_for(request)
        label = route.path if route else "unmatched"
        metrics = context(request).metrics
        metrics.http_requests.labels(request.method, label, str(status)).inc()
        metrics.http_latency.labels(label).observe(elapsed)
        who = request.get(PRINCIPAL)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "principal": who.name if who else None,
                "source": caller_source(request, who),
                "remote": request.remote,
            },
        )
        request_id.reset(token)


def caller_source(request: web.Request, who: Principal | None) -> str | None:
    """The caller's service identity: the SPIFFE ID of a verified mTLS peer, else the name
    of the token it presented."""
    ssl_object = request.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if der:
        try:
            return str(svid_spiffe_id(x509.load_der_x509_certificate(der)))
        except SvidVerificationError:
            pass  # a peer certificate that is no SVID identifies no service
    return who.name if who else None


@web.middleware
async def problem_details(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request_id.get() or ""
    try:
        return await handler(request)
    except ProblemError as error:
        return problem_response(error, request.path, rid)
    except InvalidInputError as error:
        detail = f"{len(error.problems)} problem(s) in the request: " + "; ".join(
            str(p) for p in error.problems[:3]
        )
        problem = ProblemError(400, "Invalid input", detail, errors=error.problems)
        return problem_response(problem, request.path, rid)
    except StoreUnavailableError as error:
        problem = ProblemError(
            503,
            "Store unavailable",
            f"the store cannot be reached ({error}); nothing was written: retry shortly",
            headers={"Retry-After": "1"},
        )
        return problem_response(problem, request.path, rid)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        problem = ProblemError(error.status, error.reason, _http_detail(request, error.status))
        return problem_response(problem, request.path, rid)
    except Exception:
        log.exception("unhandled error")
        problem = ProblemError(
            500, "Internal error", f"an unexpected error occurred; quote request id {rid}"
        )
        return problem_response(problem, request.path, rid)


def _http_detail(request: web.Request, status: int) -> str:
    if status == 404:
        return f"no such resource: {request.path} (see /openapi.json for the API)"
    if status == 405:
        return f"{request.method} is not allowed on {request.path}"
    return "the request could not be served"


@web.middleware
async def authorization(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = route_for(request)
    if route is None or route.role is None:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401,
            "Unauthorized",
            "send Authorization: Bearer TOKEN (create one with `meshfed token create`)",
            headers={"WWW-Authenticate": 'Bearer realm="meshfed"'},
        )
    who = await context(request).tokens.principal(token.strip())
    if who is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "the bearer token is not known: check it, or create one with `meshfed token create`",
            headers={"WWW-Authenticate": 'Bearer realm="meshfed", error="invalid_token"'},
        )
    if not who.may(route.role):
        raise ProblemError(
            403,
            "Forbidden",
            f"token {who.name!r} has role {who.role.value}; {request.method} {route.path} "
            f"needs {route.role.value} or higher",
        )
    request[PRINCIPAL] = who
    return await handler(request)
