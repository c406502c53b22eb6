from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.circuit_breaker import (
    BreakerState,
    CircuitBreaker,
    CircuitBreakerSettings,
    CircuitOpenError,
    Limit,
    Permit,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(*, clock: FakeClock | None = None, **settings: float | None) -> CircuitBreaker:
    return CircuitBreaker(
        "payments.prod@aws-use1",
        CircuitBreakerSettings(**settings),  # type: ignore[arg-type]
        clock or FakeClock(),
    )


def _state(breaker: CircuitBreaker) -> BreakerState:
    # A function call keeps mypy from narrowing the property across the clock moving.
    return breaker.state


ACQUIRE: dict[Limit, Callable[[CircuitBreaker], Permit]] = {
    Limit.MAX_CONNECTIONS: CircuitBreaker.try_acquire_connection,
    Limit.MAX_PENDING_REQUESTS: CircuitBreaker.try_acquire_pending,
    Limit.MAX_REQUESTS: CircuitBreaker.try_acquire_request,
}


@pytest.mark.parametrize("limit", list(ACQUIRE))
def test_each_limit_admits_exactly_its_maximum_and_counts_overflows(limit: Limit) -> None:
    breaker = CircuitBreaker("u", CircuitBreakerSettings(**{limit.value: 3}), FakeClock())
    permits = [ACQUIRE[limit](breaker) for _ in range(3)]
    for _ in range(2):
        with pytest.raises(CircuitOpenError) as refused:
            ACQUIRE[limit](breaker)
        assert refused.value.limit is limit
    assert breaker.overflows[limit] == 2
    assert breaker.in_use(limit) == 3
    permits[0].release()
    ACQUIRE[limit](breaker)
    assert breaker.in_use(limit) == 3


def test_limits_are_counted_separately() -> None:
    breaker = _breaker(max_connections=1, max_pending_requests=1, max_requests=1)
    breaker.try_acquire_connection()
    breaker.try_acquire_pending()
    breaker.try_acquire_request()
    assert {limit: breaker.in_use(limit) for limit in ACQUIRE} == dict.fromkeys(ACQUIRE, 1)


def test_refusal_names_the_upstream_and_the_limit() -> None:
    breaker = _breaker(max_requests=0)
    with pytest.raises(CircuitOpenError, match=r"payments\.prod@aws-use1.*max_requests 0 reached"):
        breaker.try_acquire_request()


def test_a_permit_is_released_once_even_if_released_twice() -> None:
    breaker = _breaker(max_requests=2)
    with breaker.try_acquire_request() as permit:
        breaker.try_acquire_request()
        permit.release()
    assert breaker.in_use(Limit.MAX_REQUESTS) == 1


def test_a_permit_is_released_when_the_request_raises() -> None:
    breaker = _breaker(max_requests=1)
    with pytest.raises(ConnectionResetError), breaker.try_acquire_request():
        raise ConnectionResetError
    assert breaker.in_use(Limit.MAX_REQUESTS) == 0


@given(st.integers(0, 8), st.integers(1, 40))
async def test_requests_in_flight_never_exceed_the_limit_under_concurrency(
    limit: int, callers: int
) -> None:
    breaker = _breaker(max_requests=limit)
    gate = asyncio.Event()
    in_flight = most = refused = 0

    async def call() -> None:
        nonlocal in_flight, most, refused
        try:
            permit = breaker.try_acquire_request()
        except CircuitOpenError:
            refused += 1
            return
        with permit:
            in_flight += 1
            most = max(most, in_flight)
            await gate.wait()
            in_flight -= 1

    async with asyncio.TaskGroup() as group:
        for _ in range(callers):
            group.create_task(call())
        await asyncio.sleep(0)
        gate.set()
    assert most == min(limit, callers)
    assert refused == breaker.overflows[Limit.MAX_REQUESTS] == max(0, callers - limit)
    assert breaker.in_use(Limit.MAX_REQUESTS) == 0


def test_consecutive_failures_open_then_half_open_then_close() -> None:
    clock = FakeClock()
    breaker = _breaker(clock=clock, sleep_window=30.0, failure_threshold=3)
    for _ in range(2):
        breaker.record_failure()
    assert _state(breaker) is BreakerState.CLOSED
    breaker.record_failure()
    assert _state(breaker) is BreakerState.OPEN

    clock.now += 29.9
    with pytest.raises(CircuitOpenError, match=r"open for another 0\.1s") as refused:
        breaker.try_acquire_request()
    assert refused.value.limit is Limit.SLEEP_WINDOW

    clock.now += 0.1
    assert _state(breaker) is BreakerState.HALF_OPEN
    trial = breaker.try_acquire_request()
    assert trial.trial
    with pytest.raises(CircuitOpenError, match="trial request is in flight"):
        breaker.try_acquire_request()
    breaker.record_success()
    trial.release()
    assert _state(breaker) is BreakerState.CLOSED
    breaker.try_acquire_request()
    breaker.try_acquire_request()
    assert breaker.overflows[Limit.SLEEP_WINDOW] == 2


def test_a_failed_trial_reopens_for_a_full_sleep_window() -> None:
    clock = FakeClock()
    breaker = _breaker(clock=clock, sleep_window=30.0, failure_threshold=1)
    breaker.record_failure()
    clock.now += 30.0
    with breaker.try_acquire_request():
        breaker.record_failure()
    assert _state(breaker) is BreakerState.OPEN
    clock.now += 29.0
    assert _state(breaker) is BreakerState.OPEN
    clock.now += 1.0
    assert _state(breaker) is BreakerState.HALF_OPEN


def test_a_trial_released_without_a_verdict_lets_the_next_request_try() -> None:
    clock = FakeClock()
    breaker = _breaker(clock=clock, sleep_window=5.0, failure_threshold=1)
    breaker.record_failure()
    clock.now += 5.0
    breaker.try_acquire_request().release()
    assert _state(breaker) is BreakerState.HALF_OPEN
    assert breaker.try_acquire_request().trial


def test_an_overflow_opens_the_breaker_for_the_sleep_window() -> None:
    clock = FakeClock()
    breaker = _breaker(clock=clock, max_pending_requests=1, sleep_window=10.0)
    with breaker.try_acquire_pending():
        with pytest.raises(CircuitOpenError):
            breaker.try_acquire_pending()
        assert _state(breaker) is BreakerState.OPEN
        with pytest.raises(CircuitOpenError) as refused:
            breaker.try_acquire_request()
        assert refused.value.limit is Limit.SLEEP_WINDOW
    clock.now += 10.0
    assert _state(breaker) is BreakerState.HALF_OPEN


def test_a_success_resets_the_failure_count() -> None:
    breaker = _breaker(sleep_window=30.0, failure_threshold=3)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert _state(breaker) is BreakerState.CLOSED


def test_without_a_sleep_window_only_the_limits_apply() -> None:
    breaker = _breaker(max_requests=1, sleep_window=0.0, failure_threshold=1)
    for _ in range(10):
        breaker.record_failure()
    held = breaker.try_acquire_request()
    with pytest.raises(CircuitOpenError):
        breaker.try_acquire_request()
    held.release()
    assert _state(breaker) is BreakerState.CLOSED
    breaker.try_acquire_request()


def test_failure_tripping_can_be_turned_off() -> None:
    breaker = _breaker(sleep_window=30.0, failure_threshold=None)
    for _ in range(100):
        breaker.record_failure()
    assert _state(breaker) is BreakerState.CLOSED


@pytest.mark.parametrize(
    "kwargs", [{"max_requests": -1}, {"sleep_window": -1.0}, {"failure_threshold": 0}]
)
def test_settings_reject_values_that_cannot_work(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreakerSettings(**kwargs)  # type: ignore[arg-type]
