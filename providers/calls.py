"""Retrying one cloud call: exponential backoff with full jitter, honouring Retry-After.

Every adapter maps its SDK's exceptions to ProviderError with ``classify`` and calls through
here, so throttling and 5xx are treated alike in every cloud.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from providers.base import ProviderError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    backoff_base: float = 0.2
    backoff_max: float = 5.0
    retry_after_cap: float = 10.0  # a cloud asking for a minute would stall every sync behind it

    def delay(self, attempt: int, retry_after: float | None, rand: Callable[[], float]) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return rand() * min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))


def call_with_retries(
    call: Callable[[], T],
    classify: Callable[[Exception], ProviderError | None],
    policy: RetryPolicy = RetryPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Run ``call``; retry what ``classify`` marks retryable. ``classify`` returns None for an
    exception that is not a cloud error (a bug), which then propagates unchanged."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            error = classify(exc)
            if error is None:
                raise
            if not error.retryable or attempt >= policy.attempts:
                raise error from exc
            sleep(policy.delay(attempt, error.retry_after, rand))
