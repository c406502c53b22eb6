"""Turning a backend's change history into a watch stream.

Every write bumps the global revision by exactly one and records one change, so a history read
that does not start right after the cursor means the events in between were pruned: the watcher
has fallen behind the kept window and must re-list instead of silently missing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

from federation.store.base import ChangeEvent, WatchExpiredError

# Returns the recorded changes with revision > cursor, oldest first; may wait a while for some
# to appear and then return an empty batch.
NextBatch = Callable[[int], Awaitable[Sequence[ChangeEvent]]]


async def follow(
    prefix: str, since_revision: int, next_batch: NextBatch
) -> AsyncGenerator[ChangeEvent, None]:
    cursor = max(since_revision, 0)
    while True:
        batch = await next_batch(cursor)
        if batch and batch[0].revision > cursor + 1:
            raise WatchExpiredError(
                f"watch on prefix {prefix!r} cannot resume after revision {cursor}: the store "
                f"keeps history from revision {batch[0].revision} on; re-list the keys, then "
                "watch from the store's current revision"
            )
        for event in batch:
            cursor = event.revision
            if event.key.startswith(prefix):
                yield event


class ChangeSignal:
    """Wakes every watcher of this process when this process writes."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def current(self) -> asyncio.Event:
        """Take this before reading history: a write that lands after the read still sets it."""
        return self._changed

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
