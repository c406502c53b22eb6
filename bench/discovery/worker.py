"""The worker side of the benchmark: what a worker process is told, and its pass loop.

The listing baseline and the meshfed sync each run in a process of their own, so each one's
peak RSS is its own, not that of the fake clouds or of the other. A worker answers every line
on stdin with one pass and one JSON line on stdout; end of input ends it.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Targets:
    """Where the fakes listen and how the clients talk to them."""

    aws_url: str
    aws_region: str
    aws_page_size: int
    gcp_url: str
    gcp_project: str
    azure_url: str
    azure_subscription: str
    azure_token: str
    azure_ca_file: str
    call_timeout: float
    store_url: str  # the meshfed worker's store

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Targets:
        return cls(**json.loads(text))


def peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    from the parent through fork and exec, so a worker would report the fakes' peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


async def serve_passes(
    one_pass: Callable[[], Awaitable[dict[str, Any]]], warmup: Callable[[], Awaitable[None]]
) -> None:
    """``warmup`` on a "warmup" line (clients built, connections open, servers' first-call
    costs paid), else one measured pass."""
    _emit({"ready": True, "peak_rss_mb": peak_rss_mb()})
    while line := await asyncio.to_thread(sys.stdin.readline):
        started = time.perf_counter()
        if line.strip() == "warmup":
            await warmup()
            result: dict[str, Any] = {}
        else:
            result = await one_pass()
        result["wall_seconds"] = time.perf_counter() - started
        result["peak_rss_mb"] = peak_rss_mb()
        _emit(result)


def _emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
