"""A batch larger than a chunk goes out in several requests, in order; when the control plane
goes away part way, the chunks it took count as sent and only the rest as dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from federation.gateway.control_plane import ControlPlaneError
from federation.gateway.report_queue import ReportQueue

DEADLINE = 10.0


@dataclass(slots=True)
class Tally:
    name: str
    count: int


async def drain(fail_from_request: int | None) -> tuple[list[list[str]], list[tuple[str, int]]]:
    sent: list[list[str]] = []
    results: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def send(chunk: Sequence[Tally]) -> bool:
        if len(sent) == fail_from_request:
            raise ControlPlaneError("connection refused")
        sent.append([t.name for t in chunk])
        return True

    def on_result(result: str, count: int) -> None:
        results.append((result, count))
        if sum(n for _, n in results) == 15:
            done.set()

    queue: ReportQueue[str, Tally] = ReportQueue(
        send, on_result, what="test", max_pending=10, interval=0.01, chunk=2
    )
    for i, name in enumerate("abcde", start=1):
        queue.add(name, Tally(name, i))
    task = asyncio.create_task(queue.run())
    try:
        async with asyncio.timeout(DEADLINE):
            await done.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return sent, results


async def test_a_batch_larger_than_a_chunk_is_sent_chunk_by_chunk_in_order() -> None:
    sent, results = await drain(fail_from_request=None)
    assert sent == [["a", "b"], ["c", "d"], ["e"]]
    assert results == [("sent", 3), ("sent", 7), ("sent", 5)]


async def test_chunks_taken_before_the_control_plane_went_away_are_not_counted_as_dropped() -> None:
    sent, results = await drain(fail_from_request=1)
    assert sent == [["a", "b"]]
    assert results == [("sent", 3), ("dropped", 12)]
