"""``meshfed gateway``: the passthrough data plane wired to its routes, metrics and logs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from federation.api.policy_check import policies_in_force
from federation.config import load_config
from federation.gateway.access_log import AccessLog, AccessLogError
from federation.gateway.control_plane import ControlPlane, follow_routes
from federation.gateway.denial_reporter import DenialReporter
from federation.gateway.events import ConnectionEvent
from federation.gateway.governance import Governance, TrafficPolicy
from federation.gateway.identity import SvidUnavailableError, identity_from_server
from federation.gateway.live_routes import LiveRouteTable
from federation.gateway.metrics import GatewayMetrics, metrics_app
from federation.gateway.mtls import MtlsTerminator, SvidFilesError
from federation.gateway.options import GatewayOptions, GatewayOptionsError, options_from_args
from federation.gateway.outlier_reporter import OutlierReporter
from federation.gateway.passthrough import EventHook, PassthroughGateway
from federation.gateway.ratelimit import RateLimiter, RateLimitError
from federation.gateway.route_config import GatewayConfig, TrafficSpec
from federation.gateway.route_plan import (
    UnknownClusterError,
    plan_gateway_config,
    static_endpoints,
)
from federation.logs import configure_logging
from federation.problems import InvalidInputError
from federation.retry import RetryBudget
from geo import RegionCatalog

log = logging.getLogger("meshfed.gateway")

# Used for a service the route table does not describe yet; its connects still need a bound.
_FALLBACK_CONNECT_TIMEOUT = 1.0


FIRST_ROUTES_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class RunningGateway:
    address: tuple[str, int]
    metrics_address: tuple[str, int] | None
    gateway: PassthroughGateway
    routes: LiveRouteTable
    metrics: GatewayMetrics


def fan_out(*hooks: EventHook) -> EventHook:
    def emit(event: ConnectionEvent) -> None:
        for hook in hooks:
            try:
                hook(event)
            except Exception:
                # One broken observer must not starve the others of the event.
                log.exception("gateway observer %r failed on %s", hook, event.kind)

    return emit


async def initial_routes(options: GatewayOptions) -> GatewayConfig:
    """Static routes from the config file; an empty table until the control plane answers."""
    if options.server is not None:
        return GatewayConfig(cluster=options.cluster, version=0, services=[])
    catalog = await asyncio.to_thread(RegionCatalog.load)
    endpoints = static_endpoints(options.config)
    return plan_gateway_config(options.config, options.cluster, endpoints, 0, catalog)


@asynccontextmanager
async def running_gateway(options: GatewayOptions) -> AsyncIterator[RunningGateway]:
    """Listen, serve and follow route updates; on exit stop accepting and drain."""
    routes = LiveRouteTable(await initial_routes(options))
    gateway: PassthroughGateway | None = None
    metrics = GatewayMetrics(
        lambda: gateway.relaying_by_service() if gateway else {},
        known_route=lambda service: routes.route(service) is not None,
    )
    async with AsyncExitStack() as stack:
        access_log = stack.enter_context(
            AccessLog(
                options.access_log,
                on_dropped=lambda reason, lines: metrics.access_log_dropped.labels(reason).inc(
                    lines
                ),
            )
        )
        hooks: list[EventHook] = [metrics.observe, access_log.observe]
        terminator = options.terminator
        if options.svid_from_server:
            terminator = await _identity_from_server(stack, options)
        if options.server is None:
            metrics.route_updates.labels("static").inc()
        else:
            hooks.append(await _follow_control_plane(stack, options, routes, metrics))
        gateway = PassthroughGateway(
            routes,
            hello_timeout=options.hello_timeout,
            on_event=fan_out(*hooks),
            governance=traffic_governance(options, routes),
            terminator=terminator,
        )
        address = await gateway.start(*options.listen, reuse_port=options.reuse_port)
        stack.push_async_callback(gateway.stop, options.drain_timeout)
        metrics_address = None
        if options.metrics_listen is not None:
            metrics_address = await _serve_metrics(stack, metrics, options.metrics_listen)
        log.info(
            "gateway listening",
            extra={
                "address": f"{address[0]}:{address[1]}",
                "metrics": f"{metrics_address[0]}:{metrics_address[1]}"
                if metrics_address
                else None,
                "cluster": options.cluster,
                "routes": "control plane" if options.server else "static",
                "mode": "passthrough" if terminator is None else "mtls",
            },
        )
        yield RunningGateway(address, metrics_address, gateway, routes, metrics)
        log.info("draining", extra={"timeout_s": options.drain_timeout})


async def _identity_from_server(stack: AsyncExitStack, options: GatewayOptions) -> MtlsTerminator:
    assert options.server is not None
    config = options.config
    return await identity_from_server(
        stack,
        server=options.server,
        token=options.token or "",
        trust_domain=config.federation.trust_domain,
        cluster=options.cluster,
        key_type=config.trust.key_type,
        policies=policies_in_force(config),
        default_action=config.authorization.default_action,
        handshake_timeout=options.hello_timeout,
    )


def traffic_governance(options: GatewayOptions, routes: LiveRouteTable) -> Governance:
    """Governance whose per-service settings follow the route table as it is replaced."""
    fallback = TrafficPolicy(options.connect_timeout or _FALLBACK_CONNECT_TIMEOUT)
    # Built once per route table version, not per connection.
    built: dict[str, tuple[TrafficSpec, TrafficPolicy]] = {}

    def policy_for(service: str) -> TrafficPolicy:
        route = routes.route(service)
        if route is None:
            return fallback
        known = built.get(service)
        if known is not None and known[0] is route.traffic:
            return known[1]
        policy = TrafficPolicy.from_spec(route.traffic, options.connect_timeout)
        built[service] = (route.traffic, policy)
        return policy

    limiter = RateLimiter(options.rate_limit) if options.rate_limit else None
    return Governance(policy_for, rate_limiter=limiter, budget=RetryBudget())


async def _follow_control_plane(
    stack: AsyncExitStack, options: GatewayOptions, routes: LiveRouteTable, metrics: GatewayMetrics
) -> EventHook:
    """Start following routes and sending outlier reports (and, in mtls mode, denials to the
    audit log); answer the reporters' event hook."""
    assert options.server is not None
    # Entered before the task group, so it closes only after the tasks using it are done.
    session = await stack.enter_async_context(aiohttp.ClientSession())
    background = await stack.enter_async_context(asyncio.TaskGroup())
    control_plane = ControlPlane(session, options.server, options.token or "")
    reporter = OutlierReporter(
        control_plane.report_outlier,
        lambda result, count: metrics.outlier_reports.labels(result).inc(count),
        cluster=options.cluster,
    )
    reporters: list[OutlierReporter | DenialReporter] = [reporter]
    if options.terminator is not None or options.svid_from_server:
        reporters.append(
            DenialReporter(
                control_plane.report_denials,
                lambda result, count: metrics.denial_reports.labels(result).inc(count),
                cluster=options.cluster,
            )
        )

    first_routes = asyncio.Event()

    def apply(config: GatewayConfig) -> None:
        routes.replace(config)
        first_routes.set()
        metrics.route_updates.labels("control_plane").inc()
        upstreams = sum(len(route.upstreams) for route in config.services)
        log.info(
            "routes applied",
            extra={
                "version": config.version,
                "services": len(config.services),
                "upstreams": upstreams,
            },
        )

    for work in (
        follow_routes(control_plane, options.cluster, apply),
        *(r.run() for r in reporters),
    ):
        stack.callback(background.create_task(work).cancel)
    # Listening before the first table arrives would refuse the connections of that gap; a
    # control plane that is down must not keep the gateway from starting, though.
    try:
        async with asyncio.timeout(FIRST_ROUTES_WAIT_S):
            await first_routes.wait()
    except TimeoutError:
        log.warning(
            "no route table from the control plane yet; listening without routes",
            extra={"server": options.server, "waited_s": FIRST_ROUTES_WAIT_S},
        )
    return fan_out(*(r.observe for r in reporters))


async def _serve_metrics(
    stack: AsyncExitStack, metrics: GatewayMetrics, listen: tuple[str, int]
) -> tuple[str, int]:
    runner = web.AppRunner(metrics_app(metrics), access_log=None, handle_signals=False)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, *listen).start()
    bound = runner.addresses[0]
    return str(bound[0]), int(bound[1])


async def serve_until_signal(options: GatewayOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_gateway(options):
        # What start-up built lives as long as the process: keeping it out of the collector's
        # scans saves every full collection the connections' garbage triggers from walking it.
        gc.freeze()
        await stop.wait()
    log.info("stopped")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (it relays faster); asyncio's own otherwise."""
    try:
        module = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = module.new_event_loop
    return factory


def run(options: GatewayOptions) -> None:
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve_until_signal(options))


def main(args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT: 0 after a drain, 1 for a config problem, 2 for bad flags."""
    configure_logging(args.log_level)
    try:
        config = load_config(args.config)
        known = [cluster.name for cluster in config.clusters]
        if args.cluster not in known:
            raise UnknownClusterError(args.cluster, known)
        options = options_from_args(args, config)
    except InvalidInputError as error:
        for problem in error.problems:
            print(f"{args.config}: error: {problem.path or '(document)'}: {problem.message}")
            if problem.hint:
                print(f"    hint: {problem.hint}")
        return 1
    except (GatewayOptionsError, RateLimitError, UnknownClusterError, SvidFilesError) as error:
        print(f"meshfed gateway: {error}", file=sys.stderr)
        return 2
    try:
        run(options)
    except (SvidUnavailableError, AccessLogError) as error:
        print(f"meshfed gateway: {error}", file=sys.stderr)
        return 2
    return 0
