from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from federation.health.checks import HttpProbe, Probe, ProbeResult, TcpProbe
from federation.health.runner import (
    HealthCheckRunner,
    HealthTarget,
    HealthTransition,
    RunnerSettings,
)
from federation.health.state import Health, Thresholds
from tests.federation.health.servers import LOOPBACK, StatusServer, SwitchableListener

H, U = Health.HEALTHY, Health.UNHEALTHY
FAST = 0.01


class RecordingProbe:
    """Delegates to a real probe and keeps every verdict, so tests can count checks exactly."""

    def __init__(self, inner: Probe) -> None:
        self.inner = inner
        self.results: list[bool] = []
        self._checked = asyncio.Condition()

    def describe(self) -> str:
        return self.inner.describe()

    async def check(self) -> ProbeResult:
        result = await self.inner.check()
        async with self._checked:
            self.results.append(result.passed)
            self._checked.notify_all()
        return result

    async def wait_for_checks(self, count: int) -> None:
        async with asyncio.timeout(5), self._checked:
            await self._checked.wait_for(lambda: len(self.results) >= count)


class Transitions:
    """The runner's callback: keeps transitions with the verdicts seen when each was made."""

    def __init__(self, probes: dict[str, RecordingProbe] | None = None) -> None:
        self.seen: list[tuple[HealthTransition, list[bool]]] = []
        self.queue: asyncio.Queue[HealthTransition] = asyncio.Queue()
        self.probes = probes or {}

    async def __call__(self, transition: HealthTransition) -> None:
        probe = self.probes.get(transition.key)
        self.seen.append((transition, list(probe.results) if probe else []))
        self.queue.put_nowait(transition)

    async def next(self) -> HealthTransition:
        async with asyncio.timeout(5):
            return await self.queue.get()


@asynccontextmanager
async def running(runner: HealthCheckRunner) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(runner.run())
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _settings(healthy: int = 1, unhealthy: int = 1, **kwargs: float) -> RunnerSettings:
    return RunnerSettings(
        interval=kwargs.pop("interval", FAST),
        thresholds=Thresholds(healthy, unhealthy),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_tcp_target_going_down_and_up_honours_thresholds_and_reports_each_change_once(
    tcp_listener: SwitchableListener,
) -> None:
    probe = RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port, timeout=1.0))
    transitions = Transitions({"tcp": probe})
    runner = HealthCheckRunner(_settings(healthy=2, unhealthy=3), transitions)
    runner.set_targets([HealthTarget("tcp", probe)])
    async with running(runner):
        up = await transitions.next()
        assert (up.previous, up.current) == (U, H)
        assert transitions.seen[0][1] == [True]  # a new target needs one pass, not two
        assert runner.health("tcp") is H

        await tcp_listener.stop()
        down = await transitions.next()
        assert (down.previous, down.current, down.consecutive) == (H, U, 3)
        verdicts = transitions.seen[1][1]
        assert verdicts[-4:] == [True, False, False, False]

        await tcp_listener.start()
        back = await transitions.next()
        assert (back.previous, back.current, back.consecutive) == (U, H, 2)
        verdicts = transitions.seen[2][1]
        assert verdicts[-3:] == [False, True, True]

        await probe.wait_for_checks(len(probe.results) + 5)
    assert [(t.previous, t.current) for t, _ in transitions.seen] == [(U, H), (H, U), (U, H)]
    assert "tcp unhealthy -> healthy after 2 consecutive passed check(s)" in back.explanation


async def test_http_target_200_then_503_then_200(http_server: StatusServer) -> None:
    probe = RecordingProbe(HttpProbe(f"http://{LOOPBACK}:{http_server.port}/healthz"))
    transitions = Transitions({"http": probe})
    runner = HealthCheckRunner(_settings(healthy=2, unhealthy=2), transitions)
    runner.set_targets([HealthTarget("http", probe, initial=H)])
    async with running(runner):
        await probe.wait_for_checks(3)
        assert transitions.seen == []

        http_server.status = 503
        down = await transitions.next()
        assert (down.current, down.last_result.detail) == (U, "status 503 not in 200-399")
        assert transitions.seen[0][1][-3:] == [True, False, False]

        http_server.status = 200
        up = await transitions.next()
        assert up.current is H
        assert transitions.seen[1][1][-3:] == [False, True, True]
        await probe.wait_for_checks(len(probe.results) + 3)
    assert len(transitions.seen) == 2


async def test_a_target_that_never_passes_reports_nothing(tcp_listener: SwitchableListener) -> None:
    await tcp_listener.stop()
    probe = RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port))
    transitions = Transitions()
    runner = HealthCheckRunner(_settings(), transitions)
    runner.set_targets([HealthTarget("down", probe)])
    async with running(runner):
        await probe.wait_for_checks(5)
        assert runner.health("down") is U
    assert transitions.seen == []


async def test_a_failed_callback_leaves_the_old_verdict_and_reports_again(
    tcp_listener: SwitchableListener,
) -> None:
    probe = RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port))
    attempts: list[HealthTransition] = []
    recorded = asyncio.Event()

    async def flaky_store(transition: HealthTransition) -> None:
        attempts.append(transition)
        if len(attempts) == 1:
            raise ConnectionError("store unavailable")
        recorded.set()

    runner = HealthCheckRunner(_settings(), flaky_store)
    runner.set_targets([HealthTarget("t", probe)])
    async with running(runner):
        await probe.wait_for_checks(1)
        async with asyncio.timeout(5):
            await recorded.wait()
        assert runner.health("t") is H
    assert [(t.previous, t.current) for t in attempts] == [(U, H), (U, H)]


class Gauge:
    """Counts checks started and in flight across probes; tests wait on it, never poll."""

    def __init__(self) -> None:
        self.in_flight = self.most = self.started = 0
        self.changed = asyncio.Condition()

    async def wait_started(self, count: int) -> None:
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: self.started >= count)


class BlockingProbe:
    """Holds every check until the gate opens."""

    def __init__(self, gauge: Gauge, gate: asyncio.Event) -> None:
        self.gauge = gauge
        self.gate = gate
        self.cancelled = False

    def describe(self) -> str:
        return "blocking"

    async def check(self) -> ProbeResult:
        gauge = self.gauge
        async with gauge.changed:
            gauge.in_flight += 1
            gauge.started += 1
            gauge.most = max(gauge.most, gauge.in_flight)
            gauge.changed.notify_all()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            gauge.in_flight -= 1
        return ProbeResult(True, "released")


async def test_no_more_than_max_concurrency_probes_run_at_once() -> None:
    gauge, gate = Gauge(), asyncio.Event()
    transitions = Transitions()
    runner = HealthCheckRunner(_settings(max_concurrency=2), transitions)
    runner.set_targets(HealthTarget(f"t{i}", BlockingProbe(gauge, gate)) for i in range(6))
    async with running(runner):
        await gauge.wait_started(2)
        # Proving that nothing else starts takes a little time by nature.
        await asyncio.sleep(5 * FAST)
        assert (gauge.in_flight, gauge.most, gauge.started) == (2, 2, 2)
        gate.set()
        for _ in range(6):
            await transitions.next()
    assert gauge.most == 2


async def test_cancelling_the_runner_cancels_probes_in_flight() -> None:
    gauge = Gauge()
    probe = BlockingProbe(gauge, asyncio.Event())
    runner = HealthCheckRunner(_settings(), Transitions())
    runner.set_targets([HealthTarget("t", probe)])
    async with running(runner):
        await gauge.wait_started(1)
    assert probe.cancelled
    assert gauge.in_flight == 0
    assert runner.checked_keys() == frozenset()


async def test_only_owned_targets_are_checked_and_ownership_can_move(
    tcp_listener: SwitchableListener,
) -> None:
    probes = {k: RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port)) for k in "abcd"}
    targets = [HealthTarget(k, p) for k, p in probes.items()]
    first = HealthCheckRunner(_settings(), Transitions(), owns=lambda key: key in "ab")
    second = HealthCheckRunner(_settings(), Transitions(), owns=lambda key: key not in "ab")
    for runner in (first, second):
        runner.set_targets(targets)
    async with running(first), running(second):
        for probe in probes.values():
            await probe.wait_for_checks(2)
        assert (first.checked_keys(), second.checked_keys()) == (frozenset("ab"), frozenset("cd"))
        assert first.health("c") is None

        second.set_ownership(lambda key: key != "d")
        first.set_ownership(lambda key: key == "d")
        await probes["d"].wait_for_checks(len(probes["d"].results) + 2)
        assert (first.checked_keys(), second.checked_keys()) == (frozenset("d"), frozenset("abc"))


async def test_removed_targets_stop_being_checked_and_new_ones_start(
    tcp_listener: SwitchableListener,
) -> None:
    old = RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port))
    new = RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port))
    transitions = Transitions()
    runner = HealthCheckRunner(_settings(), transitions)
    runner.set_targets([HealthTarget("old", old)])
    async with running(runner):
        await old.wait_for_checks(2)
        runner.set_targets([HealthTarget("new", new)])
        await new.wait_for_checks(3)
        checks_of_old = len(old.results)
        await new.wait_for_checks(len(new.results) + 3)
        assert len(old.results) == checks_of_old
        assert runner.health("old") is None
    assert [t.key for t, _ in transitions.seen] == ["old", "new"]


async def test_jitter_adds_rand_times_jitter_to_every_wait(
    tcp_listener: SwitchableListener,
) -> None:
    probe = RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port))
    loop = asyncio.get_running_loop()
    stamps: list[float] = []

    class Stamped:
        def describe(self) -> str:
            return probe.describe()

        async def check(self) -> ProbeResult:
            stamps.append(loop.time())
            return await probe.check()

    runner = HealthCheckRunner(
        _settings(interval=0.02, jitter=0.2), Transitions(), rand=lambda: 0.5
    )
    runner.set_targets([HealthTarget("t", Stamped())])
    started = loop.time()
    async with running(runner):
        await probe.wait_for_checks(3)
    assert stamps[0] - started >= 0.1
    assert all(b - a >= 0.12 for a, b in itertools.pairwise(stamps))


def test_settings_reject_a_zero_interval_and_no_concurrency() -> None:
    with pytest.raises(ValueError, match="interval"):
        RunnerSettings(interval=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        RunnerSettings(max_concurrency=0)


async def test_a_runner_cannot_run_twice() -> None:
    runner = HealthCheckRunner(_settings(), Transitions())
    async with running(runner):
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already running"):
            await runner.run()


async def test_a_new_probe_for_a_known_key_keeps_its_health(
    tcp_listener: SwitchableListener,
) -> None:
    first = RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port))
    transitions = Transitions()
    runner = HealthCheckRunner(_settings(), transitions)
    runner.set_targets([HealthTarget("t", first)])
    async with running(runner):
        assert (await transitions.next()).current is H
        # A rebuilt target for the same key: were health reset, its first pass would be
        # reported as a second unhealthy -> healthy transition.
        rebuilt = RecordingProbe(TcpProbe(LOOPBACK, tcp_listener.port))
        runner.set_targets([HealthTarget("t", rebuilt)])
        await rebuilt.wait_for_checks(1)
        checks_of_first = len(first.results)
        await rebuilt.wait_for_checks(4)
        assert len(first.results) == checks_of_first
        assert runner.health("t") is H
    assert [t.current for t, _ in transitions.seen] == [H]
