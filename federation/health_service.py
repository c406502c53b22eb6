"""Active health checks of every routed endpoint, shared among replicas, verdicts in the store.

Each service's endpoints are checked as its ``health_check`` says (tcp, tls or http); cluster
gateways with tcp at the default settings. A replica checks only the endpoints it owns
(rendezvous hashing over the live replicas), and writes each transition to
``health/<endpoint key>``, so every replica's scheduler applies the same verdict through its
watch. An endpoint starts from its stored verdict, or healthy when it has none: traffic is
not withheld from a new endpoint until checks prove it down, and a check that keeps failing
turns it unhealthy after ``unhealthy_threshold`` intervals.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from federation.health.checks import HttpProbe, Probe, TcpProbe, TlsProbe, tls_client_context
from federation.health.runner import (
    HealthCheckRunner,
    HealthTarget,
    HealthTransition,
    RunnerSettings,
)
from federation.health.state import Health, Thresholds
from federation.metrics import Metrics
from federation.model import HealthCheckSpec
from federation.routing.health_records import checked, update_health
from federation.routing.inputs import actively_checked
from federation.routing.live import LiveRouting, RoutedEndpoint
from federation.routing.membership import Membership
from federation.store.base import Store

log = logging.getLogger("meshfed.health")

GATEWAYS = "(gateways)"  # the group name of cluster gateways, which no service name can equal
GATEWAY_CHECK = HealthCheckSpec(kind="tcp")


@dataclass(slots=True)
class _Group:
    spec: HealthCheckSpec
    runner: HealthCheckRunner
    task: asyncio.Task[None]


def settings_for(spec: HealthCheckSpec) -> RunnerSettings:
    interval = spec.interval.total_seconds()
    return RunnerSettings(
        interval=interval,
        # Spread checks over a tenth of the interval, so replicas and endpoints do not all
        # probe at the same instant.
        jitter=interval / 10,
        thresholds=Thresholds(
            healthy_threshold=spec.healthy_threshold,
            unhealthy_threshold=spec.unhealthy_threshold,
        ),
    )


def probe_for(endpoint: RoutedEndpoint, spec: HealthCheckSpec, tls: ssl.SSLContext) -> Probe:
    address, port = endpoint.base.address, endpoint.base.port
    timeout = spec.timeout.total_seconds()
    if spec.kind == "tls":
        return TlsProbe(address, port, ssl_context=tls, timeout=timeout)
    if spec.kind == "http":
        host = f"[{address}]" if ":" in address else address
        return HttpProbe(f"http://{host}:{port}{spec.path}", timeout=timeout)
    return TcpProbe(address, port, timeout=timeout)


class HealthService:
    def __init__(
        self,
        store: Store,
        routing: LiveRouting,
        membership: Membership,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._routing = routing
        self._membership = membership
        self._metrics = metrics
        # Mesh endpoints present SPIFFE SVIDs, which carry no host name to verify: a tls check
        # proves that the handshake completes, which is what "up" means for a TLS listener.
        self._tls = tls_client_context(verify=False)
        self._groups: dict[str, _Group] = {}

    def checked_keys(self) -> frozenset[str]:
        """The endpoints this replica checks now."""
        return frozenset(k for g in self._groups.values() for k in g.runner.checked_keys())

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._membership.run(), name="health:membership")
            try:
                while True:
                    self._routing.topology_changed.clear()
                    self._membership.changed.clear()
                    self._reconcile(group)
                    await _first(self._routing.topology_changed, self._membership.changed)
            finally:
                for entry in self._groups.values():
                    entry.task.cancel()
                self._groups.clear()

    def _reconcile(self, group: asyncio.TaskGroup) -> None:
        wanted = self._wanted()
        for name in self._groups.keys() - wanted.keys():
            self._groups.pop(name).task.cancel()
        for name, (spec, endpoints) in wanted.items():
            entry = self._groups.get(name)
            if entry is None or entry.spec != spec:
                if entry is not None:
                    entry.task.cancel()
                entry = self._start(group, name, spec)
            entry.runner.set_targets(self._target(e, spec) for e in endpoints)
            entry.runner.set_ownership(self._membership.owns)

    def _wanted(self) -> dict[str, tuple[HealthCheckSpec, list[RoutedEndpoint]]]:
        services = self._routing.services()
        wanted: dict[str, tuple[HealthCheckSpec, list[RoutedEndpoint]]] = {}
        for endpoint in self._routing.endpoints():
            if not actively_checked(endpoint.reported):
                continue
            name = endpoint.base.service or GATEWAYS
            if name == GATEWAYS:
                spec = GATEWAY_CHECK
            elif name in services:
                spec = services[name].health_check
            else:
                continue
            wanted.setdefault(name, (spec, []))[1].append(endpoint)
        return wanted

    def _start(self, group: asyncio.TaskGroup, name: str, spec: HealthCheckSpec) -> _Group:
        runner = HealthCheckRunner(
            settings_for(spec),
            lambda transition: self._record(name, transition),
            owns=self._membership.owns,
        )
        task = group.create_task(runner.run(), name=f"health:{name}")
        self._groups[name] = entry = _Group(spec, runner, task)
        return entry

    def _target(self, endpoint: RoutedEndpoint, spec: HealthCheckSpec) -> HealthTarget:
        stored = self._routing.health(endpoint.base.key)
        known_bad = stored is not None and stored.healthy is False
        return HealthTarget(
            key=endpoint.base.key,
            probe=probe_for(endpoint, spec, self._tls),
            initial=Health.UNHEALTHY if known_bad else Health.HEALTHY,
        )

    async def _record(self, group: str, transition: HealthTransition) -> None:
        healthy = transition.current is Health.HEALTHY
        log.info("health changed", extra={"transition": transition.explanation})
        await update_health(self._store, transition.key, checked(healthy, transition.explanation))
        if self._metrics is not None:
            self._metrics.health_transitions.labels(group, transition.current.value).inc()


async def _first(*events: asyncio.Event) -> None:
    waiters: Iterable[asyncio.Task[bool]] = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
