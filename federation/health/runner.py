"""Runs probes against a changing set of targets and reports health transitions.

Each owned target is checked every ``interval`` plus a uniform jitter in [0, ``jitter``]
(Envoy's ``interval_jitter``); the first check comes after the jitter alone, so new endpoints
are judged quickly but not all at the same instant. At most ``max_concurrency`` probes run at
once. Only *transitions* are reported, through an async callback, so the service can write them
to the store and every replica reads the same verdict. A transition counts as applied only once
the callback returns: if it raises, the target keeps its previous health and the next check
reports the transition again.

Work can be split between replicas with ``owns(key)``: targets it rejects are not checked and
their state is dropped, so a replica that takes one over starts from the target's ``initial``
health (which the service can restore from the store).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from federation.health.checks import Probe, ProbeResult
from federation.health.state import Health, TargetHealth, Thresholds, observe

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthTarget:
    key: str
    probe: Probe
    initial: Health = Health.UNHEALTHY


@dataclass(frozen=True, slots=True)
class HealthTransition:
    key: str
    previous: Health
    current: Health
    consecutive: int
    last_result: ProbeResult
    probe: str

    @property
    def explanation(self) -> str:
        verdict = "passed" if self.current is Health.HEALTHY else "failed"
        return (
            f"{self.key} {self.previous.value} -> {self.current.value} after {self.consecutive} "
            f"consecutive {verdict} check(s) ({self.probe}: {self.last_result.detail})"
        )


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    interval: float = 5.0
    jitter: float = 0.0
    max_concurrency: int = 64
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.jitter < 0:
            raise ValueError(
                f"health check interval {self.interval}s must be positive and jitter "
                f"{self.jitter}s not negative"
            )
        if self.max_concurrency < 1:
            raise ValueError(f"health check max_concurrency {self.max_concurrency} must be >= 1")


OnTransition = Callable[[HealthTransition], Awaitable[None]]


class _Watch:
    """One target's checking state; dropped with its task when the key goes away."""

    __slots__ = ("health", "target")

    def __init__(self, target: HealthTarget) -> None:
        self.target = target
        self.health = TargetHealth.initial(target.initial)


class HealthCheckRunner:
    def __init__(
        self,
        settings: RunnerSettings,
        on_transition: OnTransition,
        rand: Callable[[], float] = random.random,
        owns: Callable[[str], bool] = lambda _key: True,
    ) -> None:
        self.settings = settings
        self._on_transition = on_transition
        self._rand = rand
        self._owns = owns
        self._targets: dict[str, HealthTarget] = {}
        self._watches: dict[str, tuple[_Watch, asyncio.Task[None]]] = {}
        self._changed = asyncio.Event()
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._running = False

    def set_targets(self, targets: Iterable[HealthTarget]) -> None:
        """Replace the target set.

        A target is its key: a known key keeps its health and counters and uses the new probe
        from its next check on, so rebuilding equal targets on every registry update costs
        nothing. Give a target a new key when its health should start over.
        """
        self._targets = {t.key: t for t in targets}
        self._changed.set()

    def set_ownership(self, owns: Callable[[str], bool]) -> None:
        self._owns = owns
        self._changed.set()

    def health(self, key: str) -> Health | None:
        """The current verdict for an owned target, ``None`` for any other key."""
        entry = self._watches.get(key)
        return entry[0].health.status if entry is not None else None

    def checked_keys(self) -> frozenset[str]:
        return frozenset(self._watches)

    async def run(self) -> None:
        """Check until cancelled; cancelling stops every probe in flight."""
        if self._running:
            raise RuntimeError("this HealthCheckRunner is already running")
        self._running = True
        try:
            async with asyncio.TaskGroup() as group:
                while True:
                    self._changed.clear()
                    self._reconcile(group)
                    await self._changed.wait()
        finally:
            self._watches.clear()
            self._running = False

    def _reconcile(self, group: asyncio.TaskGroup) -> None:
        wanted = {k: t for k, t in self._targets.items() if self._owns(k)}
        for key, (_watch, task) in list(self._watches.items()):
            if key not in wanted:
                task.cancel()
                del self._watches[key]
        for key, target in wanted.items():
            if key in self._watches:
                self._watches[key][0].target = target
            else:
                watch = _Watch(target)
                self._watches[key] = (watch, group.create_task(self._check_forever(watch)))

    async def _check_forever(self, watch: _Watch) -> None:
        delay = self._rand() * self.settings.jitter
        while True:
            await asyncio.sleep(delay)
            async with self._semaphore:
                result = await watch.target.probe.check()
            await self._apply(watch, result)
            delay = self.settings.interval + self._rand() * self.settings.jitter

    async def _apply(self, watch: _Watch, result: ProbeResult) -> None:
        before = watch.health
        after = observe(before, result.passed, self.settings.thresholds)
        if after.status is not before.status:
            transition = HealthTransition(
                key=watch.target.key,
                previous=before.status,
                current=after.status,
                consecutive=max(after.consecutive_passes, after.consecutive_failures),
                last_result=result,
                probe=watch.target.probe.describe(),
            )
            try:
                await self._on_transition(transition)
            # Any failure to record must leave the old verdict in place, or this replica
            # and the store would disagree until the next transition.
            except Exception:
                log.exception(
                    "health transition not recorded; it will be reported again",
                    extra={"target": transition.key, "transition": transition.explanation},
                )
                return
        watch.health = after
