"""The discovery loop: each provider on its own schedule, off the event loop, keeping the last
known good snapshot when a cloud misbehaves."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

from federation.metrics import Metrics
from federation.registry import Registry
from federation.store.base import StoreError
from providers.base import Provider, ProviderError, Snapshot

log = logging.getLogger("meshfed.discovery")
STATUS_PREFIX = "status/providers/"
FOLLOWER_POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Schedule:
    refresh_interval: float
    sync_timeout: float = 300.0  # one whole pass, every region and page included
    max_staleness: float | None = None
    jitter: float = 0.1  # ± this fraction of the interval, so replicas and providers spread out


@dataclass(frozen=True, slots=True)
class ScheduledProvider:
    provider: Provider
    schedule: Schedule


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    name: str
    cloud: str
    endpoints: int = 0
    last_success: float | None = None
    last_attempt: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    consecutive_failures: int = 0
    stale: bool = False
    staleness_seconds: float = 0.0
    withdrawn: bool = False
    next_run: float | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()


class DiscoveryLoop:
    def __init__(
        self,
        providers: Sequence[ScheduledProvider],
        registry: Registry,
        metrics: Metrics,
        *,
        max_concurrent_syncs: int = 4,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        self._providers = {p.provider.name: p for p in providers}
        self._registry = registry
        self._metrics = metrics
        self._gate = asyncio.Semaphore(max_concurrent_syncs)
        self._clock = clock
        self._rand = rand
        self._is_leader = is_leader
        self._status = {
            name: ProviderStatus(name, p.provider.cloud) for name, p in self._providers.items()
        }

    def statuses(self) -> list[ProviderStatus]:
        return [self._status[name] for name in sorted(self._status)]

    async def run(self) -> None:
        """Every provider in its own task until cancelled; one failing never stops another."""
        async with asyncio.TaskGroup() as group:
            for name in self._providers:
                group.create_task(self._provider_loop(name), name=f"discovery:{name}")

    async def sync_once(self, name: str) -> ProviderStatus:
        scheduled = self._providers[name]
        started = self._clock()
        status = replace(self._status[name], last_attempt=started)
        async with self._gate:
            try:
                snapshot = await asyncio.wait_for(
                    asyncio.to_thread(scheduled.provider.discover), scheduled.schedule.sync_timeout
                )
            except TimeoutError:
                status = await self._failed(status, "timeout", "the sync did not finish in time")
            except ProviderError as exc:
                status = await self._failed(status, exc.kind.value, str(exc))
            except Exception as exc:
                # A bug in one adapter must not take discovery down for every cloud.
                log.exception("discovery pass crashed", extra={"provider": name})
                status = await self._failed(status, "internal", f"unexpected error: {exc!r}")
            else:
                status = await self._record(status, snapshot)
        elapsed = self._clock() - started
        self._metrics.provider_sync_duration.labels(name).observe(elapsed)
        status = replace(status, last_duration=elapsed)
        self._status[name] = status
        await self._publish(status)
        return status

    async def _provider_loop(self, name: str) -> None:
        schedule = self._providers[name].schedule
        while True:
            if not self._is_leader():
                # Only the holder of the discovery lease calls the clouds; the others serve
                # what it writes to the store, and look again soon in case it goes away.
                await asyncio.sleep(FOLLOWER_POLL_SECONDS)
                continue
            await self.sync_once(name)
            spread = 1 + schedule.jitter * (2 * self._rand() - 1)
            delay = schedule.refresh_interval * spread
            self._status[name] = replace(self._status[name], next_run=self._clock() + delay)
            await asyncio.sleep(delay)

    async def _record(self, status: ProviderStatus, snapshot: Snapshot) -> ProviderStatus:
        if not snapshot.complete:
            # Part of the listing is missing: what was not seen must not disappear.
            detail = "; ".join(snapshot.warnings[:3]) or "no detail"
            return await self._failed(status, "partial", f"incomplete listing: {detail}")
        try:
            await self._registry.apply_snapshot(snapshot)
        except StoreError as exc:
            return await self._failed(status, "store", f"could not record the result: {exc}")

        for warning in snapshot.warnings:
            log.warning("resource skipped", extra={"provider": status.name, "reason": warning})
        self._metrics.provider_endpoints.labels(status.name, status.cloud).set(
            len(snapshot.endpoints)
        )
        self._metrics.provider_staleness.labels(status.name).set(0)
        self._metrics.registry_version.set(self._registry.version)
        return replace(
            status,
            endpoints=len(snapshot.endpoints),
            last_success=self._clock(),
            consecutive_failures=0,
            stale=False,
            staleness_seconds=0.0,
            withdrawn=False,
            warnings=snapshot.warnings,
        )

    async def _failed(self, status: ProviderStatus, kind: str, message: str) -> ProviderStatus:
        self._metrics.provider_sync_errors.labels(status.name, kind).inc()
        now = self._clock()
        since = status.last_success if status.last_success is not None else status.last_attempt
        age = now - since if since is not None else 0.0
        log.warning(
            "discovery pass failed; keeping the last good endpoints",
            extra={"provider": status.name, "kind": kind, "error": message, "stale_s": age},
        )
        limit = self._providers[status.name].schedule.max_staleness
        withdraw = limit is not None and age > limit and not status.withdrawn
        try:
            if withdraw:
                log.error(
                    "provider stale beyond max_staleness: withdrawing its endpoints",
                    extra={"provider": status.name, "stale_s": age, "max_staleness_s": limit},
                )
                self._metrics.provider_withdrawn.labels(status.name).inc()
                await self._registry.withdraw(status.name)
            else:
                await self._registry.mark_stale(status.name)
        except StoreError as exc:
            log.error(
                "could not record staleness", extra={"provider": status.name, "error": str(exc)}
            )
        self._metrics.provider_staleness.labels(status.name).set(age)
        return replace(
            status,
            last_error=message,
            last_error_kind=kind,
            consecutive_failures=status.consecutive_failures + 1,
            stale=True,
            staleness_seconds=age,
            withdrawn=status.withdrawn or withdraw,
        )

    async def _publish(self, status: ProviderStatus) -> None:
        try:
            await self._registry.store.put(STATUS_PREFIX + status.name, status.to_json())
        except StoreError as exc:
            log.warning("could not publish provider status", extra={"error": str(exc)})
