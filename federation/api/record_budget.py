"""A per-principal allowance of audit records a minute, for endpoints whose callers decide how
many records a request writes.

A token bucket a principal: it holds a minute's allowance and refills continuously, so a
steady reporter never waits and a burst spends at most one minute's worth.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RecordBudget:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        # One bucket a token name: bounded by the tokens the config defines.
        self._buckets: dict[str, _Bucket] = {}

    def take(self, principal: str, records: int) -> int | None:
        """Spend ``records`` of ``principal``'s allowance; None when spent, else the whole
        seconds until it would cover them (nothing spent)."""
        now = self._clock()
        bucket = self._buckets.setdefault(principal, _Bucket(float(self.per_minute), now))
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + elapsed * self._rate)
        bucket.updated = max(bucket.updated, now)
        if records <= bucket.tokens:
            bucket.tokens -= records
            return None
        return max(1, math.ceil((records - bucket.tokens) / self._rate))
