"""Lease rules shared by the backends that keep leases as plain rows (memory, sqlite).

A released lease keeps its row with an empty holder, so the fencing token never goes back: the
next holder always gets a higher token than any token handed out before.
"""

from __future__ import annotations

import math

from federation.store.base import FencedError, Lease


def check_lease_request(name: str, holder: str, ttl: float) -> None:
    if not name:
        raise ValueError("lease name is empty: name the lease, such as 'discovery'")
    if not holder:
        raise ValueError(f"lease {name!r}: holder is empty: pass this replica's unique id")
    if not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"lease {name!r}: ttl {ttl!r} is not a positive number of seconds")


def grant_lease(
    current: Lease | None, name: str, holder: str, ttl: float, now: float
) -> Lease | None:
    """The lease ``holder`` gets now, or None while another holder's lease is live."""
    if current is None:
        return Lease(name=name, holder=holder, token=1, expires_at=now + ttl)
    if current.holder not in ("", holder) and current.expires_at > now:
        return None
    token = current.token if current.holder == holder else current.token + 1
    return Lease(name=name, holder=holder, token=token, expires_at=now + ttl)


def released(current: Lease | None, lease: Lease) -> Lease | None:
    """The row after ``lease`` is released, or None when it is no longer the holder's to release."""
    if current is None or current.holder != lease.holder or current.token != lease.token:
        return None
    return Lease(name=current.name, holder="", token=current.token, expires_at=0.0)


def check_fence(current: Lease | None, fence: Lease, key: str, now: float) -> None:
    if (
        current is not None
        and current.holder == fence.holder
        and current.token == fence.token
        and current.expires_at > now
    ):
        return
    raise fenced_error(current, fence, key)


def fenced_error(current: Lease | None, fence: Lease, key: str) -> FencedError:
    if current is None or not current.holder:
        now_held = "nobody holds it now"
    else:
        now_held = f"it is now held by {current.holder!r} with token {current.token}"
    return FencedError(
        f"write to {key!r} refused: lease {fence.name!r} with token {fence.token} is no longer "
        f"current for {fence.holder!r} ({now_held}); stop acting on it and acquire the lease again"
    )
