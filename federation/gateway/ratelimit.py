"""Connection rate limits per route: a token bucket with a bounded wait.

The bucket hands out reservations rather than making callers poll: a connection that finds no
token takes the next one that will exist and sleeps until then. The tokens it is owed may run
into debt, so arrivals are served in order; a reservation that would wait longer than the queue
timeout is refused at once and takes nothing. That bounds the wait queue to
``rate * queue_timeout`` connections without a separate queue to size.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from federation.gateway.events import EventKind, Rejected


class RateLimitError(ValueError):
    """A rate limit setting that cannot work."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float  # tokens (new connections) a second
    burst: int  # tokens the bucket holds when full
    queue_timeout: float  # longest a connection waits for a token

    def __post_init__(self) -> None:
        if not (0 < self.rate < math.inf):
            raise RateLimitError(f"rate limit {self.rate}/s must be a positive number; try 100/s")
        if self.burst < 1:
            raise RateLimitError(f"burst {self.burst} must be 1 or more (1 = no bursts)")
        if not 0 <= self.queue_timeout < math.inf:
            raise RateLimitError(
                f"queue timeout {self.queue_timeout}s must be 0 or more; 0 refuses at once"
            )


class TokenBucket:
    """Pure bucket arithmetic on a clock the caller passes in."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._limit = limit
        self._tokens = float(limit.burst)
        self._updated = now

    def seconds_until(self, now: float, tokens: float = 1.0) -> float:
        """How long until the bucket holds ``tokens``; nothing is taken."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self._limit.burst), self._tokens + elapsed * self._limit.rate)
        self._updated = max(self._updated, now)
        return max(0.0, (tokens - self._tokens) / self._limit.rate)

    def reserve(self, now: float, tokens: float = 1.0) -> float | None:
        """Seconds to wait for the ``tokens`` just taken, or None (and nothing taken) when that
        would exceed the queue timeout."""
        wait = self.seconds_until(now, tokens)
        if wait > self._limit.queue_timeout:
            return None
        self._tokens -= tokens
        return wait


class RateLimiter:
    """One bucket per route, created on first use."""

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}

    async def admit(self, route: str) -> None:
        """Return once the route has a token for this connection; raise Rejected otherwise."""
        now = self._clock()
        bucket = self._buckets.get(route)
        if bucket is None:
            bucket = self._buckets[route] = TokenBucket(self.limit, now)
        wait = bucket.reserve(now)
        if wait is None:
            raise Rejected(
                EventKind.RATE_LIMITED,
                f"route {route!r} is over its rate limit of {self.limit.rate:g}/s "
                f"(burst {self.limit.burst}) and no token frees up within "
                f"{self.limit.queue_timeout:g}s; raise --rate-limit or --burst if this is "
                "legitimate load",
            )
        if wait > 0:
            await self._sleep(wait)


def parse_rate(text: str) -> float:
    """``100/s``, ``6000/m`` or a bare number of connections a second."""
    number, sep, unit = text.strip().partition("/")
    seconds = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}.get(unit.strip() if sep else "")
    try:
        count = float(number)
    except ValueError:
        count = math.nan
    if seconds is None or not (0 < count < math.inf):
        raise RateLimitError(
            f"rate {text!r} is not COUNT/UNIT: write it like 100/s, 6000/m or 50000/h"
        )
    return count / seconds
