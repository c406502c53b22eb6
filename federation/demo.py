"""``meshfed demo``: a whole federation on this machine, no cloud needed.

It serves the published example's shape with the cloud providers and the outside federation
peer left out (static endpoints on loopback only), on a throw-away embedded store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from federation.config import parse_config
from federation.model import Role
from federation.service import running_service

DEMO_CONFIG = """
federation: {name: demo, trust_domain: demo.mesh}
store: sqlite:///{store}
api: {listen: 127.0.0.1:0}
geoip: {default_location: aws:us-east-1}
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1, gateway: {address: 127.0.0.11, port: 15443}}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1, gateway: {address: 127.0.0.12, port: 15443}}
  - {name: azure-weu, cloud: azure, region: westeurope,
     gateway: {address: 127.0.0.13, port: 15443}}
providers:
  - name: local
    kind: static
    endpoints:
      - {cluster: aws-use1, service: payments.prod, address: 127.0.0.11, port: 9443}
      - {cluster: gcp-euw1, service: payments.prod, address: 127.0.0.12, port: 9443}
      - {cluster: azure-weu, service: payments.prod, address: 127.0.0.13, port: 9443}
services:
  - name: payments.prod
    port: 8080
    routing:
      mode: failover
      failover: [{aws-use1: 70, gcp-euw1: 30}, azure-weu]
policies:
  - {name: frontend-to-payments, action: allow, to: payments.prod,
     from: ["spiffe://demo.mesh/ns/web/sa/frontend"]}
"""


async def run_demo(duration: float) -> int:
    console = Console(highlight=False)
    with tempfile.TemporaryDirectory(prefix="meshfed-demo-") as workdir:
        config = parse_config(DEMO_CONFIG.replace("{store}", str(Path(workdir) / "state.db")))
        async with running_service(config) as running:
            token, _ = await running.context.tokens.create("demo-admin", Role.ADMIN)
            console.print(f"[bold]meshfed demo[/] serving the admin API at {running.url}")
            console.print(f"admin token (shown once): {token}")
            console.print(
                f"  curl -H 'Authorization: Bearer {token}' {running.url}/v1/clusters",
                soft_wrap=True,
            )
            await _tour(console, running.url, token)
            console.print(f"serving for {duration:g} s more; press Ctrl-C to stop sooner")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(duration)
    console.print("demo stopped; everything it started is gone")
    return 0


async def _tour(console: Console, url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(url, headers=headers, timeout=timeout) as http:
        clusters = await _get(http, "/v1/clusters")
        table = Table("cluster", "cloud", "region", "gateway", title="clusters")
        for c in clusters["items"]:
            gateway = c.get("gateway") or {}
            table.add_row(
                c["name"],
                c["cloud"],
                c["region"],
                f"{gateway.get('address', '-')}:{gateway.get('port', '-')}",
            )
        console.print(table)
        service = {
            "name": "orders.prod",
            "port": 9090,
            "routing": {"mode": "weighted", "weights": {"aws-use1": 1, "gcp-euw1": 1}},
        }
        async with http.put("/v1/services/orders.prod", json=service) as response:
            created = await response.json()
            console.print(
                f"PUT /v1/services/orders.prod -> {response.status}, revision {created['revision']}"
            )
        bad = {**service, "routing": {"mode": "weighted", "weights": {"aws-usw2": 1}}}
        async with http.put(
            "/v1/services/orders.prod", json=bad, headers={"If-Match": f'"{created["revision"]}"'}
        ) as response:
            problem = await response.json(content_type=None)
            first = problem["errors"][0]
            console.print(
                f"a bad write is refused ({response.status}): {first['path']}: "
                f"{first['message']} (hint: {first['hint']})"
            )


async def _get(http: aiohttp.ClientSession, path: str) -> Any:
    async with http.get(path) as response:
        response.raise_for_status()
        return json.loads(await response.text())
