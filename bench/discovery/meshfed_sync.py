"""The measured side: the three providers synced through ``DiscoveryLoop.sync_once`` into a
``Registry`` on a sqlite store, as ``meshfed serve`` wires them.

Each provider is wrapped so its ``discover`` (SDK listing plus mapping to endpoints) is timed on
its own; the rest of a sync is the registry's merge and diff and the store's writes. Run as a
worker process: ``python -m bench.discovery.meshfed_sync TARGETS_JSON``.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from google.auth.credentials import AnonymousCredentials

from bench.discovery.worker import Targets, serve_passes, timed
from federation.discovery import DiscoveryLoop, Schedule, ScheduledProvider
from federation.metrics import Metrics
from federation.registry import Diff, Registry
from federation.store import open_store
from providers.aws import AwsProvider
from providers.azure import AzureProvider
from providers.base import Provider, Snapshot
from providers.gcp import GcpProvider
from tests.support.azure_fake import StaticToken

SCHEDULE = Schedule(refresh_interval=30.0)


@dataclass
class TimedProvider:
    """A provider whose last ``discover`` took ``last_seconds``."""

    inner: Provider
    last_seconds: float = 0.0
    name: str = field(init=False)
    cloud: str = field(init=False)

    def __post_init__(self) -> None:
        self.name, self.cloud = self.inner.name, self.inner.cloud

    def discover(self) -> Snapshot:
        snapshot, self.last_seconds = timed(self.inner.discover)
        return snapshot


@dataclass
class DiffTally:
    """Endpoints added, removed and changed by the diffs of one pass, by provider."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def record(self, change: Diff) -> None:
        for kind, items in (
            ("added", change.added),
            ("removed", change.removed),
            ("changed", change.changed),
        ):
            for item in items:
                by_kind = self.counts.setdefault(item.provider, {})
                by_kind[kind] = by_kind.get(kind, 0) + 1


def providers(targets: Targets) -> list[TimedProvider]:
    return [
        TimedProvider(
            AwsProvider(
                "aws",
                [targets.aws_region],
                endpoint_url=targets.aws_url,
                call_timeout=targets.call_timeout,
                page_size=targets.aws_page_size,
            )
        ),
        TimedProvider(
            GcpProvider(
                "gcp",
                [targets.gcp_project],
                api_endpoint=targets.gcp_url,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                call_timeout=targets.call_timeout,
            )
        ),
        TimedProvider(
            AzureProvider(
                "azure",
                [targets.azure_subscription],
                base_url=targets.azure_url,
                credential=StaticToken(targets.azure_token),
                call_timeout=targets.call_timeout,
                connection_verify=targets.azure_ca_file,
            )
        ),
    ]


async def main(targets: Targets) -> None:
    timed_providers = providers(targets)
    store = open_store(targets.store_url)
    registry = Registry(store, [p.name for p in timed_providers])
    tally = DiffTally()
    registry.subscribe(tally.record)
    loop = DiscoveryLoop(
        [ScheduledProvider(p, SCHEDULE) for p in timed_providers], registry, Metrics()
    )

    async def one_pass() -> dict[str, Any]:
        tally.counts.clear()
        # Concurrently, as the running service syncs its providers.
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(loop.sync_once(p.name)) for p in timed_providers]
        statuses = {task.result().name: task.result() for task in tasks}
        clouds: dict[str, Any] = {}
        for provider in timed_providers:
            status = statuses[provider.name]
            if status.last_error is not None:
                raise RuntimeError(f"provider {provider.name} failed: {status.last_error}")
            sync = status.last_duration or 0.0
            clouds[provider.cloud] = {
                "seconds": sync,
                "discover_seconds": provider.last_seconds,
                "registry_and_store_seconds": sync - provider.last_seconds,
                "endpoints": status.endpoints,
                "diff": tally.counts.get(provider.name, {}),
            }
        return {"clouds": clouds, "registry_version": registry.version}

    async def warmup() -> None:
        # The providers' own listing, not a sync: clients and connections are made, the store
        # stays empty for the measured full pass.
        async with asyncio.TaskGroup() as group:
            for provider in timed_providers:
                group.create_task(asyncio.to_thread(provider.discover))

    try:
        await serve_passes(one_pass, warmup)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(Targets.from_json(sys.argv[1])))
