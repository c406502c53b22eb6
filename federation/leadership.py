"""Holding a named lease in the store, so exactly one replica does a job (discovery) and every
write it makes carries the lease's fencing token."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from federation.store.base import Lease, Store, StoreError

log = logging.getLogger("meshfed.leadership")


class LeaseKeeper:
    def __init__(
        self,
        store: Store,
        name: str,
        holder: str,
        *,
        ttl: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._name = name
        self._holder = holder
        self._ttl = ttl
        self._clock = clock
        self._lease: Lease | None = None
        self.changed = asyncio.Event()

    @property
    def current(self) -> Lease | None:
        """The lease while it is ours and not expired; None otherwise."""
        lease = self._lease
        # Stop acting a safety margin before expiry: another replica may take it at expiry.
        if lease is None or lease.expires_at - self._ttl / 3 <= self._clock():
            return None
        return lease

    async def try_acquire(self) -> Lease | None:
        held = self._lease is not None
        try:
            self._lease = await self._store.acquire_lease(self._name, self._holder, self._ttl)
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
