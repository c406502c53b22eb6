"""A local Azure Resource Manager that the real azure-mgmt-network client talks to over HTTPS.

It answers the subscription-wide list calls discovery makes (network interfaces, load
balancers, public IPs) in ARM's JSON: ``value`` plus an absolute ``nextLink`` carrying
``$skiptoken``. Requests must carry a bearer token and an ``api-version``, as ARM requires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from azure.core.credentials import AccessToken

from tests.support.fake_http import FakeCloudBase

KINDS = ("networkInterfaces", "loadBalancers", "publicIPAddresses")
ARM_CODES = {
    401: "InvalidAuthenticationToken",
    403: "AuthorizationFailed",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


class StaticToken:
    """A credential that needs no network: always the same bearer token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


@dataclass
class AzureFake(FakeCloudBase):
    """Resources are stored as the JSON ARM would answer, per subscription and kind."""

    resources: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 100
    token: str = "fake-arm-token"  # the bearer token the fake accepts

    def add_nic(
        self,
        subscription: str,
        name: str,
        location: str,
        *,
        tags: dict[str, str] | None,
        ips: list[str],
        vnet: str = "vnet-weu",
        attached: bool = True,
    ) -> dict[str, Any]:
        rid = _id(subscription, "networkInterfaces", name)
        subnet = _id(subscription, "virtualNetworks", vnet) + "/subnets/default"
        properties: dict[str, Any] = {
            "ipConfigurations": [
                {
                    "id": f"{rid}/ipConfigurations/ipconfig{i}",
                    "name": f"ipconfig{i}",
                    "properties": {
                        "privateIPAddress": ip,
                        "privateIPAllocationMethod": "Dynamic",
                        "subnet": {"id": subnet},
                        "primary": i == 0,
                    },
                }
                for i, ip in enumerate(ips)
            ]
        }
        if attached:
            vm = rid.replace(
                "Microsoft.Network/networkInterfaces", "Microsoft.Compute/virtualMachines"
            )
            properties["virtualMachine"] = {"id": vm}
        return self.add_raw(
            subscription, "networkInterfaces", _resource(rid, location, tags, properties)
        )

    def add_public_ip(
        self,
        subscription: str,
        name: str,
        location: str,
        *,
        tags: dict[str, str] | None,
        ip: str | None,
        zones: list[str] | None = None,
    ) -> dict[str, Any]:
        rid = _id(subscription, "publicIPAddresses", name)
        properties: dict[str, Any] = {"publicIPAllocationMethod": "Static"}
        if ip is not None:
            properties["ipAddress"] = ip
        body = _resource(rid, location, tags, properties)
        if zones:
            body["zones"] = zones
        return self.add_raw(subscription, "publicIPAddresses", body)

    def add_load_balancer(
        self,
        subscription: str,
        name: str,
        location: str,
        *,
        tags: dict[str, str] | None,
        frontends: list[dict[str, Any]],
        rule_ports: dict[int, int] | None = None,
    ) -> dict[str, Any]:
        """``frontends``: each ``{"private_ip": IP}`` or ``{"public_ip_id": ID}``, optionally
        with ``"zones"``; ``rule_ports`` maps a frontend's index to a rule's frontend port."""
        rid = _id(subscription, "loadBalancers", name)
        subnet = _id(subscription, "virtualNetworks", "vnet-weu") + "/subnets/lb"
        configs = []
        for i, spec in enumerate(frontends):
            props: dict[str, Any] = (
                {"publicIPAddress": {"id": spec["public_ip_id"]}}
                if "public_ip_id" in spec
                else {"privateIPAddress": spec["private_ip"], "subnet": {"id": subnet}}
            )
            config: dict[str, Any] = {
                "id": f"{rid}/frontendIPConfigurations/fe{i}",
                "name": f"fe{i}",
                "properties": props,
            }
            if "zones" in spec:
                config["zones"] = spec["zones"]
            configs.append(config)
        rules = [
            {
                "id": f"{rid}/loadBalancingRules/rule{i}",
                "name": f"rule{i}",
                "properties": {
                    "frontendIPConfiguration": {"id": configs[i]["id"]},
                    "frontendPort": port,
                    "backendPort": port,
                    "protocol": "Tcp",
                },
            }
            for i, port in (rule_ports or {}).items()
        ]
        properties = {"frontendIPConfigurations": configs, "loadBalancingRules": rules}
        return self.add_raw(
            subscription, "loadBalancers", _resource(rid, location, tags, properties)
        )

    def add_raw(self, subscription: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        self.resources.setdefault((subscription, kind), []).append(body)
        return body

    def error_body(self, status: int) -> dict[str, Any]:
        code = ARM_CODES.get(status, "BadRequest")
        return {"error": {"code": code, "message": f"fake ARM answers {status} ({code})"}}

    def page_of(self, request: web.Request) -> int:
        return int(request.query.get("$skiptoken") or 0) // self.page_size + 1

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(
            "/subscriptions/{subscription}/providers/Microsoft.Network/{kind}", self._list
        )
        return app

    async def _list(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(self.error_body(401), status=401)
        kind = request.match_info["kind"]
        version = request.query.get("api-version")
        if kind not in KINDS or not version:
            return web.json_response(self.error_body(400), status=400)
        listed = self.resources.get((request.match_info["subscription"], kind), [])
        offset = int(request.query.get("$skiptoken") or 0)
        body: dict[str, Any] = {"value": listed[offset : offset + self.page_size]}
        if offset + self.page_size < len(listed):
            body["nextLink"] = (
                f"{self.url}{request.path}?api-version={version}"
                f"&$skiptoken={offset + self.page_size}"
            )
        return web.json_response(body)


def _id(subscription: str, kind: str, name: str) -> str:
    group = f"/subscriptions/{subscription}/resourceGroups/rg-mesh"
    return f"{group}/providers/Microsoft.Network/{kind}/{name}"


def _resource(
    rid: str, location: str, tags: dict[str, str] | None, properties: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "name": rid.rsplit("/", 1)[-1],
        "type": "Microsoft.Network/" + rid.split("/")[-2],
        "location": location,
        "properties": {"provisioningState": "Succeeded", **properties},
    }
    if tags is not None:
        body["tags"] = tags
    return body
