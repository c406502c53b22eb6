"""Failover through gateways, end to end: real processes for the control plane, three
clusters' gateways and echo services, and a client sending a steady stream of TLS requests.

The client calls payments.prod at aws-use1's gateway, which forwards to gcp-euw1's gateway
(level 0) or, when that cannot be reached, to azure-weu's (level 1). Killing gcp-euw1's gateway
with SIGKILL must move traffic to azure-weu within 2 s, lose no request that was not open at
the moment of the kill, and bringing it back must bring the traffic back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from federation.lab.lab import FAILOVER, running_lab
from federation.lab.measure import FailoverTiming, failed_outside, failover_timing, percentile
from federation.lab.traffic import TrafficClient

pytestmark = pytest.mark.e2e

T = TypeVar("T")
RUNS = 3
BOUND_S = 2.0
RATE = 40.0  # requests a second, each on a new TLS connection through two gateways
LEVEL_0, LEVEL_1 = FAILOVER


async def until(check: Callable[[], T | None], deadline_s: float, what: str) -> T:
    try:
        async with asyncio.timeout(deadline_s):
            # The client's records fill from its own tasks; polling them is the simplest wait.
            while (value := check()) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"no {what} within {deadline_s:g}s") from None
    return value


async def test_killing_the_level_0_gateway_moves_traffic_to_level_1_within_2s_and_back(
    tmp_path: Path,
) -> None:
    timings: list[FailoverTiming] = []
    async with running_lab(tmp_path) as lab:
        client = TrafficClient(lab.traffic_target(), rate=RATE)
        async with asyncio.TaskGroup() as group:
            traffic = group.create_task(client.run())
            started = time.monotonic()
            await until(
                lambda: next(
                    (r for r in client.records if r.finished > started and r.cluster == LEVEL_0),
                    None,
                ),
                10,
                f"request answered by {LEVEL_0}",
            )
            for _ in range(RUNS):
                killed_at = time.monotonic()
                await lab.kill_gateway(LEVEL_0)
                gone_at = time.monotonic()
                timing = await until(
                    partial(failover_timing, client.records, killed_at, LEVEL_0, LEVEL_1),
                    BOUND_S + 1,
                    f"request answered by {LEVEL_1} after the kill",
                )
                timings.append(timing)
                # Level 1 carries the traffic for a while before level 0 returns.
                await asyncio.sleep(0.5)
                restarting_at = time.monotonic()
                during = [r for r in client.records if killed_at <= r.finished < restarting_at]
                assert not failed_outside(during, killed_at, gone_at)
                assert {r.cluster for r in during if r.finished > gone_at + 0.2} == {LEVEL_1}
                await lab.start_gateway(LEVEL_0)
                back = await until(
                    partial(failover_timing, client.records, restarting_at, LEVEL_1, LEVEL_0),
                    10,
                    f"request answered by {LEVEL_0} again",
                )
                assert back.to_next_s < 10
            traffic.cancel()
    to_next = [t.to_next_s for t in timings]
    last_killed = [t.last_killed_s for t in timings]
    print(
        f"\nfailover over {RUNS} runs at {RATE:g} req/s: kill -> first answer by {LEVEL_1} "
        f"p50 {percentile(to_next, 50) * 1000:.0f} ms, p99 {percentile(to_next, 99) * 1000:.0f} "
        f"ms; kill -> last answer by {LEVEL_0} p50 {percentile(last_killed, 50) * 1000:.0f} ms, "
        f"p99 {percentile(last_killed, 99) * 1000:.0f} ms"
    )
    assert max(to_next) < BOUND_S
    assert max(last_killed) < BOUND_S
