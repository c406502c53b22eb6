from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.audit import (
    GENESIS_HASH,
    AuditError,
    AuditRecord,
    ProblemKind,
    chain_record,
    verify_chain,
)

START = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def _chain(length: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for i in range(length):
        records.append(
            chain_record(
                records[-1] if records else None,
                time=START + timedelta(seconds=i),
                actor="token:ci",
                action="policy.put",
                target=f"policies/p{i}",
                detail={"revision": i, "from": ["spiffe://acme.mesh/ns/web"]},
            )
        )
    return records


def _kinds(records: list[AuditRecord], **kwargs: Any) -> list[tuple[int, ProblemKind]]:
    return [(p.seq, p.kind) for p in verify_chain(records, **kwargs)]


def test_genesis_record_starts_from_zeros_and_hashes_its_canonical_content() -> None:
    first = _chain(1)[0]
    assert first.seq == 0 and first.prev_hash == GENESIS_HASH == "0" * 64
    canonical = json.dumps(
        {k: v for k, v in first.to_dict().items() if k != "hash"},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert first.hash == hashlib.sha256(canonical).hexdigest()


def test_each_record_links_to_the_previous_hash() -> None:
    records = _chain(3)
    assert [r.seq for r in records] == [0, 1, 2]
    assert records[1].prev_hash == records[0].hash
    assert records[2].prev_hash == records[1].hash


def test_intact_chain_has_no_problems() -> None:
    records = _chain(5)
    assert verify_chain(records, expected_head=records[-1].hash) == []


def test_edited_record_is_found_by_its_hash() -> None:
    records = _chain(5)
    records[2] = dataclasses.replace(records[2], actor="token:attacker")
    assert _kinds(records) == [(2, ProblemKind.EDITED)]


def test_edited_and_rehashed_record_breaks_the_next_link() -> None:
    records = _chain(5)
    forged = chain_record(
        records[1],
        time=records[2].time,
        actor="token:attacker",
        action=records[2].action,
        target=records[2].target,
        detail=records[2].detail,
    )
    records[2] = forged
    assert _kinds(records) == [(3, ProblemKind.BROKEN_LINK)]


def test_removed_record_leaves_a_gap() -> None:
    records = _chain(5)
    del records[2]
    problems = verify_chain(records)
    assert [(p.seq, p.kind) for p in problems] == [(2, ProblemKind.MISSING)]
    assert "between 1 and 3" in problems[0].message


def test_removed_and_renumbered_record_breaks_the_link() -> None:
    records = _chain(4)
    # Drop record 1 and rebuild the tail's content with new numbers, keeping old hashes.
    tail = [dataclasses.replace(r, seq=r.seq - 1) for r in records[2:]]
    kinds = _kinds([records[0], *tail])
    assert (1, ProblemKind.EDITED) in kinds


def test_removed_last_record_is_caught_with_the_expected_head() -> None:
    records = _chain(4)
    head = records[-1].hash
    assert _kinds(records[:-1], expected_head=head) == [(3, ProblemKind.TRUNCATED)]


def test_reordered_records_are_reported_by_seq() -> None:
    records = _chain(4)
    records[1], records[2] = records[2], records[1]
    assert _kinds(records) == [(1, ProblemKind.REORDERED)]


def test_duplicated_record_is_reported() -> None:
    records = _chain(3)
    assert _kinds([*records, records[1]]) == [(1, ProblemKind.DUPLICATE)]


def test_forged_genesis_is_reported() -> None:
    records = _chain(2)
    records[0] = dataclasses.replace(records[0], prev_hash="1" * 64)
    kinds = _kinds(records)
    assert (0, ProblemKind.EDITED) in kinds and (0, ProblemKind.BROKEN_LINK) in kinds


def test_records_round_trip_through_dicts_and_verify() -> None:
    records = _chain(3)
    restored = [AuditRecord.from_dict(json.loads(json.dumps(r.to_dict()))) for r in records]
    assert restored == records
    assert verify_chain(restored) == []


def test_time_is_normalized_to_utc_and_naive_times_are_refused() -> None:
    cest = timezone(timedelta(hours=2))
    record = chain_record(
        None, time=START.astimezone(cest), actor="a", action="b", target="c", detail={}
    )
    assert record.time.utcoffset() == timedelta(0)
    with pytest.raises(AuditError, match="naive"):
        chain_record(None, time=datetime(2026, 1, 1), actor="a", action="b", target="c", detail={})


def test_detail_that_is_not_plain_json_is_refused() -> None:
    with pytest.raises(AuditError, match="plain JSON"):
        chain_record(None, time=START, actor="a", action="b", target="c", detail={"x": object()})


def test_later_changes_to_the_callers_detail_do_not_touch_the_record() -> None:
    detail: dict[str, object] = {"n": 1}
    record = chain_record(None, time=START, actor="a", action="b", target="c", detail=detail)
    detail["n"] = 2
    assert verify_chain([record]) == []


@settings(deadline=None)
@given(st.integers(min_value=2, max_value=12), st.data())
def test_any_single_removal_inside_the_chain_is_detected(length: int, data: st.DataObject) -> None:
    records = _chain(length)
    index = data.draw(st.integers(0, length - 1))
    remaining = records[:index] + records[index + 1 :]
    problems = verify_chain(remaining, expected_head=records[-1].hash)
    assert problems, f"removal of record {index} went unnoticed"


def test_removed_genesis_is_missing_unless_a_page_is_checked() -> None:
    records = _chain(3)
    assert _kinds(records[1:]) == [(0, ProblemKind.MISSING)]
    assert verify_chain(records[1:], from_genesis=False) == []
