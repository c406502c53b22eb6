"""Tamper-evident audit records: each record's SHA-256 covers its content and its predecessor's
hash, so editing, removing or reordering any record breaks the chain at a findable place."""

from __future__ import annotations

import enum
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


class AuditError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    time: datetime
    actor: str
    action: str
    target: str
    detail: Mapping[str, Any] = field(hash=False)
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {**_content(self), "hash": self.hash}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRecord:
        try:
            return cls(
                seq=int(data["seq"]),
                time=datetime.fromisoformat(data["time"]),
                actor=str(data["actor"]),
                action=str(data["action"]),
                target=str(data["target"]),
                detail=dict(data["detail"]),
                prev_hash=str(data["prev_hash"]),
                hash=str(data["hash"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"audit record {data.get('seq')!r} is malformed: {exc!r}") from None


class ProblemKind(enum.Enum):
    EDITED = "edited"  # content no longer hashes to the stored hash
    MISSING = "missing"  # a sequence number is absent
    REORDERED = "reordered"  # stored out of sequence order
    DUPLICATE = "duplicate"  # the same sequence number twice
    BROKEN_LINK = "broken_link"  # prev_hash is not the previous record's hash
    TRUNCATED = "truncated"  # the chain does not end at the expected head


@dataclass(frozen=True, slots=True)
class AuditProblem:
    seq: int
    kind: ProblemKind
    message: str


def canonical_bytes(content: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one byte string per content, across processes."""
    try:
        return json.dumps(
            content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:
        raise AuditError(f"audit detail must be plain JSON (no NaN, no objects): {exc}") from None


def record_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical_bytes(_content(record))).hexdigest()


def chain_record(
    prev: AuditRecord | None,
    *,
    time: datetime,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any],
) -> AuditRecord:
    """The record that follows ``prev`` (or the genesis record when ``prev`` is None)."""
    if time.tzinfo is None:
        raise AuditError(f"audit time {time.isoformat()} is naive: pass an aware UTC datetime")
    # A JSON round trip freezes the caller's detail as it is now and rejects non-JSON values.
    frozen_detail = json.loads(canonical_bytes(dict(detail)))
    unsigned = AuditRecord(
        seq=0 if prev is None else prev.seq + 1,
        time=time.astimezone(UTC),
        actor=actor,
        action=action,
        target=target,
        detail=frozen_detail,
        prev_hash=GENESIS_HASH if prev is None else prev.hash,
        hash="",
    )
    return _with_hash(unsigned)


def verify_chain(
    records: Sequence[AuditRecord],
    *,
    expected_head: str | None = None,
    from_genesis: bool = True,
) -> list[AuditProblem]:
    """Every sign of tampering in ``records`` (stored order), or [] for an intact chain.

    ``from_genesis=False`` checks a page of the log that starts after seq 0. Pass
    ``expected_head`` (the last hash, kept elsewhere, e.g. in a metric or a replica) to
    catch records removed from the end, which no chain can reveal by itself.
    """
    problems = [
        AuditProblem(r.seq, ProblemKind.EDITED, f"record {r.seq}: content does not match its hash")
        for r in records
        if record_hash(r) != r.hash
    ]
    problems += _order_problems(records)
    ordered = sorted({r.seq: r for r in records}.values(), key=lambda r: r.seq)
    if from_genesis and ordered and ordered[0].seq > 0:
        problems += [_missing(s, -1, ordered[0].seq) for s in range(ordered[0].seq)]
    if ordered and ordered[0].seq == 0 and ordered[0].prev_hash != GENESIS_HASH:
        problems.append(_link_problem(ordered[0], "the genesis record does not start the chain"))
    for before, after in itertools.pairwise(ordered):
        if after.seq != before.seq + 1:
            gap = range(before.seq + 1, after.seq)
            problems += [_missing(s, before.seq, after.seq) for s in gap]
        elif after.prev_hash != before.hash:
            problems.append(
                _link_problem(after, f"prev_hash does not match record {before.seq}'s hash")
            )
    if expected_head is not None and (not ordered or ordered[-1].hash != expected_head):
        last = ordered[-1].seq if ordered else -1
        problems.append(
            AuditProblem(
                last + 1,
                ProblemKind.TRUNCATED,
                f"the chain ends at record {last}, not at the expected head {expected_head[:12]}…",
            )
        )
    return sorted(problems, key=lambda p: (p.seq, p.kind.value))


def _order_problems(records: Sequence[AuditRecord]) -> list[AuditProblem]:
    problems = []
    seen: set[int] = set()
    highest = -1
    for record in records:
        if record.seq in seen:
            problems.append(
                AuditProblem(
                    record.seq, ProblemKind.DUPLICATE, f"record {record.seq} appears twice"
                )
            )
        elif record.seq < highest:
            problems.append(
                AuditProblem(
                    record.seq,
                    ProblemKind.REORDERED,
                    f"record {record.seq} is stored after record {highest}",
                )
            )
        seen.add(record.seq)
        highest = max(highest, record.seq)
    return problems


def _missing(seq: int, before: int, after: int) -> AuditProblem:
    where = f"between {before} and {after}" if before >= 0 else f"before {after}"
    return AuditProblem(seq, ProblemKind.MISSING, f"record {seq} is missing ({where})")


def _link_problem(record: AuditRecord, why: str) -> AuditProblem:
    return AuditProblem(
        record.seq,
        ProblemKind.BROKEN_LINK,
        f"record {record.seq}: {why}; a record before it was replaced or rewritten",
    )


def _content(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "time": record.time.isoformat(),
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "detail": record.detail,
        "prev_hash": record.prev_hash,
    }


def _with_hash(record: AuditRecord) -> AuditRecord:
    return replace(record, hash=record_hash(record))
