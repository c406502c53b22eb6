"""An SNI subset picks the gateway's upstreams over real sockets: the planned routes, the live
table and the passthrough listener together."""

from __future__ import annotations

import ssl

import pytest

from federation.config import parse_config
from federation.gateway.events import EventKind
from federation.gateway.live_routes import LiveRouteTable
from federation.gateway.route_config import GatewayConfig
from federation.gateway.route_plan import plan_gateway_config
from geo import RegionCatalog
from providers.base import Endpoint, Role
from tests.federation.gateway.conftest import SNI_A, SNI_A_V2, Backend, GatewayFactory, TlsClient

SNI_A_V1 = "outbound_.443_.v1_.svc-a.ns.svc.cluster.local"
SNI_A_V3 = "outbound_.443_.v3_.svc-a.ns.svc.cluster.local"
CONNECTIONS = 12
CONFIG = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
clusters:
  - {name: c1, cloud: aws, region: us-east-1}
services:
  - name: svc-a.ns
    port: 443
    subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
"""


def labelled(backend: Backend, version: str, weight: int) -> Endpoint:
    host, port = backend.address
    return Endpoint(
        "c1",
        Role.SERVICE,
        "svc-a.ns",
        host,
        port,
        "static",
        "us-east-1",
        weight=weight,
        labels=(("version", version),),
    )


def routes(backends: dict[str, Backend], ejected: frozenset[str] = frozenset()) -> GatewayConfig:
    # a (v1) weighs more, so it is the first candidate whenever it is one.
    endpoints = {"a": labelled(backends["a"], "v1", 2), "b": labelled(backends["b"], "v2", 1)}
    down = {endpoints[name].key for name in ejected}
    return plan_gateway_config(
        parse_config(CONFIG), "c1", endpoints.values(), 1, RegionCatalog.load(), down
    )


def trusting_both(backends: dict[str, Backend]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # b's certificate names another host: the reply, not the name, says who answered.
    context.check_hostname = False
    for backend in backends.values():
        context.load_verify_locations(cadata=backend.identity.ca_pem)
    return context


async def reply(address: tuple[str, int], sni: str, context: ssl.SSLContext) -> bytes:
    client = await TlsClient.connect(address, sni, context)
    try:
        return await client.exchange(b"hi\n")
    finally:
        client.close()


async def test_a_subset_in_the_sni_reaches_only_that_subsets_endpoints(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    gw = await start_gateway(LiveRouteTable(routes(backends)))
    context = trusting_both(backends)
    # v2 is the lesser candidate overall, so only the subset can send every connection there.
    for _ in range(CONNECTIONS):
        assert await reply(gw.address, SNI_A_V2, context) == b"b got hi\n"
    assert backends["b"].server_names == [SNI_A_V2] * CONNECTIONS
    assert await reply(gw.address, SNI_A_V1, context) == b"a got hi\n"
    assert backends["a"].server_names == [SNI_A_V1]


async def test_the_empty_subset_reaches_either_subsets_endpoints(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    table = LiveRouteTable(routes(backends))
    gw = await start_gateway(table)
    context = trusting_both(backends)
    assert await reply(gw.address, SNI_A, context) == b"a got hi\n"
    table.replace(routes(backends, ejected=frozenset({"a"})))
    assert await reply(gw.address, SNI_A, context) == b"b got hi\n"
    # With a out, v1 is a known subset with nowhere to go, not an unknown one.
    with pytest.raises(ssl.SSLError, match="INTERNAL_ERROR"):
        await reply(gw.address, SNI_A_V1, context)
    await gw.events.wait_for(EventKind.NO_UPSTREAM)


async def test_a_subset_the_service_does_not_define_is_refused_as_unknown_subset(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    gw = await start_gateway(LiveRouteTable(routes(backends)))
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        await reply(gw.address, SNI_A_V3, trusting_both(backends))
    event = await gw.events.wait_for(EventKind.UNKNOWN_SUBSET)
    assert "'v3'" in event.detail and "v1, v2" in event.detail
    assert event.route is not None and event.route.subset == "v3"
    assert backends["a"].server_names == backends["b"].server_names == []
