"""Which upstream failures are retried, how long to back off, and how many retries may run.

Follows Envoy's router retry semantics with one deliberate departure:

- ``5xx`` retries any 500-599 response and also every attempt that got no response at all
  (connect failure, reset, per-try timeout), as Envoy counts those as 5xx.
- ``gateway-error`` retries 502, 503 and 504, plus the no-response cases (Envoy maps a reset to
  503 and a per-try timeout to 504).
- ``connect-failure`` retries only attempts that never connected.
- ``reset`` retries any attempt that got no response (connect failure, reset, timeout).
- Departure: a 4xx is never retried, whatever the policy says. Envoy's ``retriable-4xx`` (409)
  is refused when the policy is parsed, because a 4xx is the upstream's answer, not its failure.

Back-off is Envoy's fully jittered exponential: the n-th retry waits uniform in
[0, min(max, base * 2**(n-1))]. The retry budget is Envoy's: retries in flight may not exceed
``budget_percent`` of active requests, but ``min_retry_concurrency`` retries are always allowed.
Envoy counts active requests per upstream attempt; here each logical request counts once for its
whole life, which is what the gateway can see.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class OutcomeKind(Enum):
    RESPONSE = "response"
    CONNECT_FAILURE = "connect-failure"
    RESET = "reset"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt at an upstream produced."""

    kind: OutcomeKind
    status: int | None = None

    def __post_init__(self) -> None:
        if (self.kind is OutcomeKind.RESPONSE) != (self.status is not None):
            raise ValueError(f"an outcome has a status exactly when it is a response: {self}")

    @classmethod
    def response(cls, status: int) -> Outcome:
        return cls(OutcomeKind.RESPONSE, status)

    @classmethod
    def connect_failure(cls) -> Outcome:
        return cls(OutcomeKind.CONNECT_FAILURE)

    @classmethod
    def reset(cls) -> Outcome:
        return cls(OutcomeKind.RESET)

    @classmethod
    def timeout(cls) -> Outcome:
        return cls(OutcomeKind.TIMEOUT)

    @property
    def succeeded(self) -> bool:
        return self.status is not None and self.status < 400

    def __str__(self) -> str:
        return f"status {self.status}" if self.status is not None else self.kind.value


class RetryOn(StrEnum):
    FIVE_XX = "5xx"
    GATEWAY_ERROR = "gateway-error"
    CONNECT_FAILURE = "connect-failure"
    RESET = "reset"


class UnknownRetryConditionError(ValueError):
    """A retry_on entry names no condition meshfed supports."""


_GATEWAY_STATUSES = frozenset({502, 503, 504})
_NO_RESPONSE = frozenset({OutcomeKind.CONNECT_FAILURE, OutcomeKind.RESET, OutcomeKind.TIMEOUT})


def parse_retry_on(names: Iterable[str]) -> frozenset[RetryOn]:
    """Turn config strings into conditions; refuses 4xx conditions and unknown names."""
    conditions: set[RetryOn] = set()
    valid = ", ".join(c.value for c in RetryOn)
    for name in names:
        if name in ("retriable-4xx", "retriable-status-codes"):
            raise UnknownRetryConditionError(
                f"retry_on {name!r} is not supported: meshfed never retries a 4xx; "
                f"use any of {valid}"
            )
        try:
            conditions.add(RetryOn(name))
        except ValueError:
            raise UnknownRetryConditionError(
                f"retry_on {name!r} is not a retry condition; use any of {valid}"
            ) from None
    return frozenset(conditions)


def is_retryable(outcome: Outcome, retry_on: Iterable[RetryOn]) -> bool:
    conditions = frozenset(retry_on)
    if outcome.status is not None:
        if outcome.status < 500 or outcome.status > 599:
            return False
        if RetryOn.FIVE_XX in conditions:
            return True
        return RetryOn.GATEWAY_ERROR in conditions and outcome.status in _GATEWAY_STATUSES
    if conditions & {RetryOn.FIVE_XX, RetryOn.GATEWAY_ERROR, RetryOn.RESET}:
        return outcome.kind in _NO_RESPONSE
    return RetryOn.CONNECT_FAILURE in conditions and outcome.kind is OutcomeKind.CONNECT_FAILURE


def backoff(attempt: int, base: float, max_backoff: float, rand: Callable[[], float]) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    ``rand`` returns a float in [0, 1).
    """
    if attempt < 1:
        raise ValueError(f"retry attempt {attempt} must be 1 or more (1 is the first retry)")
    if not 0 <= base <= max_backoff < math.inf:
        raise ValueError(
            f"backoff base {base}s must be between 0 and backoff max {max_backoff}s (finite)"
        )
    if base == 0:
        return 0.0
    # Subtracting logs (not dividing) cannot overflow for subnormal bases; below that many
    # doublings ldexp stays under max_backoff, so it cannot overflow either.
    doublings = attempt - 1
    ceiling = (
        max_backoff
        if doublings >= math.log2(max_backoff) - math.log2(base)
        else min(max_backoff, math.ldexp(base, doublings))
    )
    return rand() * ceiling


class RetryBudget:
    """Caps concurrent retries relative to active requests (one event loop, no locking)."""

    def __init__(self, budget_percent: float = 20.0, min_retry_concurrency: int = 3) -> None:
        if not 0 <= budget_percent <= 100:
            raise ValueError(f"retry budget_percent {budget_percent} must be within 0..100")
        if min_retry_concurrency < 0:
            raise ValueError(f"min_retry_concurrency {min_retry_concurrency} must be >= 0")
        self.budget_percent = budget_percent
        self.min_retry_concurrency = min_retry_concurrency
        self.active_requests = 0
        self.active_retries = 0
        self.overflows = 0

    @property
    def max_retries(self) -> int:
        # Envoy truncates the percentage share towards zero before applying the floor.
        share = int(self.budget_percent * self.active_requests / 100)
        return max(self.min_retry_concurrency, share)

    def request(self) -> AbstractContextManager[None]:
        """Counts one active request while held."""
        return _ActiveRequest(self)

    def try_start_retry(self) -> bool:
        if self.active_retries >= self.max_retries:
            self.overflows += 1
            return False
        self.active_retries += 1
        return True

    def finish_retry(self) -> None:
        if self.active_retries == 0:
            raise RuntimeError("finish_retry without a matching try_start_retry")
        self.active_retries -= 1


class _ActiveRequest:
    # A class, not @contextmanager: a gateway enters one per connection, and the generator
    # machinery cost several calls more.
    __slots__ = ("_budget",)

    def __init__(self, budget: RetryBudget) -> None:
        self._budget = budget

    def __enter__(self) -> None:
        self._budget.active_requests += 1

    def __exit__(self, *_: object) -> None:
        self._budget.active_requests -= 1


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 1
    per_try_timeout: float | None = None
    backoff_base: float = 0.025
    backoff_max: float = 0.25
    retry_on: frozenset[RetryOn] = field(default_factory=lambda: frozenset({RetryOn.FIVE_XX}))

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts {self.attempts} must be 1 or more (1 = no retries)")
        if self.per_try_timeout is not None and self.per_try_timeout <= 0:
            raise ValueError(f"per_try_timeout {self.per_try_timeout}s must be positive")
        if not 0 <= self.backoff_base <= self.backoff_max:
            raise ValueError(
                f"backoff_base {self.backoff_base}s must be between 0 and "
                f"backoff_max {self.backoff_max}s"
            )


class StopReason(Enum):
    SUCCEEDED = "succeeded"
    NOT_RETRYABLE = "not retryable"
    ATTEMPTS_EXHAUSTED = "attempts exhausted"
    BUDGET_EXCEEDED = "retry budget exceeded"


@dataclass(frozen=True, slots=True)
class Attempt(Generic[T]):
    """What ``attempt_fn`` hands back: the classified outcome and the caller's own result."""

    outcome: Outcome
    value: T | None = None


@dataclass(frozen=True, slots=True)
class RetryResult(Generic[T]):
    last: Attempt[T]
    outcomes: tuple[Outcome, ...]
    stop: StopReason

    @property
    def attempts(self) -> int:
        return len(self.outcomes)

    def explain(self) -> str:
        tried = ", ".join(str(o) for o in self.outcomes)
        return f"{self.stop.value} after {self.attempts} attempt(s): {tried}"


async def run_with_retries(
    attempt_fn: Callable[[int], Awaitable[Attempt[T]]],
    policy: RetryPolicy,
    budget: RetryBudget,
    rand: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    *,
    counted: bool = False,
    first: Attempt[T] | None = None,
) -> RetryResult[T]:
    """Drive ``attempt_fn(attempt_number)`` (1-based) until a stop reason applies.

    A per-try timeout turns into ``Outcome.timeout()``; the attempt is cancelled.
    ``counted``: the caller already holds ``budget.request()`` for longer than this call (a
    gateway counts a connection for its whole life, as Envoy counts active requests).
    ``first``: attempt 1 as the caller already made it, for a caller whose hot path tries
    once before entering this loop.
    """
    outcomes: list[Outcome] = []
    with contextlib.nullcontext() if counted else budget.request():
        if first is None:
            first = await _attempt(attempt_fn, 1, policy.per_try_timeout)
        last = first
        outcomes.append(last.outcome)
        while True:
            stop = _stop_reason(last.outcome, len(outcomes), policy)
            if stop is not None:
                return RetryResult(last, tuple(outcomes), stop)
            if not budget.try_start_retry():
                return RetryResult(last, tuple(outcomes), StopReason.BUDGET_EXCEEDED)
            try:
                await sleep(backoff(len(outcomes), policy.backoff_base, policy.backoff_max, rand))
                last = await _attempt(attempt_fn, len(outcomes) + 1, policy.per_try_timeout)
            finally:
                budget.finish_retry()
            outcomes.append(last.outcome)


def _stop_reason(outcome: Outcome, attempts: int, policy: RetryPolicy) -> StopReason | None:
    if outcome.succeeded:
        return StopReason.SUCCEEDED
    if not is_retryable(outcome, policy.retry_on):
        return StopReason.NOT_RETRYABLE
    if attempts >= policy.attempts:
        return StopReason.ATTEMPTS_EXHAUSTED
    return None


async def _attempt(
    attempt_fn: Callable[[int], Awaitable[Attempt[T]]], number: int, per_try_timeout: float | None
) -> Attempt[T]:
    try:
        if per_try_timeout is None:
            # The gateway bounds each connect itself; a scope with no deadline would only cost.
            return await attempt_fn(number)
        async with asyncio.timeout(per_try_timeout):
            return await attempt_fn(number)
    except TimeoutError:
        return Attempt(Outcome.timeout())
