"""The audit trail: hash-chained records kept in the store's append-only ``audit`` log."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from federation.metrics import Metrics
from federation.store.base import Lease, Store, StoreUnavailableError
from trust.audit import AuditProblem, AuditRecord, chain_record, verify_chain

LOG = "audit"
# Replicas sharing a store append to one chain: each append holds this lease, so no two
# writers chain off the same record. The TTL bounds how long a crashed writer blocks others.
APPEND_LEASE = "audit-append"
APPEND_LEASE_TTL = 10.0
_LEASE_POLL_SECONDS = 0.005


class AuditBusyError(StoreUnavailableError):
    """Another writer held the audit append lease for longer than its TTL."""


class AuditLog:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        # Appends chain off the previous record: one at a time in this process.
        self._lock = asyncio.Lock()
        self._holder = f"audit:{uuid.uuid4().hex}"
        self._last: AuditRecord | None = None
        self._seen = 0  # log seq of self._last

    async def record(
        self, *, actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> AuditRecord:
        async with self._lock:
            lease = await self._acquire_append_lease()
            try:
                # Well inside the lease TTL, so the lease cannot lapse while we append.
                async with asyncio.timeout(APPEND_LEASE_TTL / 2):
                    previous = await self._catch_up()
                    entry = chain_record(
                        previous,
                        time=datetime.now(UTC),
                        actor=actor,
                        action=action,
                        target=target,
                        detail=detail,
                    )
                    appended = await self._store.append(LOG, _encode(entry))
                self._last, self._seen = entry, appended.seq
            finally:
                await asyncio.shield(self._store.release_lease(lease))
        self._metrics.audit_records.labels(action).inc()
        return entry

    async def read(self, *, after: int = -1, limit: int = 100) -> list[AuditRecord]:
        """Records with ``seq`` > ``after``, oldest first (the first record has seq 0)."""
        entries = await self._store.read_log(LOG, after=after + 1, limit=limit)
        return [_decode(e.data) for e in entries]

    async def verify(self) -> list[AuditProblem]:
        records: list[AuditRecord] = []
        after = 0
        # Paged by log position, not by record seq: in a damaged log the two disagree, and
        # paging by seq would re-read the same page forever.
        while batch := await self._store.read_log(LOG, after=after, limit=1000):
            records += [_decode(e.data) for e in batch]
            after = batch[-1].seq
        return verify_chain(records)

    async def _acquire_append_lease(self) -> Lease:
        deadline = time.monotonic() + APPEND_LEASE_TTL + 1
        while (
            lease := await self._store.acquire_lease(APPEND_LEASE, self._holder, APPEND_LEASE_TTL)
        ) is None:
            if time.monotonic() > deadline:
                raise AuditBusyError(
                    f"audit lease {APPEND_LEASE!r} stayed held by another writer for over "
                    f"{APPEND_LEASE_TTL:.0f}s: check for a stuck replica, then retry the change"
                )
            await asyncio.sleep(_LEASE_POLL_SECONDS)
        return lease

    async def _catch_up(self) -> AuditRecord | None:
        """The newest record, reading only what other writers appended since the last call."""
        while batch := await self._store.read_log(LOG, after=self._seen, limit=1000):
            self._last, self._seen = _decode(batch[-1].data), batch[-1].seq
        return self._last


def _encode(record: AuditRecord) -> bytes:
    return json.dumps(record.to_dict(), sort_keys=True).encode()


def _decode(data: bytes) -> AuditRecord:
    return AuditRecord.from_dict(json.loads(data))
