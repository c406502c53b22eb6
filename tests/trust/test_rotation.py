"""The rotation state machine: prepare, activate after 3 refresh hints, retire after the last
leaf of the old CA expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trust.rotation import (
    Phase,
    RotationError,
    RotationState,
    Step,
    activate,
    due_step,
    initial_state,
    prepare,
    record_issuance,
    retire,
    scheduled_rotation_due,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HINT = timedelta(minutes=5)


def test_prepare_publishes_the_next_generation_without_signing_with_it() -> None:
    state = prepare(initial_state(T0), T0)
    assert state.phase is Phase.PREPARED
    assert state.signing == 1 and state.incoming == 2
    assert state.published == (1, 2)


def test_a_second_prepare_during_a_rotation_is_refused() -> None:
    with pytest.raises(RotationError, match="already under way"):
        prepare(prepare(initial_state(T0), T0), T0)


@pytest.mark.parametrize(
    ("after", "allowed"),
    [(timedelta(0), False), (3 * HINT - timedelta(seconds=1), False), (3 * HINT, True)],
)
def test_activation_waits_three_refresh_hints_after_prepare(
    after: timedelta, allowed: bool
) -> None:
    state = prepare(initial_state(T0), T0)
    if not allowed:
        with pytest.raises(RotationError, match="3 x refresh hint"):
            activate(state, T0 + after, HINT)
        assert due_step(state, T0 + after, HINT) is None
        return
    active = activate(state, T0 + after, HINT)
    assert (active.phase, active.signing, active.outgoing) == (Phase.ACTIVE, 2, 1)
    assert active.published == (1, 2)
    assert due_step(state, T0 + after, HINT) is Step.ACTIVATE


def test_retirement_waits_for_the_last_leaf_the_old_ca_signed() -> None:
    state = record_issuance(prepare(initial_state(T0), T0), 1, T0 + timedelta(hours=24))
    active = activate(state, T0 + 3 * HINT, HINT)
    last_leaf = T0 + timedelta(hours=24)
    with pytest.raises(RotationError, match="stays in the bundle"):
        retire(active, last_leaf - timedelta(seconds=1))
    assert due_step(active, last_leaf - timedelta(seconds=1), HINT) is None
    assert due_step(active, last_leaf, HINT) is Step.RETIRE
    stable = retire(active, last_leaf)
    assert (stable.phase, stable.signing, stable.published) == (Phase.STABLE, 2, (2,))
    assert 1 not in stable.leaf_expiry


def test_issuance_under_a_retired_generation_is_refused() -> None:
    active = activate(prepare(initial_state(T0), T0), T0 + 3 * HINT, HINT)
    stable = retire(active, T0 + 3 * HINT)
    with pytest.raises(RotationError, match="no longer in the bundle"):
        record_issuance(stable, 1, T0 + timedelta(hours=1))


def test_recording_an_earlier_expiry_changes_nothing() -> None:
    state = record_issuance(initial_state(T0), 1, T0 + timedelta(hours=2))
    assert record_issuance(state, 1, T0 + timedelta(hours=1)) is state


@given(
    expiries=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20),
    retire_after=st.integers(min_value=0, max_value=2 * 10**6),
)
def test_the_old_root_never_leaves_while_a_leaf_it_signed_is_valid(
    expiries: list[int], retire_after: int
) -> None:
    state = prepare(initial_state(T0), T0)
    for seconds in expiries:
        state = record_issuance(state, 1, T0 + timedelta(seconds=seconds))
    active = activate(state, T0 + 3 * HINT, HINT)
    now = T0 + 3 * HINT + timedelta(seconds=retire_after)
    if due_step(active, now, HINT) is Step.RETIRE:
        assert all(T0 + timedelta(seconds=s) <= now for s in expiries)
        assert retire(active, now).published == (2,)


def test_state_survives_a_round_trip_through_its_stored_form() -> None:
    state = record_issuance(prepare(initial_state(T0), T0), 1, T0 + timedelta(hours=1))
    assert RotationState.from_dict(state.to_dict()) == state
    assert RotationState.from_dict(state.to_dict()).leaf_expiry == state.leaf_expiry


@pytest.mark.parametrize(
    ("age", "rotate_after", "due"),
    [
        (timedelta(days=200), None, False),  # under two thirds of a 365-day CA
        (timedelta(days=244), None, True),  # past two thirds
        (timedelta(days=29), timedelta(days=30), False),
        (timedelta(days=30), timedelta(days=30), True),
    ],
)
def test_a_scheduled_rotation_is_due_at_its_age(
    age: timedelta, rotate_after: timedelta | None, due: bool
) -> None:
    state = initial_state(T0)
    result = scheduled_rotation_due(state, T0, T0 + timedelta(days=365), T0 + age, rotate_after)
    assert result is due


def test_no_scheduled_rotation_starts_while_one_is_under_way() -> None:
    state = prepare(initial_state(T0), T0)
    late = T0 + timedelta(days=364)
    assert not scheduled_rotation_due(state, T0, T0 + timedelta(days=365), late, None)
