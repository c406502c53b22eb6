"""Governance through a real gateway: connect retries, retry budget, breakers, rate limit."""

from __future__ import annotations

import asyncio

import pytest

from federation.config import parse_config
from federation.gateway.command import traffic_governance
from federation.gateway.events import EventKind
from federation.gateway.governance import Governance, TrafficPolicy
from federation.gateway.live_routes import LiveRouteTable
from federation.gateway.options import GatewayOptions
from federation.gateway.ratelimit import RateLimit, RateLimiter
from federation.gateway.route_config import GatewayConfig, ServiceRoute, UpstreamSpec
from federation.gateway.routes import StaticRouteTable, Upstream
from federation.retry import RetryBudget, RetryOn
from tests.federation.gateway.conftest import (
    DEADLINE,
    SNI_A,
    SNI_B,
    Backend,
    GatewayFactory,
    RunningGateway,
    TlsClient,
)
from tests.federation.gateway.hellos import captured_client_hello
from tests.federation.gateway.test_live_routes import TRAFFIC


def governed(policy: TrafficPolicy, **options: object) -> Governance:
    return Governance(lambda _: policy, rand=lambda: 0.0, **options)  # type: ignore[arg-type]


async def hold_open(gw: RunningGateway, backend: Backend) -> TlsClient:
    """A connection that has finished its handshake and is relaying, held until closed."""
    return await TlsClient.connect(gw.address, SNI_A, backend.identity.client_context())


async def open_raw(gw: RunningGateway) -> asyncio.StreamWriter:
    _, writer = await asyncio.open_connection(*gw.address)
    writer.write(captured_client_hello(SNI_A))
    await writer.drain()
    return writer


async def test_a_refused_connect_is_retried_on_the_next_candidate(
    backends: dict[str, Backend], start_gateway: GatewayFactory, free_port: int
) -> None:
    refusing = Upstream("127.0.0.1", free_port, "c1")
    table = StaticRouteTable({"svc-a.ns": [refusing, backends["a"].upstream]})
    policy = TrafficPolicy(connect_timeout=1.0, attempts=2, backoff_base=0.01, backoff_max=0.01)
    gw = await start_gateway(table, governance=governed(policy))
    client = await hold_open(gw, backends["a"])
    assert await client.exchange(b"ping\n") == b"a got ping\n"
    client.close()
    relayed = await gw.events.wait_for(EventKind.RELAYED)
    assert relayed.upstream == backends["a"].upstream
    assert relayed.connect_seconds is not None and relayed.connect_seconds > 0


@pytest.mark.parametrize(
    ("policy", "budget", "explains"),
    [
        (TrafficPolicy(1.0, attempts=1), RetryBudget(), "attempts exhausted after 1"),
        (
            TrafficPolicy(1.0, attempts=3, retry_on=frozenset()),
            RetryBudget(),
            "not retryable after 1",
        ),
        (
            TrafficPolicy(1.0, attempts=3),
            RetryBudget(budget_percent=0, min_retry_concurrency=0),
            "retry budget exceeded after 1",
        ),
    ],
    ids=["attempts", "retry-on", "budget"],
)
async def test_no_retry_happens_past_attempts_retry_on_or_the_budget(
    backends: dict[str, Backend],
    start_gateway: GatewayFactory,
    free_port: int,
    policy: TrafficPolicy,
    budget: RetryBudget,
    explains: str,
) -> None:
    refusing = Upstream("127.0.0.1", free_port, "c1")
    table = StaticRouteTable({"svc-a.ns": [refusing, backends["a"].upstream]})
    gw = await start_gateway(table, governance=governed(policy, budget=budget))
    writer = await open_raw(gw)
    event = await gw.events.wait_for(EventKind.UPSTREAMS_UNREACHABLE)
    writer.close()
    assert explains in event.detail
    assert gw.events.kinds().count(EventKind.UPSTREAM_CONNECT_FAILED) == 1
    assert backends["a"].server_names == []


async def test_connect_failures_wrap_round_the_candidates_up_to_attempts(
    start_gateway: GatewayFactory, free_port: int
) -> None:
    refusing = Upstream("127.0.0.1", free_port, "c1")
    policy = TrafficPolicy(1.0, attempts=3, retry_on=frozenset({RetryOn.CONNECT_FAILURE}))
    gw = await start_gateway(
        StaticRouteTable({"svc-a.ns": [refusing]}), governance=governed(policy)
    )
    writer = await open_raw(gw)
    event = await gw.events.wait_for(EventKind.UPSTREAMS_UNREACHABLE)
    writer.close()
    assert gw.events.kinds().count(EventKind.UPSTREAM_CONNECT_FAILED) == 3
    assert "attempts exhausted after 3" in event.detail


async def test_a_full_breaker_sends_the_next_connection_to_another_cluster_then_refuses(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    in_c1 = Upstream(*backends["a"].address, "c1")
    in_c2 = Upstream(*backends["b"].address, "c2")
    table = StaticRouteTable({"svc-a.ns": [in_c1, in_c2]})
    governance = governed(TrafficPolicy(1.0, max_connections=1))
    gw = await start_gateway(table, governance=governance)
    first = await hold_open(gw, backends["a"])
    second = await open_raw(gw)
    overflow = await gw.events.wait_for(EventKind.CIRCUIT_OVERFLOW)
    assert overflow.upstream == in_c1
    async with asyncio.timeout(DEADLINE):
        # The second connection holds c2's one slot once its relay runs.
        while gw.gateway.relaying_by_service().get("svc-a.ns") != 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    third = await open_raw(gw)
    refused = await gw.events.wait_for(EventKind.CIRCUIT_OPEN)
    assert "max_connections 1 reached" in refused.detail
    assert "circuit_breaker" in refused.detail

    # Closing the first relay frees its slot: the next connection goes to c1 again.
    first.close()
    await gw.events.wait_for(EventKind.RELAYED)
    client = await hold_open(gw, backends["a"])
    assert await client.exchange(b"ping\n") == b"a got ping\n"
    for writer in (second, third):
        writer.close()
    client.close()


async def test_over_the_rate_limit_a_connection_is_closed_without_touching_an_upstream(
    backends: dict[str, Backend], start_gateway: GatewayFactory
) -> None:
    limiter = RateLimiter(RateLimit(rate=0.5, burst=1, queue_timeout=0.05))
    table = StaticRouteTable({"svc-a.ns": [backends["a"].upstream]})
    gw = await start_gateway(table, governance=governed(TrafficPolicy(1.0), rate_limiter=limiter))
    client = await hold_open(gw, backends["a"])
    assert await client.exchange(b"ping\n") == b"a got ping\n"
    reader, writer = await asyncio.open_connection(*gw.address)
    writer.write(captured_client_hello(SNI_A))
    async with asyncio.timeout(DEADLINE):
        assert await reader.read() == b""
    refused = await gw.events.wait_for(EventKind.RATE_LIMITED)
    assert refused.upstream is None
    assert backends["a"].server_names == [SNI_A]
    writer.close()
    client.close()


async def test_open_connections_count_toward_the_retry_budget(
    backends: dict[str, Backend], start_gateway: GatewayFactory, free_port: int
) -> None:
    """Envoy's rule: retries may be a share of *active* requests. With four connections
    relaying through the gateway, a fifth may retry at 50% even with no floor; a budget of
    connects in progress alone (one) would refuse it."""
    refusing = Upstream("127.0.0.1", free_port, "c1")
    table = StaticRouteTable(
        {"svc-a.ns": [refusing, backends["a"].upstream], "svc-b.ns": [backends["b"].upstream]}
    )
    policy = TrafficPolicy(1.0, attempts=2, backoff_base=0.01, backoff_max=0.01)
    governance = governed(policy, budget=RetryBudget(budget_percent=50, min_retry_concurrency=0))
    gw = await start_gateway(table, governance=governance)
    open_ones = [
        await TlsClient.connect(gw.address, SNI_B, backends["b"].identity.client_context())
        for _ in range(4)
    ]
    for held in open_ones:
        assert await held.exchange(b"hi\n") == b"b got hi\n"
    client = await hold_open(gw, backends["a"])
    assert await client.exchange(b"ping\n") == b"a got ping\n"
    for held in (*open_ones, client):
        held.close()


def test_traffic_settings_follow_a_replaced_route_table_and_are_built_once_per_version() -> None:
    def table(version: int, max_connections: int) -> GatewayConfig:
        traffic = TRAFFIC.model_copy(update={"attempts": 2, "max_connections": max_connections})
        upstream = UpstreamSpec(address="127.0.0.1", port=9, cluster="c1", kind="endpoint")
        route = ServiceRoute(
            service="svc-a.ns", port=443, local=True, upstreams=[upstream], traffic=traffic
        )
        return GatewayConfig(cluster="c1", version=version, services=[route])

    config = parse_config(
        "federation: {name: f, trust_domain: f.mesh}\nstore: memory://\n"
        "clusters: [{name: c1, cloud: aws, region: us-east-1}]\n"
    )
    routes = LiveRouteTable(table(1, max_connections=3))
    governance = traffic_governance(
        GatewayOptions(config=config, cluster="c1", listen=("127.0.0.1", 0)), routes
    )
    first = governance.policy("svc-a.ns")
    assert first.max_connections == 3 and first.retry_policy(5).attempts == 2
    assert governance.policy("svc-a.ns") is first
    routes.replace(table(2, max_connections=7))
    assert governance.policy("svc-a.ns").max_connections == 7
    # A service the table does not describe still gets a bounded connect.
    assert governance.policy("other.ns").connect_timeout > 0
