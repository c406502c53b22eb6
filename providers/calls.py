"""Retrying one cloud call: exponential backoff with full jitter, honouring Retry-After.

Every adapter maps its SDK's exceptions to ProviderError with ``classify`` and calls through
here, so throttling and 5xx are treated alike in every cloud.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import TypeVar

from providers.base import ProviderError

T = TypeVar("T")
# RFC 9110 §10.2.3 delay-seconds is 1*DIGIT; a fraction is accepted too, since a fake or a proxy
# asking for 50 ms means it. No sign, exponent, "inf" or "nan": those would reach time.sleep.
DELAY_SECONDS = re.compile(r"\d+(\.\d+)?")


def retry_after_seconds(
    source: Mapping[str, str] | str | None, *, now: Callable[[], float] = time.time
) -> float | None:
    """The wait a Retry-After asks for, in seconds, from response headers (any name case) or the
    header's value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), a date in the past being
    0. None when there is no header or it cannot be read, so the caller's backoff applies."""
    value = _header(source, "retry-after") if isinstance(source, Mapping) else source
    if value is None:
        return None
    value = value.strip()
    if DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # The asctime form carries no zone; every HTTP-date is UTC (RFC 9110 §5.6.7).
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now(), 0.0)


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


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # botocore lower-cases header names, requests keeps them as sent: match either way.
    return next((v for k, v in headers.items() if k.lower() == name), None)
