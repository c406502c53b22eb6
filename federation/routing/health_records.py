"""Stored health of one endpoint, under ``health/<endpoint key>``, shared by every replica.

Two writers touch a record: the active checker (``healthy``) and outlier detection
(``ejected_until``). Each changes only its own fields through a compare-and-set loop, so
neither overwrites the other's verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from federation.store.base import ConflictError, Store

HEALTH_PREFIX = "health/"
_CAS_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class HealthRecord:
    healthy: bool | None = None  # None: no active check has judged it yet
    check_detail: str = ""
    ejected_until: float | None = None  # wall-clock seconds; ejected while in the future
    ejection_detail: str = ""

    def ejected(self, now: float) -> bool:
        return self.ejected_until is not None and self.ejected_until > now

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, value: bytes) -> HealthRecord:
        data: dict[str, Any] = json.loads(value)
        return cls(
            healthy=data.get("healthy"),
            check_detail=str(data.get("check_detail", "")),
            ejected_until=data.get("ejected_until"),
            ejection_detail=str(data.get("ejection_detail", "")),
        )


class HealthWriteError(Exception):
    """A health record kept changing under us; the caller reports the verdict again later."""


async def update_health(
    store: Store, endpoint_key: str, change: Callable[[HealthRecord], HealthRecord]
) -> HealthRecord:
    """Apply ``change`` to the stored record (or an empty one) with compare-and-set."""
    key = HEALTH_PREFIX + endpoint_key
    for _ in range(_CAS_ATTEMPTS):
        current = await store.get(key)
        before = HealthRecord() if current is None else HealthRecord.from_json(current.value)
        after = change(before)
        if after == before and current is not None:
            return after
        try:
            await store.put(
                key, after.to_json(), expect_revision=0 if current is None else current.revision
            )
        except ConflictError:
            continue
        return after
    raise HealthWriteError(
        f"health record {key!r} changed {_CAS_ATTEMPTS} times while being written; "
        "another writer is very busy on it, the update will be retried"
    )


def checked(healthy: bool, detail: str) -> Callable[[HealthRecord], HealthRecord]:
    return lambda record: replace(record, healthy=healthy, check_detail=detail)


def ejected(until: float, detail: str) -> Callable[[HealthRecord], HealthRecord]:
    return lambda record: replace(record, ejected_until=until, ejection_detail=detail)


def returned(now: float) -> Callable[[HealthRecord], HealthRecord]:
    """Clear an ejection that is over; a newer ejection (until in the future) is kept."""

    def change(record: HealthRecord) -> HealthRecord:
        if record.ejected(now):
            return record
        return replace(record, ejected_until=None, ejection_detail="")

    return change
