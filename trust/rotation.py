"""CA rotation with overlap, as pure functions on a state record; the caller passes the clock.

A rotation moves through three steps so that no peer ever sees a certificate it cannot verify:

1. prepare: a new root and intermediate exist and the new root joins the bundle, but the old
   intermediate still signs. Peers pick the new root up on their next bundle refresh.
2. activate: new SVIDs are signed by the new intermediate. Allowed only once peers polling on the
   refresh hint have had three chances to fetch the bundle holding the new root.
3. retire: the old root leaves the bundle, only once every leaf the old CA signed has expired.

Generations number the CA hierarchies of one trust domain: 1 for ``trust init``, then +1.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

# Three refresh hints give a peer that misses one or two polls (restart, network blip) time
# to still learn the new root before anything is signed under it.
ACTIVATION_HINTS = 3


class Phase(enum.StrEnum):
    STABLE = "stable"  # one generation signs and is the only one in the bundle
    PREPARED = "prepared"  # the next generation's root is published, not yet signing
    ACTIVE = "active"  # the next generation signs; the old root waits for its leaves to expire


class Step(enum.StrEnum):
    ACTIVATE = "activate"
    RETIRE = "retire"


class RotationError(Exception):
    """A rotation step was asked for when the state does not allow it."""


@dataclass(frozen=True, slots=True)
class RotationState:
    phase: Phase
    signing: int  # the generation whose intermediate signs new SVIDs
    incoming: int | None = None  # PREPARED: published, waiting to sign
    outgoing: int | None = None  # ACTIVE: still published, no longer signing
    changed_at: datetime | None = None  # when the current phase began
    # Latest not_after of any leaf each generation signed: a root may leave the bundle only after.
    leaf_expiry: Mapping[int, datetime] = field(default_factory=dict, hash=False)

    @property
    def published(self) -> tuple[int, ...]:
        """Generations whose roots belong in the bundle, oldest first."""
        extra = self.incoming if self.phase is Phase.PREPARED else self.outgoing
        return tuple(sorted({self.signing} | ({extra} if extra is not None else set())))

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "signing": self.signing,
            "incoming": self.incoming,
            "outgoing": self.outgoing,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "leaf_expiry": {str(g): t.isoformat() for g, t in sorted(self.leaf_expiry.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RotationState:
        changed = data.get("changed_at")
        return cls(
            phase=Phase(data["phase"]),
            signing=int(data["signing"]),
            incoming=data.get("incoming"),
            outgoing=data.get("outgoing"),
            changed_at=datetime.fromisoformat(changed) if changed else None,
            leaf_expiry={
                int(g): datetime.fromisoformat(t) for g, t in data.get("leaf_expiry", {}).items()
            },
        )


def initial_state(now: datetime) -> RotationState:
    return RotationState(Phase.STABLE, signing=1, changed_at=now)


def scheduled_rotation_due(
    state: RotationState,
    signing_valid_from: datetime,
    signing_valid_until: datetime,
    now: datetime,
    rotate_after: timedelta | None,
) -> bool:
    """Whether a scheduled rotation should start now: the signing CA is stable and older than
    ``rotate_after`` or, when that is unset, two thirds into its lifetime. The last third leaves
    room for the activation wait (3 refresh hints) and for every leaf the old CA signed to
    expire before the old CA itself does."""
    if state.phase is not Phase.STABLE:
        return False
    age_limit = rotate_after or (signing_valid_until - signing_valid_from) * 2 / 3
    return now >= signing_valid_from + age_limit


def prepare(state: RotationState, now: datetime) -> RotationState:
    """Publish generation ``signing + 1`` (the caller creates its CA and adds its root)."""
    if state.phase is not Phase.STABLE:
        raise RotationError(
            f"a rotation is already under way (phase {state.phase.value}, signing generation "
            f"{state.signing}): wait for it to finish, see GET /v1/trust/status"
        )
    return replace(state, phase=Phase.PREPARED, incoming=state.signing + 1, changed_at=now)


def activation_time(state: RotationState, refresh_hint: timedelta) -> datetime | None:
    if state.phase is not Phase.PREPARED or state.changed_at is None:
        return None
    return state.changed_at + ACTIVATION_HINTS * refresh_hint


def activate(state: RotationState, now: datetime, refresh_hint: timedelta) -> RotationState:
    due = activation_time(state, refresh_hint)
    if due is None or state.incoming is None:
        raise RotationError(f"nothing to activate: the rotation phase is {state.phase.value}")
    if now < due:
        raise RotationError(
            f"generation {state.incoming} may sign only from {due.isoformat()} "
            f"({ACTIVATION_HINTS} x refresh hint after prepare), so peers have its root: wait"
        )
    return replace(
        state,
        phase=Phase.ACTIVE,
        signing=state.incoming,
        incoming=None,
        outgoing=state.signing,
        changed_at=now,
    )


def retirement_time(state: RotationState) -> datetime | None:
    """When the outgoing root may leave the bundle: its last leaf's expiry (or activation)."""
    if state.phase is not Phase.ACTIVE or state.outgoing is None or state.changed_at is None:
        return None
    return max(state.changed_at, state.leaf_expiry.get(state.outgoing, state.changed_at))


def retire(state: RotationState, now: datetime) -> RotationState:
    due = retirement_time(state)
    if due is None:
        raise RotationError(f"nothing to retire: the rotation phase is {state.phase.value}")
    if now < due:
        raise RotationError(
            f"generation {state.outgoing} signed leaves valid until {due.isoformat()}: its root "
            "stays in the bundle until then"
        )
    expiry = {g: t for g, t in state.leaf_expiry.items() if g != state.outgoing}
    return replace(state, phase=Phase.STABLE, outgoing=None, changed_at=now, leaf_expiry=expiry)


def due_step(state: RotationState, now: datetime, refresh_hint: timedelta) -> Step | None:
    """The step a scheduler should take now, if any."""
    activate_at = activation_time(state, refresh_hint)
    if activate_at is not None and now >= activate_at:
        return Step.ACTIVATE
    retire_at = retirement_time(state)
    if retire_at is not None and now >= retire_at:
        return Step.RETIRE
    return None


def record_issuance(state: RotationState, generation: int, expires_at: datetime) -> RotationState:
    """Note a leaf signed by ``generation``; done before signing so retirement cannot race it."""
    if generation not in state.published:
        raise RotationError(
            f"generation {generation} is no longer in the bundle: sign with generation "
            f"{state.signing}"
        )
    known = state.leaf_expiry.get(generation)
    if known is not None and known >= expires_at:
        return state
    return replace(state, leaf_expiry={**state.leaf_expiry, generation: expires_at})
