from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.gateway.events import EventKind, Rejected
from federation.gateway.ratelimit import (
    RateLimit,
    RateLimiter,
    RateLimitError,
    TokenBucket,
    parse_rate,
)


def test_a_full_bucket_admits_its_burst_at_once_then_makes_callers_wait_in_turn() -> None:
    bucket = TokenBucket(RateLimit(rate=10, burst=2, queue_timeout=0.25), now=0.0)
    assert [bucket.reserve(0.0) for _ in range(4)] == [
        0.0,
        0.0,
        pytest.approx(0.1),
        pytest.approx(0.2),
    ]


def test_a_wait_past_the_queue_timeout_is_refused_and_takes_no_token() -> None:
    bucket = TokenBucket(RateLimit(rate=10, burst=1, queue_timeout=0.05), now=0.0)
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) is None
    assert bucket.reserve(0.0) is None
    # Refusals took nothing, so the token that is back after 0.1s is free at once.
    assert bucket.reserve(0.1) == pytest.approx(0.0)


def test_an_idle_bucket_refills_only_up_to_its_burst() -> None:
    bucket = TokenBucket(RateLimit(rate=100, burst=3, queue_timeout=0), now=0.0)
    admitted = [bucket.reserve(60.0) for _ in range(5)]
    assert admitted == [0.0, 0.0, 0.0, None, None]


@given(
    rate=st.floats(0.5, 1000),
    burst=st.integers(1, 50),
    queue_timeout=st.floats(0, 2),
    arrivals=st.lists(st.floats(0, 10), min_size=1, max_size=200),
)
def test_no_window_admits_more_than_burst_plus_rate_times_its_length(
    rate: float, burst: int, queue_timeout: float, arrivals: list[float]
) -> None:
    bucket = TokenBucket(RateLimit(rate, burst, queue_timeout), now=0.0)
    starts = []
    for now in sorted(arrivals):
        wait = bucket.reserve(now)
        if wait is not None:
            assert wait <= queue_timeout
            starts.append(now + wait)
    starts.sort()
    # Connections start (arrival + wait) no faster than the bucket refills.
    for i, first in enumerate(starts):
        for j in range(i, len(starts)):
            assert j - i + 1 <= burst + rate * (starts[j] - first) + 1e-6


async def test_the_limiter_sleeps_for_its_reservation_and_refuses_past_the_queue() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RateLimiter(
        RateLimit(rate=4, burst=1, queue_timeout=0.3), clock=lambda: 5.0, sleep=sleep
    )
    await limiter.admit("payments.prod")
    await limiter.admit("payments.prod")
    # Another route has a bucket of its own.
    await limiter.admit("ledger.prod")
    with pytest.raises(Rejected) as refused:
        await limiter.admit("payments.prod")
    assert refused.value.kind is EventKind.RATE_LIMITED
    assert "payments.prod" in refused.value.detail and "--rate-limit" in refused.value.detail
    assert slept == [pytest.approx(0.25)]


@pytest.mark.parametrize(
    ("text", "per_second"), [("100/s", 100.0), ("6000/m", 100.0), ("36000/h", 10.0), ("2.5", 2.5)]
)
def test_rates_are_read_per_second_minute_or_hour(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["", "fast", "0/s", "-1/s", "10/day", "inf/s", "nan"])
def test_unreadable_rates_are_refused_with_the_form_to_use(text: str) -> None:
    with pytest.raises(RateLimitError, match="100/s"):
        parse_rate(text)


@pytest.mark.parametrize(
    ("rate", "burst", "queue_timeout"), [(0, 1, 0.1), (10, 0, 0.1), (10, 1, -1)]
)
def test_impossible_limits_are_refused(rate: float, burst: int, queue_timeout: float) -> None:
    with pytest.raises(RateLimitError):
        RateLimit(rate, burst, queue_timeout)
