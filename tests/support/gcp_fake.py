"""A local Compute Engine that the real google-cloud-compute client talks to over HTTP.

It speaks the REST JSON of the few calls discovery makes: the aggregated lists of instances,
forwarding rules and network endpoint groups (items keyed by scope, empty scopes carrying
NO_RESULTS_ON_PAGE, ``nextPageToken`` paging that honours ``maxResults``, the ``filter``
applied and recorded) and ``listNetworkEndpoints``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.fake_http import FakeCloudBase

# Compute's default (and largest) page for list calls.
GCP_MAX_RESULTS = 500
COLLECTIONS = frozenset({"instances", "forwardingRules", "networkEndpointGroups"})
EXTRA_SCOPES = ("zones/us-central1-a", "regions/us-central1")


@dataclass
class GcpFake(FakeCloudBase):
    """Resources are stored as the JSON Compute would answer, per project and collection."""

    resources: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    neg_members: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    filters: list[tuple[str, str]] = field(default_factory=list)
    unreachables: list[str] = field(default_factory=list)  # scopes every listing reports down

    def add_instance(
        self,
        project: str,
        name: str,
        zone: str,
        *,
        labels: dict[str, str] | None,
        ip: str,
        status: str = "RUNNING",
        network: str = "default",
    ) -> dict[str, Any]:
        base = f"https://www.googleapis.com/compute/v1/projects/{project}"
        body: dict[str, Any] = {
            "kind": "compute#instance",
            "name": name,
            "zone": f"{base}/zones/{zone}",
            "status": status,
            "selfLink": f"{base}/zones/{zone}/instances/{name}",
            "networkInterfaces": [
                {"network": f"{base}/global/networks/{network}", "networkIP": ip, "name": "nic0"}
            ],
        }
        if labels is not None:
            body["labels"] = labels
        return self.add_raw(project, "instances", f"zones/{zone}", body)

    def add_forwarding_rule(
        self,
        project: str,
        name: str,
        region: str,
        *,
        labels: dict[str, str] | None,
        ip: str,
        port_range: str | None = None,
        ports: list[str] | None = None,
        network: str = "default",
    ) -> dict[str, Any]:
        base = f"https://www.googleapis.com/compute/v1/projects/{project}"
        body: dict[str, Any] = {
            "kind": "compute#forwardingRule",
            "name": name,
            "region": f"{base}/regions/{region}",
            "IPAddress": ip,
            "IPProtocol": "TCP",
            "network": f"{base}/global/networks/{network}",
            "selfLink": f"{base}/regions/{region}/forwardingRules/{name}",
        }
        if labels is not None:
            body["labels"] = labels
        if port_range is not None:
            body["portRange"] = port_range
        if ports is not None:
            body["ports"] = ports
        return self.add_raw(project, "forwardingRules", f"regions/{region}", body)

    def add_neg(
        self,
        project: str,
        name: str,
        zone: str,
        *,
        annotations: dict[str, str] | None,
        members: list[tuple[str, int | None]],
        default_port: int | None = None,
        network: str = "default",
    ) -> dict[str, Any]:
        base = f"https://www.googleapis.com/compute/v1/projects/{project}"
        body: dict[str, Any] = {
            "kind": "compute#networkEndpointGroup",
            "name": name,
            "zone": f"{base}/zones/{zone}",
            "network": f"{base}/global/networks/{network}",
            "networkEndpointType": "GCE_VM_IP_PORT",
            "selfLink": f"{base}/zones/{zone}/networkEndpointGroups/{name}",
            "size": len(members),
        }
        if annotations is not None:
            body["annotations"] = annotations
        if default_port is not None:
            body["defaultPort"] = default_port
        self.neg_members[(project, zone, name)] = [
            {"networkEndpoint": {"ipAddress": ip} | ({"port": port} if port else {})}
            for ip, port in members
        ]
        return self.add_raw(project, "networkEndpointGroups", f"zones/{zone}", body)

    def add_raw(
        self, project: str, collection: str, scope: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.resources.setdefault((project, collection), []).append((scope, body))
        return body

    def error_body(self, status: int) -> dict[str, Any]:
        reason = {429: "rateLimitExceeded", 401: "authError", 403: "forbidden"}.get(
            status, "backendError"
        )
        message = f"fake compute answers {status}"
        return {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
            }
        }

    def page_of(self, request: web.Request) -> int:
        token = request.query.get("pageToken", "")
        size = int(request.query.get("maxResults", GCP_MAX_RESULTS))
        return int(token) // size + 1 if token else 1

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(
            "/compute/v1/projects/{project}/aggregated/{collection}", self._aggregated
        )
        app.router.add_post(
            "/compute/v1/projects/{project}/zones/{zone}/networkEndpointGroups/{neg}"
            "/listNetworkEndpoints",
            self._list_network_endpoints,
        )
        return app

    async def _aggregated(self, request: web.Request) -> web.Response:
        project = request.match_info["project"]
        collection = request.match_info["collection"]
        if collection not in COLLECTIONS:
            return web.json_response(self.error_body(404), status=404)
        filter_ = request.query.get("filter", "")
        self.filters.append((collection, filter_))
        matches = _filter_matcher(filter_)
        if matches is None:
            refusal = self.error_body(400)
            refusal["error"]["message"] = f"Invalid value for field 'filter': '{filter_}'."
            return web.json_response(refusal, status=400)
        listed = [(s, r) for s, r in self.resources.get((project, collection), []) if matches(r)]
        offset, size = _paging(request)
        items: dict[str, Any] = {}
        for scope, resource in listed[offset : offset + size]:
            items.setdefault(scope, {collection: []})[collection].append(resource)
        every_scope = {s for s, _ in self.resources.get((project, collection), [])}
        for scope in sorted(every_scope.union(EXTRA_SCOPES) - items.keys()):
            items[scope] = {"warning": _no_results(scope)}
        body: dict[str, Any] = {"kind": f"compute#{collection}AggregatedList", "items": items}
        if self.unreachables:
            body["unreachables"] = self.unreachables
        if offset + size < len(listed):
            body["nextPageToken"] = str(offset + size)
        return web.json_response(body)

    async def _list_network_endpoints(self, request: web.Request) -> web.Response:
        key = (request.match_info["project"], request.match_info["zone"], request.match_info["neg"])
        members = self.neg_members.get(key)
        if members is None:
            return web.json_response(self.error_body(404), status=404)
        offset, size = _paging(request)
        body: dict[str, Any] = {
            "kind": "compute#networkEndpointGroupsListNetworkEndpoints",
            "items": members[offset : offset + size],
        }
        if offset + size < len(members):
            body["nextPageToken"] = str(offset + size)
        return web.json_response(body)


def _paging(request: web.Request) -> tuple[int, int]:
    size = min(int(request.query.get("maxResults", GCP_MAX_RESULTS)), GCP_MAX_RESULTS)
    return int(request.query.get("pageToken") or 0), size


def _filter_matcher(filter_: str) -> Callable[[dict[str, Any]], bool] | None:
    """The one filter form discovery needs, ``labels.KEY:*``; anything else is refused, as
    Compute refuses what it cannot parse, so a wrong filter fails loudly in tests."""
    if not filter_:
        return lambda resource: True
    prefix, _, rest = filter_.partition(".")
    key, sep, value = rest.partition(":")
    if prefix != "labels" or sep != ":" or value != "*" or not key:
        return None
    return lambda resource: key in resource.get("labels", {})


def _no_results(scope: str) -> dict[str, Any]:
    return {
        "code": "NO_RESULTS_ON_PAGE",
        "message": "There are no results for scope '" + scope + "' on this page.",
        "data": [{"key": "scope", "value": scope}],
    }
