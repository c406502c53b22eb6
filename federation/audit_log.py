"""The audit trail: hash-chained records kept in the store's append-only ``audit`` log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from federation.metrics import Metrics
from federation.store.base import ConflictError, Store, StoreUnavailableError
from trust.audit import AuditProblem, AuditRecord, chain_record, verify_chain

LOG = "audit"
# Appends race only when replicas share a store; each lost race costs one re-read.
MAX_APPEND_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What a caller asks to record; the log adds the time, sequence and chain hashes."""

    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditBusyError(StoreUnavailableError):
    """Other writers kept winning the race to append for too many attempts in a row."""


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
        (entry,) = await self.record_many([AuditEntry(actor, action, target, detail)])
        return entry

    async def record_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Chain ``entries`` in order and append them in one store write: all or none."""
        async with self._lock:
            for _ in range(MAX_APPEND_ATTEMPTS):
                previous = await self._catch_up()
                now = datetime.now(UTC)
                chained: list[AuditRecord] = []
                for entry in entries:
                    previous = chain_record(
                        previous,
                        time=now,
                        actor=entry.actor,
                        action=entry.action,
                        target=entry.target,
                        detail=entry.detail,
                    )
                    chained.append(previous)
                # Only onto the record the batch chains from: a replica that appended meanwhile
                # makes this a conflict, and the next attempt chains off that replica's record.
                try:
                    appended = await self._store.append_many(
                        LOG, [_encode(r) for r in chained], expect_seq=self._seen
                    )
                except ConflictError:
                    continue
                if appended:
                    self._last, self._seen = chained[-1], appended[-1].seq
                break
            else:
                raise AuditBusyError(
                    f"{MAX_APPEND_ATTEMPTS} appends to the audit log lost to other writers in a "
                    "row: retry the change"
                )
        for record in chained:
            self._metrics.audit_records.labels(record.action).inc()
        return chained

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

    async def _catch_up(self) -> AuditRecord | None:
        """The newest record, reading only what other writers appended since the last call."""
        while batch := await self._store.read_log(LOG, after=self._seen, limit=1000):
            self._last, self._seen = _decode(batch[-1].data), batch[-1].seq
        return self._last


def _encode(record: AuditRecord) -> bytes:
    return json.dumps(record.to_dict(), sort_keys=True).encode()


def _decode(data: bytes) -> AuditRecord:
    return AuditRecord.from_dict(json.loads(data))
