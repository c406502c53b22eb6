"""Circuit breaking for one upstream: Envoy's resource limits plus a sleep window.

The limits follow Envoy's cluster circuit breakers: at most ``max_connections`` open
connections, ``max_pending_requests`` requests waiting for a connection and ``max_requests``
requests in flight (Envoy's defaults, 1024 each). Acquiring past a limit fails at once with
:class:`CircuitOpenError` naming the limit, and counts an overflow for it.

The sleep window is a departure: Envoy has none (it is Hystrix's idea). The breaker *trips*
when a limit overflows or after ``failure_threshold`` consecutive upstream failures reported
through :meth:`CircuitBreaker.record_failure`. Tripped, it refuses every new request for
``sleep_window`` seconds; then it is half-open and admits exactly one trial request. A success
closes it, a failure trips it again (verdicts are not tied to permits, so a straggler from
before the trip counts too), and a trial released with no verdict (say, cancelled) lets the
next request be the trial. ``sleep_window = 0`` gives Envoy's behaviour: limits only.

The open state gates requests only; connection and pending counters stay plain resource
limits. The breaker belongs to one event loop and takes no locks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import TracebackType


class Limit(StrEnum):
    MAX_CONNECTIONS = "max_connections"
    MAX_PENDING_REQUESTS = "max_pending_requests"
    MAX_REQUESTS = "max_requests"
    SLEEP_WINDOW = "sleep_window"


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitOpenError(Exception):
    """A request or connection was refused without touching the upstream."""

    def __init__(self, upstream: str, limit: Limit, detail: str) -> None:
        super().__init__(f"circuit breaker for {upstream} refused: {detail}")
        self.upstream = upstream
        self.limit = limit


@dataclass(frozen=True, slots=True)
class CircuitBreakerSettings:
    max_connections: int = 1024
    max_pending_requests: int = 1024
    max_requests: int = 1024
    sleep_window: float = 0.0
    failure_threshold: int | None = 5

    def __post_init__(self) -> None:
        for limit in (Limit.MAX_CONNECTIONS, Limit.MAX_PENDING_REQUESTS, Limit.MAX_REQUESTS):
            if getattr(self, limit.value) < 0:
                raise ValueError(f"circuit breaker {limit.value} must be 0 or more")
        if self.sleep_window < 0:
            raise ValueError(f"circuit breaker sleep_window {self.sleep_window}s must be >= 0")
        if self.failure_threshold is not None and self.failure_threshold < 1:
            raise ValueError("circuit breaker failure_threshold must be 1 or more, or None")


class Permit:
    """One unit of a limit; released exactly once, by ``release()`` or leaving the ``with``."""

    __slots__ = ("_on_release", "_released", "trial")

    def __init__(self, on_release: Callable[[Permit], None], trial: bool = False) -> None:
        self._on_release = on_release
        self._released = False
        self.trial = trial

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._on_release(self)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class CircuitBreaker:
    def __init__(
        self, upstream: str, settings: CircuitBreakerSettings, clock: Callable[[], float]
    ) -> None:
        self.upstream = upstream
        self.settings = settings
        self._clock = clock
        self._in_use: Counter[Limit] = Counter()
        self.overflows: Counter[Limit] = Counter()
        self._consecutive_failures = 0
        self._open_until: float | None = None
        self._half_open = False
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        self._leave_open_if_due()
        if self._open_until is not None:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN if self._half_open else BreakerState.CLOSED

    def in_use(self, limit: Limit) -> int:
        return self._in_use[limit]

    def try_acquire_connection(self) -> Permit:
        return self._acquire(Limit.MAX_CONNECTIONS, trial=False)

    def try_acquire_pending(self) -> Permit:
        return self._acquire(Limit.MAX_PENDING_REQUESTS, trial=False)

    def try_acquire_request(self) -> Permit:
        state = self.state
        if self._open_until is not None:
            remaining = self._open_until - self._clock()
            self._refuse(Limit.SLEEP_WINDOW, f"open for another {remaining:.3g}s")
        if state is BreakerState.HALF_OPEN and self._trial_in_flight:
            self._refuse(Limit.SLEEP_WINDOW, "half-open and its one trial request is in flight")
        return self._acquire(Limit.MAX_REQUESTS, trial=state is BreakerState.HALF_OPEN)

    def record_success(self) -> None:
        self._consecutive_failures = 0
        if self.state is BreakerState.HALF_OPEN:
            self._half_open = False
            self._trial_in_flight = False

    def record_failure(self) -> None:
        self._consecutive_failures += 1
        threshold = self.settings.failure_threshold
        state = self.state
        if state is BreakerState.HALF_OPEN or (
            state is BreakerState.CLOSED
            and threshold is not None
            and self._consecutive_failures >= threshold
        ):
            self._trip()

    def _acquire(self, limit: Limit, trial: bool) -> Permit:
        maximum: int = getattr(self.settings, limit)  # a StrEnum is its own attribute name
        if self._in_use[limit] >= maximum:
            self._trip()
            self._refuse(limit, f"{limit.value} {maximum} reached")
        self._in_use[limit] += 1
        if trial:
            self._trial_in_flight = True
        return Permit(lambda permit: self._release(limit, permit), trial=trial)

    def _release(self, limit: Limit, permit: Permit) -> None:
        self._in_use[limit] -= 1
        if permit.trial and self._half_open:
            self._trial_in_flight = False

    def _refuse(self, limit: Limit, detail: str) -> None:
        self.overflows[limit] += 1
        raise CircuitOpenError(self.upstream, limit, detail)

    def _trip(self) -> None:
        if self.settings.sleep_window <= 0:
            return
        self._open_until = self._clock() + self.settings.sleep_window
        self._half_open = False
        self._trial_in_flight = False

    def _leave_open_if_due(self) -> None:
        if self._open_until is not None and self._clock() >= self._open_until:
            self._open_until = None
            self._half_open = True
            self._trial_in_flight = False
