"""The rotation schedule: the service starts a rotation by itself once the CA is old enough."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from federation.audit_log import AuditLog
from federation.metrics import Metrics
from federation.store import open_store
from federation.trust.runtime import build_authority, kek_for
from tests.federation.trust.conftest import init_trust, trust_config
from trust.rotation import Phase


async def test_the_ca_is_rotated_by_schedule_once_it_reaches_rotate_after(tmp_path: Path) -> None:
    config = trust_config(tmp_path, "acme.mesh", trust={"rotate_after": "30d"})
    await init_trust(config)
    store = open_store(config.store)
    try:
        metrics = Metrics()
        audit = AuditLog(store, metrics)
        kek = kek_for(config, {})
        now = datetime.now(UTC)
        early = build_authority(
            config, store, kek, audit, metrics, lambda: now + timedelta(days=29)
        )
        assert not await early.rotate_if_scheduled("acme.mesh")
        assert (await early.records.domain("acme.mesh")).rotation.phase is Phase.STABLE

        late = build_authority(config, store, kek, audit, metrics, lambda: now + timedelta(days=31))
        assert await late.rotate_if_scheduled("acme.mesh")
        state = await late.records.domain("acme.mesh")
        assert state.rotation.phase is Phase.PREPARED
        assert len(state.bundle.roots) == 2
        records = await audit.read(limit=100)
        assert records[-1].action == "trust.rotate.prepare"
        assert records[-1].actor == "schedule"
        # Under way: the schedule does not start a second one.
        assert not await late.rotate_if_scheduled("acme.mesh")
    finally:
        await store.close()
