"""``meshfed discover``: one discovery pass against the configured clouds, no server."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from federation.discovery import DiscoveryLoop, ProviderStatus
from federation.metrics import Metrics
from federation.model import MeshfedConfig
from federation.provider_factory import scheduled_providers
from federation.registry import MergedEndpoint, Registry
from federation.store.memory import MemoryStore


class UnknownProviderError(ValueError):
    pass


async def discover(config: MeshfedConfig, only: str | None, output: str, console: Console) -> int:
    names = [p.name for p in config.providers]
    if only is not None and only not in names:
        raise UnknownProviderError(
            f"no provider named {only!r} in the config: use one of {', '.join(names) or '(none)'}"
        )
    store = MemoryStore()
    registry = Registry(store, names)
    loop = DiscoveryLoop(
        scheduled_providers(config.providers, config.clusters, only), registry, Metrics()
    )
    chosen = [n for n in names if only in (None, n)]
    statuses = await run_with_progress(loop, chosen, console)
    await store.close()
    endpoints = registry.endpoints()
    if output == "json":
        print(json.dumps([e.to_json() for e in endpoints], indent=2))
    else:
        console.print(_table(endpoints))
    failed = [s for s in statuses if s.last_error is not None]
    for status in failed:
        print(
            f"provider {status.name}: {status.last_error_kind}: {status.last_error}",
            file=sys.stderr,
        )
    for status in statuses:
        for warning in status.warnings:
            print(f"provider {status.name}: skipped: {warning}", file=sys.stderr)
    return 1 if failed else 0


async def run_with_progress(
    loop: DiscoveryLoop, names: Sequence[str], console: Console
) -> list[ProviderStatus]:
    # Progress only on a terminal: piped output stays clean JSON or a table.
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        tasks = {n: progress.add_task(f"discovering with {n}", total=1) for n in names}

        async def one(name: str) -> ProviderStatus:
            status = await loop.sync_once(name)
            progress.update(
                tasks[name], completed=1, description=f"{name}: {status.endpoints} endpoints"
            )
            return status

        return list(await asyncio.gather(*(one(n) for n in names)))


def _table(endpoints: Sequence[MergedEndpoint]) -> Table:
    table = Table(
        "cluster",
        "role",
        "service",
        "address",
        "cloud",
        "region",
        "zone",
        "provider",
        "health",
        title=f"{len(endpoints)} endpoints",
    )
    for item in endpoints:
        e = item.endpoint
        table.add_row(
            e.cluster,
            e.role.value,
            e.service or "-",
            f"{e.address}:{e.port}",
            e.cloud,
            e.region,
            e.zone or "-",
            item.provider,
            e.health.value,
        )
    return table
