"""Holding a named lease in the store, so exactly one replica does a job (discovery) and every
write it makes carries the lease's fencing token."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping

from federation.durations import DurationError, parse_duration
from federation.store.base import Lease, Store, StoreError

log = logging.getLogger("meshfed.leadership")

DISCOVERY_LEASE_TTL_ENV = "MESHFED_DISCOVERY_LEASE_TTL"
DEFAULT_TTL = 15.0


class LeaseTTLError(ValueError):
    pass


def discovery_lease_ttl(env: Mapping[str, str]) -> float:
    """The discovery lease TTL in seconds: env MESHFED_DISCOVERY_LEASE_TTL (a duration such as
    ``3s``) or 15 s. A shorter TTL fails over sooner and renews more often."""
    text = env.get(DISCOVERY_LEASE_TTL_ENV)
    if text is None:
        return DEFAULT_TTL
    try:
        seconds = parse_duration(text).total_seconds()
    except DurationError as exc:
        raise LeaseTTLError(f"{DISCOVERY_LEASE_TTL_ENV}: {exc}") from None
    if seconds < 1:
        raise LeaseTTLError(
            f"{DISCOVERY_LEASE_TTL_ENV}={text!r} is under 1s: renewals (every third of it) "
            "would race Redis round trips; set 1s or more"
        )
    return seconds


class LeaseKeeper:
    def __init__(
        self,
        store: Store,
        name: str,
        holder: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._name = name
        self._holder = holder
        self._ttl = ttl
        self._clock = clock
        self._lease: Lease | None = None
        self._granted: Lease | None = None
        self.changed = asyncio.Event()

    @property
    def current(self) -> Lease | None:
        """The lease while it is ours and not expired; None otherwise."""
        lease = self._lease
        # Stop acting a safety margin before expiry: another replica may take it at expiry.
        if lease is None or lease.expires_at - self._ttl / 3 <= self._clock():
            return None
        return lease

    @property
    def fence(self) -> Lease | None:
        """The lease last granted to us, even once lost or lapsed, for fencing writes: the
        store judges whether it is still current. A write begun while we held the lease and
        finished after losing it (a long sync, a paused process) must carry the old token and
        be refused, not go out unfenced."""
        return self._granted

    async def try_acquire(self) -> Lease | None:
        held = self._lease is not None
        try:
            self._lease = await self._store.acquire_lease(self._name, self._holder, self._ttl)
            self._granted = self._lease or self._granted
        except StoreError as exc:
            log.warning("lease renewal failed", extra={"lease": self._name, "error": str(exc)})
            self._lease = self._lease if self.current else None
        if held != (self._lease is not None):
            state = "acquired" if self._lease else "lost"
            log.info(f"lease {state}", extra={"lease": self._name, "holder": self._holder})
            self.changed.set()
        return self._lease

    async def run(self) -> None:
        """Renew every third of the TTL until cancelled; release on the way out."""
        try:
            while True:
                await self.try_acquire()
                await asyncio.sleep(self._ttl / 3)
        finally:
            if self._lease is not None:
                lease, self._lease = self._lease, None
                with contextlib.suppress(StoreError):
                    await asyncio.shield(self._store.release_lease(lease))
