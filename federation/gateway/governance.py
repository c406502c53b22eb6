"""How a routed connection reaches an upstream: rate limit, circuit breakers, connect retries.

A connection first takes a token from its route's rate limiter. Then candidates are tried in
order, wrapping round, for the service's `attempts`: each attempt takes the next candidate whose
(service, cluster) breaker has room for one more connection and one more pending connect
(a full breaker is skipped, not waited on), and dials it within the connect timeout. A failed
connect is retried when the service's `retry_on` covers connect failures, after Envoy's jittered
back-off and only while the gateway-wide retry budget allows. The connection permit stays held
until the relay ends, so `max_connections` counts open relays.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from federation.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerSettings,
    CircuitOpenError,
    Permit,
)
from federation.gateway.events import EventKind, Rejected
from federation.gateway.ratelimit import RateLimiter
from federation.gateway.route_config import TrafficSpec
from federation.gateway.routes import Upstream
from federation.retry import Attempt, Outcome, RetryBudget, RetryOn, RetryPolicy, run_with_retries

Dial = Callable[[Upstream], Awaitable[asyncio.Transport]]
Progress = Callable[[EventKind, Upstream, str], None]
# A TCP connect has no status; retry.py counts a response under 400 as success.
_CONNECTED = Outcome.response(200)


@dataclass(frozen=True, slots=True)
class TrafficPolicy:
    """One service's connect settings, as the data plane uses them."""

    connect_timeout: float
    attempts: int | None = None  # None: every candidate once
    backoff_base: float = 0.0
    backoff_max: float = 0.0
    retry_on: frozenset[RetryOn] = frozenset({RetryOn.CONNECT_FAILURE})
    max_connections: int = 1024
    max_pending: int = 1024
    # Derived once: every connection of the service reads them.
    breaker_settings: CircuitBreakerSettings = field(init=False, repr=False, compare=False)
    _retry: RetryPolicy | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Limits only: a TCP gateway has no request to hold back while a sleep window runs.
        settings = CircuitBreakerSettings(
            max_connections=self.max_connections,
            max_pending_requests=self.max_pending,
            sleep_window=0.0,
            failure_threshold=None,
        )
        object.__setattr__(self, "breaker_settings", settings)
        retry = None if self.attempts is None else self._retry_policy(self.attempts)
        object.__setattr__(self, "_retry", retry)

    def retry_policy(self, candidates: int) -> RetryPolicy:
        """Without ``attempts``, every candidate is tried once."""
        return self._retry or self._retry_policy(candidates)

    def _retry_policy(self, attempts: int) -> RetryPolicy:
        return RetryPolicy(
            attempts=attempts,
            backoff_base=self.backoff_base,
            backoff_max=max(self.backoff_base, self.backoff_max),
            retry_on=self.retry_on,
        )

    @classmethod
    def from_spec(cls, spec: TrafficSpec, connect_timeout: float | None = None) -> TrafficPolicy:
        """``connect_timeout`` (a flag) overrides the service's per-try timeout."""
        return cls(
            connect_timeout=connect_timeout or spec.connect_timeout_s,
            attempts=spec.attempts,
            backoff_base=spec.backoff_base_s,
            backoff_max=spec.backoff_max_s,
            retry_on=frozenset(RetryOn(name) for name in spec.retry_on),
            max_connections=spec.max_connections,
            max_pending=spec.max_pending_requests,
        )


@dataclass(frozen=True, slots=True)
class Connected:
    upstream: Upstream
    transport: asyncio.Transport
    permit: Permit  # the breaker's connection slot; release it when the relay ends
    connect_seconds: float


class Governance:
    def __init__(
        self,
        policy_for: Callable[[str], TrafficPolicy],
        *,
        rate_limiter: RateLimiter | None = None,
        budget: RetryBudget | None = None,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._policy_for = policy_for
        self._rate_limiter = rate_limiter
        self._budget = budget or RetryBudget()
        self._rand = rand
        self._clock = clock
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}

    def policy(self, service: str) -> TrafficPolicy:
        return self._policy_for(service)

    def active_connection(self) -> AbstractContextManager[None]:
        """Hold for a connection's whole life: the retry budget is a share of these, so a
        level going down with many connections open still leaves room to retry elsewhere."""
        return self._budget.request()

    def breaker(self, service: str, cluster: str, policy: TrafficPolicy) -> CircuitBreaker:
        """The breaker for (service, cluster); replaced when the service's limits change."""
        key = (service, cluster)
        breaker = self._breakers.get(key)
        settings = policy.breaker_settings
        if breaker is None or (breaker.settings is not settings and breaker.settings != settings):
            clock = self._clock or asyncio.get_running_loop().time
            breaker = self._breakers[key] = CircuitBreaker(
                f"{service} in {cluster}", settings, clock
            )
        return breaker

    async def connect(
        self, service: str, candidates: Sequence[Upstream], dial: Dial, progress: Progress
    ) -> Connected:
        """Connect to one of ``candidates`` or raise Rejected saying why none would do."""
        if self._rate_limiter is not None:
            await self._rate_limiter.admit(service)
        policy = self.policy(service)
        retry = policy.retry_policy(len(candidates))
        loop = asyncio.get_running_loop()
        started = loop.time()
        cursor = _Cursor(candidates)
        failures: list[str] = []

        async def attempt(_: int) -> Attempt[Connected]:
            upstream, slot, pending = self._admit(service, cursor, policy, progress)
            try:
                try:
                    async with asyncio.timeout(policy.connect_timeout):
                        transport = await dial(upstream)
                finally:
                    pending.release()
            except OSError as error:  # TimeoutError included
                slot.release()
                reason = str(error) or f"no answer within {policy.connect_timeout:g}s"
                failures.append(f"{upstream.address}:{upstream.port} ({reason})")
                progress(EventKind.UPSTREAM_CONNECT_FAILED, upstream, reason)
                return Attempt(Outcome.connect_failure())
            except BaseException:
                slot.release()
                raise
            return Attempt(_CONNECTED, Connected(upstream, transport, slot, loop.time() - started))

        # Most connects succeed at once: the retry loop is entered only when the first fails.
        first = await attempt(1)
        if first.value is not None:
            return first.value
        result = await run_with_retries(
            attempt, retry, self._budget, self._rand, counted=True, first=first
        )
        if result.last.value is not None:
            return result.last.value
        raise Rejected(
            EventKind.UPSTREAMS_UNREACHABLE,
            f"no upstream of {service!r} accepted a connection ({result.explain()}): "
            + "; ".join(failures),
        )

    def _admit(
        self, service: str, cursor: _Cursor, policy: TrafficPolicy, progress: Progress
    ) -> tuple[Upstream, Permit, Permit]:
        refusals: list[str] = []
        for upstream in cursor.next_round():
            breaker = self.breaker(service, upstream.cluster, policy)
            try:
                slot = breaker.try_acquire_connection()
                try:
                    pending = breaker.try_acquire_pending()
                except CircuitOpenError:
                    slot.release()
                    raise
            except CircuitOpenError as error:
                refusals.append(str(error))
                progress(EventKind.CIRCUIT_OVERFLOW, upstream, str(error))
                continue
            cursor.taken(upstream)
            return upstream, slot, pending
        raise Rejected(
            EventKind.CIRCUIT_OPEN,
            "every candidate's circuit breaker is full: "
            + "; ".join(dict.fromkeys(refusals))
            + "; raise the service's circuit_breaker limits if this load is expected",
        )


class _Cursor:
    """Walks the candidates round-robin from where the last attempt left off."""

    def __init__(self, candidates: Sequence[Upstream]) -> None:
        self._candidates = tuple(candidates)
        self._next = 0

    def next_round(self) -> list[Upstream]:
        count = len(self._candidates)
        return [self._candidates[(self._next + i) % count] for i in range(count)]

    def taken(self, upstream: Upstream) -> None:
        self._next = (self._candidates.index(upstream) + 1) % len(self._candidates)
