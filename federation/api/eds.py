"""POST /v3/discovery:endpoints: Envoy's REST-JSON EDS over the live scheduler.

Envoy polls with its last ``version_info``; the routing version only moves when the scheduler's
inputs move, so an unchanged version is answered 304 and Envoy keeps what it has.
"""

from __future__ import annotations

import json
import secrets

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from federation.api.context import context
from federation.api.problem import ProblemError
from federation.api.routing import Route
from federation.config import validation_problems
from federation.eds import (
    CLUSTER_LOAD_ASSIGNMENT,
    Locality,
    cluster_load_assignment,
    discovery_response,
)
from federation.model import Role
from federation.problems import InvalidInputError, Problem
from federation.routing.resolver import ResolveInputError, Resolver
from federation.scheduler import ClientPoint
from geo import ClientLocation, RegionCatalog


class EnvoyLocality(BaseModel):
    model_config = ConfigDict(extra="allow")
    region: str = ""
    zone: str = ""
    sub_zone: str = ""


class EnvoyNode(BaseModel):
    # Envoy sends many more node fields (user agent, extensions, metadata); they do not matter.
    model_config = ConfigDict(extra="allow")
    id: str = ""
    cluster: str = ""
    locality: EnvoyLocality | None = None


class DiscoveryRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    version_info: str = ""
    node: EnvoyNode | None = None
    resource_names: list[str] = []
    response_nonce: str = ""
    type_url: str = CLUSTER_LOAD_ASSIGNMENT


def client_region_key(region: str, catalog: RegionCatalog) -> str:
    """``CLOUD:REGION`` as given, or a bare region code that names one catalog region."""
    if ":" in region:
        return region
    matches = [r.key for r in catalog.regions() if r.code == region]
    if len(matches) != 1:
        found = f"it names {', '.join(matches)}" if matches else "no catalog region has that code"
        raise ResolveInputError(
            "node.locality.region",
            f"region {region!r} is ambiguous or unknown: {found}",
            "set node.locality.region to CLOUD:REGION, e.g. aws:us-east-1",
        )
    return matches[0]


async def _parse(request: web.Request) -> DiscoveryRequest:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            [Problem("", f"the body is not valid JSON: {exc}", "send a DiscoveryRequest")]
        ) from exc
    try:
        parsed = DiscoveryRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidInputError(validation_problems(exc, DiscoveryRequest)) from exc
    if parsed.type_url != CLUSTER_LOAD_ASSIGNMENT:
        raise InvalidInputError(
            [
                Problem(
                    "type_url",
                    f"{parsed.type_url!r} is not served here",
                    f"this endpoint serves {CLUSTER_LOAD_ASSIGNMENT} only",
                )
            ]
        )
    return parsed


async def _locate(
    request: web.Request, resolver: Resolver, ask: DiscoveryRequest
) -> ClientLocation:
    region = ask.node.locality.region if ask.node and ask.node.locality else ""
    try:
        if region:
            key = client_region_key(region, resolver.routing.catalog)
            return await resolver.locate(None, key)
        # A node without a locality is placed by its address, like a /v1/resolve client.
        return await resolver.locate(request.remote or "127.0.0.1", None)
    except ResolveInputError as exc:
        problem = Problem(
            "node.locality.region" if region else "node.locality", exc.message, exc.hint
        )
        raise InvalidInputError([problem]) from exc


async def discovery_endpoints(request: web.Request) -> web.Response:
    resolver = context(request).resolver
    if resolver is None:
        raise ProblemError(503, "Not ready", "routing is not running on this replica yet; retry")
    ask = await _parse(request)
    routing = resolver.routing
    version = str(routing.scheduler.version)
    if ask.version_info == version:
        return web.Response(status=304)
    where = await _locate(request, resolver, ask)
    # Read again after the (possibly threaded) lookup, so the label names what is sent.
    version = str(routing.scheduler.version)
    client = ClientPoint(where.region_key, where.continent, where.lat, where.lon)
    services = routing.services()
    localities = {
        name: Locality(spec.region, spec.zone, name) for name, spec in routing.clusters().items()
    }
    # xDS: a name the server does not know is left out of the answer, not an error; no names
    # at all is a wildcard subscription.
    names = [n for n in ask.resource_names if n in services] or (
        [] if ask.resource_names else sorted(services)
    )
    assignments = [
        cluster_load_assignment(
            routing.scheduler.resolve(name, client),
            localities,
            round(services[name].routing.overprovisioning_factor * 100),
        )
        for name in names
    ]
    return web.json_response(discovery_response(assignments, version, secrets.token_hex(8)))


def eds_routes() -> list[Route]:
    return [
        Route(
            "POST",
            "/v3/discovery:endpoints",
            discovery_endpoints,
            "Envoy REST-JSON EDS: ClusterLoadAssignments for the node's locality",
            Role.VIEWER,
            "envoy",
            body=DiscoveryRequest,
            statuses=(200, 304, 400, 503),
        )
    ]
