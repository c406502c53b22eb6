"""The lab itself: the control plane, each cluster's gateway and echo service, on loopback.

aws-use1 is where the caller lives: the traffic client sends payments.prod to aws-use1's
gateway, which does not serve it, so the gateway forwards to the next cluster's gateway in the
service's failover order (gcp-euw1, then azure-weu) with the SNI unchanged. Killing
gcp-euw1's gateway is the outage: the connect to it fails and the retry goes to azure-weu.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from federation.config import parse_config
from federation.gateway.route_plan import plan_gateway_config, static_endpoints
from federation.lab.certs import LabPki, make_lab_pki
from federation.lab.processes import ChildProcess, LabProcessError
from federation.lab.traffic import TrafficTarget
from federation.tokens import token_hash
from geo import RegionCatalog

SERVICE = "payments.prod"
SERVICE_PORT = 8080
SERVER_NAME = f"outbound_.{SERVICE_PORT}_._.{SERVICE}.svc.cluster.local"
_START_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class LabCluster:
    name: str
    cloud: str
    region: str
    address: str  # its own loopback address: its gateway and echo service listen there
    serves: str  # the service its echo instance belongs to


CLUSTERS = (
    LabCluster("aws-use1", "aws", "us-east-1", "127.0.0.11", "orders.prod"),
    LabCluster("gcp-euw1", "gcp", "europe-west1", "127.0.0.12", SERVICE),
    LabCluster("azure-weu", "azure", "westeurope", "127.0.0.13", SERVICE),
)
CALLER = CLUSTERS[0].name
FAILOVER = (CLUSTERS[1].name, CLUSTERS[2].name)


@dataclass(frozen=True, slots=True)
class LabPorts:
    api: int
    gateways: dict[str, int]
    echoes: dict[str, int]


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def lab_config(ports: LabPorts, store: Path, token: str) -> str:
    endpoints = []
    for c in CLUSTERS:
        endpoints.append(
            f"      - {{cluster: {c.name}, role: gateway, address: {c.address}, "
            f"port: {ports.gateways[c.name]}}}"
        )
        endpoints.append(
            f"      - {{cluster: {c.name}, service: {c.serves}, address: {c.address}, "
            f"port: {ports.echoes[c.name]}}}"
        )
    clusters = "\n".join(
        f"  - {{name: {c.name}, cloud: {c.cloud}, region: {c.region}}}" for c in CLUSTERS
    )
    return f"""
federation: {{name: lab, trust_domain: lab.mesh}}
store: sqlite:///{store}
api:
  listen: 127.0.0.1:{ports.api}
  drain_timeout: 2s
  tokens: [{{name: lab-gateways, role: operator, sha256: "{token_hash(token)}"}}]
geoip: {{default_location: aws:us-east-1}}
clusters:
{clusters}
providers:
  - name: lab
    kind: static
    endpoints:
{chr(10).join(endpoints)}
services:
  - name: {SERVICE}
    port: {SERVICE_PORT}
    routing: {{mode: failover, failover: [{", ".join(FAILOVER)}]}}
    health_check: {{kind: tls, interval: 500ms, timeout: 500ms, unhealthy_threshold: 2,
                    healthy_threshold: 1}}
    retries: {{attempts: 3, per_try_timeout: 500ms, backoff_base: 1ms, backoff_max: 10ms,
              retry_on: [connect-failure, reset]}}
  - name: orders.prod
    port: {SERVICE_PORT}
"""


class Lab:
    """A running lab. Gateways can be killed and started again; the rest lives as long as it."""

    def __init__(
        self, workdir: Path, config: Path, ports: LabPorts, pki: LabPki, token: str
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.ports = ports
        self.pki = pki
        self.url = f"http://127.0.0.1:{ports.api}"
        self._token = token
        self._gateways: dict[str, ChildProcess] = {}
        self._starts: dict[str, int] = {}
        self._expected = _expected_upstreams(config)

    def cluster(self, name: str) -> LabCluster:
        return next(c for c in CLUSTERS if c.name == name)

    def gateway_address(self, cluster: str) -> tuple[str, int]:
        return self.cluster(cluster).address, self.ports.gateways[cluster]

    def traffic_target(self) -> TrafficTarget:
        return TrafficTarget(self.gateway_address(CALLER), SERVER_NAME, str(self.pki.ca_file))

    def gateway(self, cluster: str) -> ChildProcess:
        return self._gateways[cluster]

    async def start_gateway(self, cluster: str) -> ChildProcess:
        """Start the cluster's gateway and return once it holds its full route table."""
        self._starts[cluster] = count = self._starts.get(cluster, 0) + 1
        host, port = self.gateway_address(cluster)
        gateway = await ChildProcess.start(
            f"gateway {cluster}",
            [
                *("federation.cli", "gateway", "--config", str(self.config)),
                *("--cluster", cluster, "--listen", f"{host}:{port}", "--mode", "passthrough"),
                *("--server", self.url, "--drain-timeout", "2s"),
                *("--access-log", str(self.workdir / f"access-{cluster}.log")),
            ],
            self.workdir / f"gateway-{cluster}-{count}.log",
            env={"MESHFED_TOKEN": self._token},
        )
        self._gateways[cluster] = gateway
        expected = self._expected[cluster]

        def routed() -> bool:
            return any(
                line.get("message") == "routes applied" and line.get("upstreams") == expected
                for line in gateway.log_lines()
            )

        await gateway.wait_for(routed, _START_TIMEOUT, f"route table with {expected} upstreams")
        return gateway

    async def kill_gateway(self, cluster: str) -> None:
        gateway = self._gateways[cluster]
        gateway.kill()
        await gateway.process.wait()

    async def stop_gateways(self) -> None:
        await asyncio.gather(*(g.stop() for g in self._gateways.values()))


def _expected_upstreams(config: Path) -> dict[str, int]:
    """How many upstreams each gateway holds once discovery has seen every static endpoint."""
    parsed = parse_config(config.read_text())
    catalog = RegionCatalog.load()
    endpoints = static_endpoints(parsed)
    counts = {}
    for cluster in CLUSTERS:
        plan = plan_gateway_config(parsed, cluster.name, endpoints, 0, catalog)
        counts[cluster.name] = sum(len(route.upstreams) for route in plan.services)
    return counts


@asynccontextmanager
async def running_lab(workdir: Path) -> AsyncIterator[Lab]:
    """Start everything; on exit (an error and cancellation included) stop all of it."""
    ports = LabPorts(
        api=free_port("127.0.0.1"),
        gateways={c.name: free_port(c.address) for c in CLUSTERS},
        echoes={c.name: free_port(c.address) for c in CLUSTERS},
    )
    names = {
        f"{prefix}{c.serves}.svc.cluster.local"
        for c in CLUSTERS
        for prefix in ("", f"outbound_.{SERVICE_PORT}_._.")
    }
    pki = await asyncio.to_thread(make_lab_pki, workdir, sorted(names))
    token = secrets.token_urlsafe(24)
    config = workdir / "meshfed.yaml"
    config.write_text(lab_config(ports, workdir / "state.db", token))
    lab = await asyncio.to_thread(Lab, workdir, config, ports, pki, token)
    async with AsyncExitStack() as stack:
        children: list[ChildProcess] = []

        async def stop_children() -> None:
            await asyncio.gather(*(child.stop() for child in children))

        stack.push_async_callback(stop_children)
        stack.push_async_callback(lab.stop_gateways)
        serve = await ChildProcess.start(
            "meshfed serve",
            ["federation.cli", "serve", "--config", str(config)],
            workdir / "serve.log",
        )
        children.append(serve)
        echoes = [await _start_echo(c, ports.echoes[c.name], pki, workdir) for c in CLUSTERS]
        children.extend(echoes)
        await _wait_ready(serve, lab.url)
        for echo in echoes:
            await echo.wait_for(_listening(echo), _START_TIMEOUT, "its listener")
        async with asyncio.TaskGroup() as group:
            for cluster in CLUSTERS:
                group.create_task(lab.start_gateway(cluster.name))
        yield lab


async def _start_echo(cluster: LabCluster, port: int, pki: LabPki, workdir: Path) -> ChildProcess:
    return await ChildProcess.start(
        f"echo {cluster.name}",
        [
            *("federation.lab.echo", "--cluster", cluster.name),
            *("--listen", f"{cluster.address}:{port}"),
            *("--cert", str(pki.cert_file), "--key", str(pki.key_file)),
        ],
        workdir / f"echo-{cluster.name}.log",
    )


def _listening(echo: ChildProcess) -> Callable[[], bool]:
    return lambda: "listening" in echo.log.read_text()


async def _wait_ready(serve: ChildProcess, url: str) -> None:
    timeout = aiohttp.ClientTimeout(total=1)

    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def ready() -> bool:
            try:
                async with session.get(f"{url}/readyz") as response:
                    return response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        try:
            async with asyncio.timeout(_START_TIMEOUT):
                while not await ready():
                    if not serve.running:
                        raise LabProcessError(f"meshfed serve exited:\n{serve.tail()}")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise LabProcessError(
                f"meshfed serve not ready within {_START_TIMEOUT:g}s:\n{serve.tail()}"
            ) from None
