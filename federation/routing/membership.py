"""Which replica checks which endpoint: rendezvous hashing over the live replicas.

Each replica keeps a short lease of its own, ``members/<id>`` holding its expiry time, and
reads the others'. Rendezvous (highest random weight) hashing means a replica joining or
leaving moves only the keys it wins or held, and every replica that sees the same member set
computes the same owner without talking to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable

from federation.store.base import Store, StoreError

log = logging.getLogger("meshfed.membership")

MEMBERS_PREFIX = "members/"


def owner(key: str, members: Iterable[str]) -> str:
    """The member that owns ``key``; raises ValueError when there is none."""

    def score(member: str) -> bytes:
        return hashlib.sha256(f"{member}\0{key}".encode()).digest()

    return max(members, key=score)


class Membership:
    def __init__(
        self,
        store: Store,
        member_id: str,
        *,
        ttl: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"membership ttl {ttl!r} must be a positive number of seconds")
        self.member_id = member_id
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._members: frozenset[str] = frozenset({member_id})
        self.changed = asyncio.Event()

    @property
    def members(self) -> frozenset[str]:
        return self._members

    def owns(self, key: str) -> bool:
        return owner(key, self._members) == self.member_id

    async def refresh(self) -> None:
        """Renew our own entry and re-read the live ones."""
        now = self._clock()
        expires = json.dumps({"expires_at": now + self._ttl}).encode()
        await self._store.put(MEMBERS_PREFIX + self.member_id, expires)
        live = {self.member_id}
        for record in await self._store.list_prefix(MEMBERS_PREFIX):
            if json.loads(record.value)["expires_at"] > now:
                live.add(record.key[len(MEMBERS_PREFIX) :])
        if live != self._members:
            log.info("replica set changed", extra={"members": sorted(live)})
            self._members = frozenset(live)
            self.changed.set()

    async def run(self) -> None:
        """Renew every third of the ttl until cancelled; leave the set on the way out."""
        try:
            while True:
                try:
                    await self.refresh()
                except StoreError as exc:
                    log.warning("membership renewal failed", extra={"error": str(exc)})
                await asyncio.sleep(self._ttl / 3)
        finally:
            with contextlib.suppress(StoreError):
                await asyncio.shield(self._store.delete(MEMBERS_PREFIX + self.member_id))
