"""The audit trail: hash-chained records kept in the store's append-only ``audit`` log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from federation.metrics import Metrics
from federation.store.base import Store
from trust.audit import AuditProblem, AuditRecord, chain_record, verify_chain

LOG = "audit"


class AuditLog:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        # Appends chain off the previous record: one at a time in this process.
        self._lock = asyncio.Lock()
        self._last: AuditRecord | None = None
        self._seen = 0  # log seq of self._last

    async def record(
        self, *, actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> AuditRecord:
        async with self._lock:
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
        self._metrics.audit_records.labels(action).inc()
        return entry

    async def read(self, *, after: int = -1, limit: int = 100) -> list[AuditRecord]:
        """Records with ``seq`` > ``after``, oldest first (the first record has seq 0)."""
        entries = await self._store.read_log(LOG, after=after + 1, limit=limit)
        return [_decode(e.data) for e in entries]

    async def verify(self) -> list[AuditProblem]:
        records: list[AuditRecord] = []
        after = -1
        while batch := await self.read(after=after, limit=1000):
            records += batch
            after = batch[-1].seq
        return verify_chain(records)

    async def _catch_up(self) -> AuditRecord | None:
        """The newest record, reading only what other writers appended since the last call."""
        while batch := await self._store.read_log(LOG, after=self._seen, limit=1000):
            self._last, self._seen = _decode(batch[-1].data), batch[-1].seq
        return self._last


def _encode(record: AuditRecord) -> bytes:
    return json.dumps(record.to_dict(), sort_keys=True).encode()


def _decode(data: bytes) -> AuditRecord:
    return AuditRecord.from_dict(json.loads(data))
