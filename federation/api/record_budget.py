"""A per-principal allowance of audit records a minute, for endpoints whose callers decide how
many records a request writes.

One token bucket a principal (the gateway's own, with no wait allowed): it holds a minute's
allowance and refills continuously, so a steady reporter never waits and a burst spends at most
one minute's worth.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from federation.gateway.ratelimit import RateLimit, TokenBucket


class RecordBudget:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._limit = RateLimit(rate=per_minute / 60.0, burst=per_minute, queue_timeout=0.0)
        self._clock = clock
        # One bucket a token name: bounded by the tokens the config defines.
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, principal: str, records: int) -> int | None:
        """Spend ``records`` of ``principal``'s allowance; None when spent, else the whole
        seconds until it would cover them (nothing spent)."""
        now = self._clock()
        bucket = self._buckets.get(principal)
        if bucket is None:
            bucket = self._buckets[principal] = TokenBucket(self._limit, now)
        if bucket.reserve(now, records) is not None:
            return None
        return max(1, math.ceil(bucket.seconds_until(now, records)))
