from __future__ import annotations

import asyncio
from contextlib import ExitStack
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.retry import (
    Attempt,
    Outcome,
    RetryBudget,
    RetryOn,
    RetryPolicy,
    StopReason,
    UnknownRetryConditionError,
    backoff,
    is_retryable,
    parse_retry_on,
    run_with_retries,
)

FIVE_XX = {RetryOn.FIVE_XX}
GATEWAY = {RetryOn.GATEWAY_ERROR}
CONNECT = {RetryOn.CONNECT_FAILURE}
RESET = {RetryOn.RESET}
EVERYTHING = set(RetryOn)


@pytest.mark.parametrize(
    ("outcome", "retry_on", "expected"),
    [
        (Outcome.response(500), FIVE_XX, True),
        (Outcome.response(503), FIVE_XX, True),
        (Outcome.response(599), FIVE_XX, True),
        (Outcome.connect_failure(), FIVE_XX, True),
        (Outcome.reset(), FIVE_XX, True),
        (Outcome.timeout(), FIVE_XX, True),
        (Outcome.response(500), GATEWAY, False),
        (Outcome.response(501), GATEWAY, False),
        (Outcome.response(502), GATEWAY, True),
        (Outcome.response(503), GATEWAY, True),
        (Outcome.response(504), GATEWAY, True),
        (Outcome.reset(), GATEWAY, True),
        (Outcome.timeout(), GATEWAY, True),
        (Outcome.connect_failure(), GATEWAY, True),
        (Outcome.connect_failure(), CONNECT, True),
        (Outcome.reset(), CONNECT, False),
        (Outcome.timeout(), CONNECT, False),
        (Outcome.response(503), CONNECT, False),
        (Outcome.reset(), RESET, True),
        (Outcome.timeout(), RESET, True),
        (Outcome.connect_failure(), RESET, True),
        (Outcome.response(503), RESET, False),
        (Outcome.response(200), EVERYTHING, False),
        (Outcome.response(302), EVERYTHING, False),
        (Outcome.response(400), EVERYTHING, False),
        (Outcome.response(409), EVERYTHING, False),
        (Outcome.response(429), EVERYTHING, False),
        (Outcome.response(499), EVERYTHING, False),
        (Outcome.response(503), set(), False),
        (Outcome.connect_failure(), set(), False),
    ],
)
def test_retry_classification(outcome: Outcome, retry_on: set[RetryOn], expected: bool) -> None:
    assert is_retryable(outcome, retry_on) is expected


@given(st.integers(400, 499), st.sets(st.sampled_from(list(RetryOn))))
def test_no_4xx_is_ever_retried(status: int, retry_on: set[RetryOn]) -> None:
    assert not is_retryable(Outcome.response(status), retry_on)


def test_parse_retry_on_accepts_config_spellings() -> None:
    assert parse_retry_on(["5xx", "connect-failure", "reset"]) == {
        RetryOn.FIVE_XX,
        RetryOn.CONNECT_FAILURE,
        RetryOn.RESET,
    }


@pytest.mark.parametrize("name", ["retriable-4xx", "retriable-status-codes"])
def test_parse_retry_on_refuses_4xx_conditions_saying_why(name: str) -> None:
    with pytest.raises(UnknownRetryConditionError, match="never retries a 4xx"):
        parse_retry_on([name])


def test_parse_retry_on_names_the_valid_conditions_for_a_typo() -> None:
    with pytest.raises(UnknownRetryConditionError, match=r"'5XX'.*5xx, gateway-error"):
        parse_retry_on(["5XX"])


def test_outcome_refuses_a_status_on_a_non_response() -> None:
    with pytest.raises(ValueError, match="status exactly when"):
        Outcome(Outcome.reset().kind, 503)


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 0.025), (2, 0.05), (3, 0.1), (4, 0.2), (5, 0.25), (60, 0.25), (5000, 0.25)],
)
def test_backoff_ceiling_doubles_then_caps(attempt: int, ceiling: float) -> None:
    assert backoff(attempt, 0.025, 0.25, lambda: 0.999999) == pytest.approx(ceiling, rel=1e-5)
    assert backoff(attempt, 0.025, 0.25, lambda: 0.0) == 0.0


@given(
    attempt=st.integers(1, 10_000),
    base=st.floats(0, 10, allow_nan=False),
    spread=st.floats(0, 1000, allow_nan=False),
    rand=st.floats(0, 1, exclude_max=True),
)
def test_backoff_is_full_jitter_within_bounds(
    attempt: int, base: float, spread: float, rand: float
) -> None:
    max_backoff = base + spread
    wait = backoff(attempt, base, max_backoff, lambda: rand)
    ceiling = float(min(Fraction(max_backoff), Fraction(base) * 2 ** (attempt - 1)))
    assert 0 <= wait <= max_backoff
    assert wait == pytest.approx(rand * ceiling, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("attempt", "base", "max_backoff"), [(0, 0.025, 0.25), (1, 0.5, 0.25), (1, -1.0, 0.25)]
)
def test_backoff_rejects_nonsense_arguments(attempt: int, base: float, max_backoff: float) -> None:
    with pytest.raises(ValueError):
        backoff(attempt, base, max_backoff, lambda: 0.5)


@pytest.mark.parametrize(
    ("active", "percent", "floor", "allowed"),
    [
        (0, 20, 3, 3),
        (10, 20, 3, 3),
        (20, 20, 3, 4),
        (24, 20, 3, 4),
        (25, 20, 3, 5),
        (100, 50, 0, 50),
        (9, 10, 0, 0),
    ],
)
def test_budget_is_a_share_of_active_requests_with_a_floor(
    active: int, percent: float, floor: int, allowed: int
) -> None:
    budget = RetryBudget(percent, floor)
    with ExitStack() as requests:
        for _ in range(active):
            requests.enter_context(budget.request())
        granted = sum(budget.try_start_retry() for _ in range(allowed + 5))
    assert granted == allowed
    assert budget.overflows == 5
    assert budget.active_requests == 0


def test_finished_retries_give_their_budget_back() -> None:
    budget = RetryBudget(20, 1)
    assert budget.try_start_retry()
    assert not budget.try_start_retry()
    budget.finish_retry()
    assert budget.try_start_retry()


async def _no_sleep(_seconds: float) -> None:
    return None


@pytest.mark.parametrize(
    ("outcomes", "attempts", "stop", "tried"),
    [
        ([Outcome.response(200)], 3, StopReason.SUCCEEDED, 1),
        ([Outcome.response(503), Outcome.response(200)], 3, StopReason.SUCCEEDED, 2),
        ([Outcome.response(503)] * 3, 3, StopReason.ATTEMPTS_EXHAUSTED, 3),
        ([Outcome.response(503), Outcome.response(404)], 3, StopReason.NOT_RETRYABLE, 2),
        ([Outcome.response(409)], 3, StopReason.NOT_RETRYABLE, 1),
        ([Outcome.response(503)], 1, StopReason.ATTEMPTS_EXHAUSTED, 1),
    ],
)
async def test_run_with_retries_stops_for_the_right_reason(
    outcomes: list[Outcome], attempts: int, stop: StopReason, tried: int
) -> None:
    calls: list[int] = []

    async def attempt(number: int) -> Attempt[str]:
        calls.append(number)
        return Attempt(outcomes[number - 1], f"attempt {number}")

    policy = RetryPolicy(attempts=attempts, retry_on=frozenset({RetryOn.FIVE_XX}))
    result = await run_with_retries(attempt, policy, RetryBudget(), lambda: 0.5, _no_sleep)
    assert result.stop is stop
    assert calls == list(range(1, tried + 1))
    assert result.last.value == f"attempt {tried}"
    assert result.outcomes == tuple(outcomes[:tried])


@pytest.mark.parametrize(
    ("first", "calls_made", "stop"),
    [
        (Outcome.response(200), [], StopReason.SUCCEEDED),
        (Outcome.response(503), [2, 3], StopReason.ATTEMPTS_EXHAUSTED),
        (Outcome.response(404), [], StopReason.NOT_RETRYABLE),
    ],
)
async def test_a_first_attempt_made_by_the_caller_counts_as_attempt_one(
    first: Outcome, calls_made: list[int], stop: StopReason
) -> None:
    calls: list[int] = []

    async def attempt(number: int) -> Attempt[str]:
        calls.append(number)
        return Attempt(Outcome.response(503), f"attempt {number}")

    policy = RetryPolicy(attempts=3, retry_on=frozenset({RetryOn.FIVE_XX}))
    result = await run_with_retries(
        attempt, policy, RetryBudget(), lambda: 0.5, _no_sleep, first=Attempt(first, "caller's")
    )
    assert calls == calls_made
    assert result.stop is stop
    assert result.outcomes[0] == first and len(result.outcomes) == 1 + len(calls_made)


async def test_run_with_retries_sleeps_the_jittered_backoff_between_attempts() -> None:
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def attempt(number: int) -> Attempt[None]:
        return Attempt(Outcome.connect_failure())

    policy = RetryPolicy(
        attempts=4,
        backoff_base=0.1,
        backoff_max=1.0,
        retry_on=frozenset({RetryOn.CONNECT_FAILURE}),
    )
    result = await run_with_retries(attempt, policy, RetryBudget(), lambda: 0.5, record_sleep)
    assert result.stop is StopReason.ATTEMPTS_EXHAUSTED
    assert slept == pytest.approx([0.05, 0.1, 0.2])
    assert "attempts exhausted after 4 attempt(s)" in result.explain()


async def test_per_try_timeout_cancels_the_attempt_and_counts_as_a_timeout() -> None:
    cancelled = asyncio.Event()

    async def attempt(number: int) -> Attempt[str]:
        if number == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return Attempt(Outcome.response(200), "second")

    policy = RetryPolicy(attempts=2, per_try_timeout=0.05, retry_on=frozenset({RetryOn.RESET}))
    result = await run_with_retries(attempt, policy, RetryBudget(), lambda: 0.0, _no_sleep)
    assert cancelled.is_set()
    assert result.outcomes == (Outcome.timeout(), Outcome.response(200))
    assert result.stop is StopReason.SUCCEEDED


async def test_retries_beyond_the_budget_stop_with_budget_exceeded_under_concurrency() -> None:
    budget = RetryBudget(budget_percent=20, min_retry_concurrency=2)
    all_active, settled, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    first_attempts = in_retry = most_in_retry = settled_count = 0

    def settle(*_: object) -> None:
        nonlocal settled_count
        settled_count += 1
        if settled_count == 20:
            settled.set()

    async def attempt(number: int) -> Attempt[None]:
        nonlocal first_attempts, in_retry, most_in_retry
        if number == 1:
            first_attempts += 1
            if first_attempts == 20:
                all_active.set()
            await all_active.wait()
            return Attempt(Outcome.response(503))
        in_retry += 1
        most_in_retry = max(most_in_retry, in_retry)
        settle()
        await release.wait()
        in_retry -= 1
        return Attempt(Outcome.response(200))

    policy = RetryPolicy(attempts=3, retry_on=frozenset({RetryOn.FIVE_XX}))
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(run_with_retries(attempt, policy, budget, lambda: 0.0, _no_sleep))
            for _ in range(20)
        ]
        for task in tasks:
            task.add_done_callback(
                lambda t: None if t.result().stop is StopReason.SUCCEEDED else settle()
            )
        await settled.wait()
        assert budget.active_retries == 4  # 20% of 20 active requests, above the floor of 2
        release.set()
    stops = [t.result().stop for t in tasks]
    assert stops.count(StopReason.SUCCEEDED) == 4
    assert stops.count(StopReason.BUDGET_EXCEEDED) == 16
    assert most_in_retry == 4
    assert (budget.active_requests, budget.active_retries) == (0, 0)


async def test_budget_is_returned_when_a_retrying_request_is_cancelled() -> None:
    budget = RetryBudget(min_retry_concurrency=1)
    retrying = asyncio.Event()

    async def attempt(number: int) -> Attempt[None]:
        if number == 1:
            return Attempt(Outcome.reset())
        retrying.set()
        await asyncio.Event().wait()
        return Attempt(Outcome.response(200))

    policy = RetryPolicy(attempts=2, retry_on=frozenset({RetryOn.RESET}))
    task = asyncio.create_task(run_with_retries(attempt, policy, budget, lambda: 0.0, _no_sleep))
    await retrying.wait()
    assert (budget.active_requests, budget.active_retries) == (1, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (budget.active_requests, budget.active_retries) == (0, 0)
