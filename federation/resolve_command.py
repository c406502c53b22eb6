"""``meshfed resolve``: where a client's requests for a service go, locally or from a server.

With ``--config`` it runs one discovery pass of the config's providers into a memory store
and resolves there, exactly as a server would on the same state (without active health
checks, which need time to judge). With ``--server`` it asks a running meshfed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from federation.discover_command import run_with_progress
from federation.discovery import DiscoveryLoop
from federation.metrics import Metrics
from federation.model import MeshfedConfig
from federation.provider_factory import scheduled_providers
from federation.registry import Registry
from federation.resources import ConfigState
from federation.routing.live import LiveRouting
from federation.routing.resolver import Resolver
from federation.store.memory import MemoryStore
from geo import GeoIPDatabase, RegionCatalog

REQUEST_TIMEOUT_SECONDS = 10.0


class ResolveCommandError(Exception):
    """The server refused or could not be reached; the message says what to change."""


@dataclass(frozen=True, slots=True)
class ClientArgs:
    service: str
    from_ip: str | None
    from_region: str | None
    explain: bool


async def resolve_local(
    config: MeshfedConfig, client: ClientArgs, console: Console
) -> dict[str, Any]:
    store = MemoryStore()
    try:
        await ConfigState(store, config).seed(config)
        names = [p.name for p in config.providers]
        loop = DiscoveryLoop(
            scheduled_providers(config.providers, config.clusters),
            Registry(store, names),
            Metrics(),
        )
        for status in await run_with_progress(loop, names, console):
            if status.last_error is not None:
                print(
                    f"provider {status.name}: {status.last_error_kind}: {status.last_error} "
                    "(resolving without its endpoints)",
                    file=sys.stderr,
                )
        routing = LiveRouting(store, await asyncio.to_thread(RegionCatalog.load))
        await routing.load()
        geoip = None
        if config.geoip.city_db is not None:
            geoip = await asyncio.to_thread(GeoIPDatabase, config.geoip.city_db)
        try:
            resolver = Resolver(routing, config.geoip.default_location, geoip)
            return await resolver.resolve(
                client.service,
                client_ip=client.from_ip,
                client_region=client.from_region,
                explain=client.explain,
            )
        finally:
            if geoip is not None:
                geoip.close()
    finally:
        await store.close()


async def resolve_remote(server: str, token: str | None, client: ClientArgs) -> dict[str, Any]:
    if not token:
        raise ResolveCommandError(
            "no API token: pass --token or set MESHFED_TOKEN (create one with "
            "`meshfed token create --role viewer`)"
        )
    query = {"service": client.service, "explain": str(client.explain).lower()}
    if client.from_ip is not None:
        query["client_ip"] = client.from_ip
    if client.from_region is not None:
        query["client_region"] = client.from_region
    url = server.rstrip("/") + "/v1/resolve"
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, params=query, headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            body: dict[str, Any] = await r.json(content_type=None)
            status = r.status
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
        raise ResolveCommandError(
            f"could not ask {url}: {exc or type(exc).__name__}; check --server and that "
            "meshfed serve is running there"
        ) from exc
    if status != 200:
        hints = "; ".join(e.get("hint", "") for e in body.get("errors", []) if e.get("hint"))
        raise ResolveCommandError(
            f"{url} answered {status}: {body.get('detail', body)}"
            + (f" ({hints})" if hints else "")
        )
    return body


def render(body: dict[str, Any]) -> Table:
    client = body["client"]
    pick = body["pick"]
    chosen = (
        f"{pick['cluster']} {pick['address']}:{pick['port']}" if pick else "none (no healthy host)"
    )
    table = Table(
        "priority",
        "load %",
        "cluster",
        "share %",
        "healthy",
        "distance km",
        title=f"{body['service']} for a client at {client['region']} ({client['source']})",
        caption=f"pick: {chosen}",
    )
    for level in body["levels"]:
        panic = " (panic)" if level["panic"] else ""
        for index, cluster in enumerate(level["clusters"]):
            distance = cluster["distance_km"]
            table.add_row(
                str(level["priority"]) if index == 0 else "",
                f"{level['load_percent']}{panic}" if index == 0 else "",
                cluster["name"],
                str(cluster["share_percent"]),
                f"{cluster['healthy']}/{cluster['total']}",
                "-" if distance is None else f"{distance:.0f}",
            )
    return table
