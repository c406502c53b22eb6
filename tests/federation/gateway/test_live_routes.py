"""A new route table applies to new connections; relays already open keep their upstream."""

from __future__ import annotations

from federation.gateway.live_routes import LiveRouteTable
from federation.gateway.route_config import GatewayConfig, ServiceRoute, TrafficSpec, UpstreamSpec
from tests.federation.gateway.conftest import SNI_A, Backend, GatewayFactory, TlsClient

TRAFFIC = TrafficSpec(
    connect_timeout_s=1,
    attempts=1,
    backoff_base_s=0,
    backoff_max_s=0,
    retry_on=["connect-failure"],
    max_connections=10,
    max_pending_requests=10,
)


def config(version: int, backend: Backend) -> GatewayConfig:
    host, port = backend.address
    upstream = UpstreamSpec(address=host, port=port, cluster="c1", kind="endpoint")
    route = ServiceRoute(
        service="svc-a.ns", port=443, local=True, upstreams=[upstream], traffic=TRAFFIC
    )
    return GatewayConfig(cluster="c1", version=version, services=[route])


async def test_a_swapped_table_routes_new_connections_and_leaves_open_ones_alone(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    routes = LiveRouteTable(config(1, backends["a"]))
    gw = await start_gateway(routes)
    before = await TlsClient.connect(gw.address, SNI_A, backends["a"].identity.client_context())

    routes.replace(config(2, backends["b"]))
    assert routes.version == 2
    # Only b's CA is trusted, so the handshake proves the new connection reached b (whose
    # certificate names another host, hence no host name check).
    trust_b = backends["b"].identity.client_context()
    trust_b.check_hostname = False
    after = await TlsClient.connect(gw.address, SNI_A, trust_b)
    assert await after.exchange(b"new\n") == b"b got new\n"
    assert await before.exchange(b"old\n") == b"a got old\n"
    before.close()
    after.close()
    assert backends["a"].server_names == [SNI_A]
    assert backends["b"].server_names == [SNI_A]


async def test_a_port_other_than_the_services_is_not_routed(
    backends: dict[str, Backend],
) -> None:
    routes = LiveRouteTable(config(1, backends["a"]))
    assert routes.upstreams("svc-a.ns", 443, None)
    assert routes.upstreams("svc-a.ns", None, None)
    assert routes.upstreams("svc-a.ns", 8443, None) == ()
    assert routes.upstreams("svc-b.ns", None, None) == ()
