"""``meshfed demo``: a whole federation on this machine, then an outage and its failover.

It starts the lab (``federation.lab``): ``meshfed serve``, three clusters' gateways and echo
services on 127.0.0.11-13, and a client calling payments.prod through aws-use1's gateway.
It shows where the traffic goes, kills gcp-euw1's gateway (level 0) with SIGKILL, shows the
traffic moving to azure-weu, starts the gateway again, shows the traffic coming back, and
prints the measured failover time. Everything it started is stopped before it exits.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from federation.lab.lab import CALLER, CLUSTERS, FAILOVER, SERVICE, Lab, running_lab
from federation.lab.measure import FailoverTiming, TrafficWindow, failover_timing, window
from federation.lab.traffic import TrafficClient

RATE = 40.0  # requests a second
_REFRESH_S = 0.25  # the live table, on a terminal
_PLAIN_EVERY_S = 1.0  # a line of numbers, when stdout is not a terminal
_MIN_PHASE_S = 1.5  # even --duration 0 shows each phase long enough to see it
LEVEL_0, LEVEL_1 = FAILOVER


async def run_demo(duration: float) -> int:
    """``duration``: seconds of traffic shown, split over steady, failed over and recovered."""
    console = Console(highlight=False, soft_wrap=True)
    try:
        await _run(console, max(_MIN_PHASE_S, duration / 3))
    except asyncio.CancelledError:
        # Ctrl-C: the lab has stopped everything by the time the cancellation gets here.
        console.print("demo interrupted; everything it started is gone")
        return 130
    console.print("demo stopped; everything it started is gone")
    return 0


async def _run(console: Console, phase: float) -> None:
    with tempfile.TemporaryDirectory(prefix="meshfed-demo-") as workdir:
        console.print("[bold]meshfed demo[/] starting a control plane, 3 gateways, 3 services…")
        async with running_lab(Path(workdir)) as lab:
            _introduce(console, lab)
            client = TrafficClient(lab.traffic_target(), rate=RATE)
            async with asyncio.TaskGroup() as group:
                traffic = group.create_task(client.run())
                try:
                    timing = await _show(console, lab, client, phase)
                finally:
                    traffic.cancel()
        _conclude(console, timing, client)


def _introduce(console: Console, lab: Lab) -> None:
    table = Table("cluster", "gateway", "serves", title="clusters (each on its own loopback IP)")
    for cluster in CLUSTERS:
        host, port = lab.gateway_address(cluster.name)
        table.add_row(cluster.name, f"{host}:{port}", cluster.serves)
    console.print(table)
    console.print(f"control plane (meshfed serve) at {lab.url}; logs in {lab.workdir}")
    console.print(
        f"client in {CALLER} calls {SERVICE} through its gateway, {RATE:g} TLS requests/s; "
        f"failover order: {' -> '.join(FAILOVER)}"
    )


async def _show(
    console: Console, lab: Lab, client: TrafficClient, phase: float
) -> FailoverTiming | None:
    """Run the three phases while showing the traffic; the failover timing of the kill."""
    notes: list[str] = []

    def render() -> Group:
        traffic = window(client.records, _served_by(), time.monotonic(), 1.0)
        return Group(_traffic_table(traffic), Text("\n".join(notes[-4:]), style="italic"))

    async def phases(say: Callable[[str], None]) -> FailoverTiming | None:
        say(f"steady: {LEVEL_0} (level 0) serves")
        await asyncio.sleep(phase)
        killed_at = time.monotonic()
        await lab.kill_gateway(LEVEL_0)
        say(f"kill -9 the {LEVEL_0} gateway")
        await asyncio.sleep(phase)
        timing = failover_timing(client.records, killed_at, LEVEL_0, LEVEL_1)
        if timing is not None:
            say(f"failed over to {LEVEL_1} in {timing.to_next_s * 1000:.0f} ms")
        say(f"starting the {LEVEL_0} gateway again")
        restarted_at = time.monotonic()
        await lab.start_gateway(LEVEL_0)
        await asyncio.sleep(phase)
        back = failover_timing(client.records, restarted_at, LEVEL_1, LEVEL_0)
        if back is not None:
            say(f"traffic back on {LEVEL_0}")
        return timing

    if console.is_terminal:
        with Live(render(), console=console, refresh_per_second=4) as live:
            return await _while_refreshing(
                phases(notes.append), lambda: live.update(render()), _REFRESH_S
            )

    def say(note: str) -> None:
        notes.append(note)
        console.print(f"* {note}")

    def plain() -> None:
        console.print(_plain_line(window(client.records, _served_by(), time.monotonic(), 1.0)))

    return await _while_refreshing(phases(say), plain, _PLAIN_EVERY_S)


async def _while_refreshing(
    work: Coroutine[Any, Any, FailoverTiming | None], refresh: Callable[[], None], every: float
) -> FailoverTiming | None:
    async with asyncio.TaskGroup() as group:
        task = group.create_task(work)
        while not task.done():
            refresh()
            await asyncio.wait({task}, timeout=every)
        refresh()
    return task.result()


def _served_by() -> list[str]:
    return [cluster.name for cluster in CLUSTERS if cluster.serves == SERVICE]


def _traffic_table(traffic: TrafficWindow) -> Table:
    table = Table(
        "cluster", "requests/s", "share", title=f"where {SERVICE} traffic goes (last second)"
    )
    for row in traffic.clusters:
        bar = "█" * round(row.share_percent / 5)
        table.add_row(row.cluster, f"{row.requests_per_s:.0f}", f"{row.share_percent:3.0f}% {bar}")
    table.add_row("[red]errors[/]", f"{traffic.errors_per_s:.0f}", "")
    return table


def _plain_line(traffic: TrafficWindow) -> str:
    parts = [
        f"{row.cluster} {row.requests_per_s:.0f}/s {row.share_percent:.0f}%"
        for row in traffic.clusters
    ]
    return "traffic: " + ", ".join(parts) + f", errors {traffic.errors_per_s:.0f}/s"


def _conclude(console: Console, timing: FailoverTiming | None, client: TrafficClient) -> None:
    failed = sum(1 for r in client.records if not r.ok)
    console.print(f"{len(client.records)} requests, {failed} failed")
    if timing is None:
        console.print(f"[red]no request was answered by {LEVEL_1} after the kill[/]")
        return
    console.print(
        f"failover time: {timing.to_next_s * 1000:.0f} ms from the kill to the first answer "
        f"by {LEVEL_1}; {LEVEL_0} answered for {timing.last_killed_s * 1000:.0f} ms after it"
    )
