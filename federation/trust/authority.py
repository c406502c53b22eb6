"""Own trust domains: create their CAs, issue X509-SVIDs, and drive CA rotation.

The pure rules live in ``trust`` (issuance checks in ``trust.svid``, the rotation state machine
in ``trust.rotation``); this class reads and writes their state in the store around them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from federation.audit_log import AuditLog
from federation.metrics import Metrics
from federation.model import MeshfedConfig
from federation.store.base import ConflictError, StoreError
from federation.trust.records import DomainState, TrustRecords, TrustStateConflictError
from trust.bundle import TrustBundle
from trust.ca import CertificateAuthority, create_authority
from trust.keys import KeyType
from trust.rotation import (
    Phase,
    RotationState,
    Step,
    activate,
    activation_time,
    due_step,
    initial_state,
    prepare,
    record_issuance,
    retire,
    retirement_time,
    scheduled_rotation_due,
)
from trust.svid import (
    CLOCK_SKEW_ALLOWANCE,
    CsrRefusal,
    CsrRefusedError,
    IssuedSvid,
    check_csr,
    issue_svid,
    load_csr,
    requested_id,
)

log = logging.getLogger("meshfed.trust")
Clock = Callable[[], datetime]
_CAS_ATTEMPTS = 8


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TrustSettings:
    federation_domain: str
    own_domains: tuple[str, ...]  # the federation's first, then clusters' own, no repeats
    key_type: KeyType
    svid_ttl: timedelta
    ca_ttl: timedelta
    refresh_hint: timedelta
    rotate_after: timedelta | None = None

    @classmethod
    def from_config(cls, config: MeshfedConfig) -> TrustSettings:
        domains = [config.federation.trust_domain]
        domains += [c.trust_domain for c in config.clusters if c.trust_domain]
        return cls(
            federation_domain=config.federation.trust_domain,
            own_domains=tuple(dict.fromkeys(domains)),
            key_type=config.trust.key_type,
            svid_ttl=config.trust.svid_ttl,
            ca_ttl=config.trust.ca_ttl,
            refresh_hint=config.trust.refresh_hint,
            rotate_after=config.trust.rotate_after,
        )

    @property
    def refresh_hint_seconds(self) -> int:
        # spiffe_refresh_hint is whole seconds and must be positive.
        return max(1, math.ceil(self.refresh_hint.total_seconds()))


@dataclass(frozen=True, slots=True)
class DomainStatus:
    trust_domain: str
    phase: Phase
    signing_generation: int
    published_generations: tuple[int, ...]
    bundle_sequence: int
    root_expires_at: datetime
    intermediate_expires_at: datetime
    next_step: Step | None
    next_step_at: datetime | None


class TrustAuthority:
    def __init__(
        self,
        records: TrustRecords,
        settings: TrustSettings,
        audit: AuditLog,
        metrics: Metrics,
        clock: Clock = utc_now,
    ) -> None:
        self.records = records
        self.settings = settings
        self._audit = audit
        self._metrics = metrics
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def initialize(self, only: str | None = None) -> dict[str, bool]:
        """Create generation 1 of each own domain's CA; {domain: created (False: existed)}."""
        created: dict[str, bool] = {}
        for domain in self.settings.own_domains:
            if only is not None and domain != only:
                continue
            if await self.records.has_domain(domain):
                created[domain] = False
                continue
            now = self._clock()
            ca = await self._new_ca(domain, now)
            await self.records.put_ca(ca, 1)
            bundle = TrustBundle(domain, ca.roots, 1, self.settings.refresh_hint_seconds)
            await self.records.save_domain(DomainState(domain, bundle, initial_state(now)))
            await self._audit.record(
                actor="cli",
                action="trust.init",
                target=f"trust/{domain}",
                detail={"generation": 1, "root_serial": str(ca.root_cert.serial_number)},
            )
            created[domain] = True
        return created

    async def check_ready(self) -> None:
        """Raise unless every own domain has a CA that the loaded KEK opens."""
        for domain in self.settings.own_domains:
            state = await self.records.domain(domain)
            for generation in state.rotation.published:
                await self.records.ca(domain, generation)

    async def bundle(self, trust_domain: str) -> TrustBundle:
        return (await self.records.domain(trust_domain)).bundle

    async def issue(self, csr_pem: str, spiffe_id: str, actor: str) -> IssuedSvid:
        """Sign ``csr_pem`` for ``spiffe_id``; the issuance or refusal is audited (never a key)."""
        target = f"svid/{spiffe_id}"
        try:
            issued = await self._issue(csr_pem, spiffe_id)
        except CsrRefusedError as exc:
            detail = {"outcome": "refused", "reason": exc.reason.value}
            await self._audit.record(actor=actor, action="svid.issue", target=target, detail=detail)
            raise
        detail = {
            "outcome": "issued",
            "serial": format(issued.serial, "x"),
            "expires_at": issued.expires_at.isoformat(),
        }
        await self._audit.record(actor=actor, action="svid.issue", target=target, detail=detail)
        self._metrics.trust_svids_issued.labels(issued.spiffe_id.trust_domain).inc()
        return issued

    async def _issue(self, csr_pem: str, spiffe_id: str) -> IssuedSvid:
        requested = requested_id(spiffe_id)
        domain = requested.trust_domain
        if domain not in self.settings.own_domains:
            raise CsrRefusedError(
                CsrRefusal.FOREIGN_TRUST_DOMAIN,
                f"spiffe_id {requested} is in trust domain {domain!r}, which this service has "
                f"no CA for (own: {', '.join(self.settings.own_domains)}): ask that domain's CA",
            )
        check_csr(load_csr(csr_pem), requested, domain)
        now = self._clock()
        ca = await self._note_issuance(domain, now)
        return await asyncio.to_thread(
            issue_svid, ca, csr_pem, requested, now, self.settings.svid_ttl
        )

    async def rotate(self, trust_domain: str, actor: str) -> DomainState:
        """Prepare a rotation: a new CA whose root joins the bundle; the driver does the rest."""
        state = await self.records.domain(trust_domain)
        now = self._clock()
        prepared = prepare(state.rotation, now)
        generation = prepared.incoming
        assert generation is not None  # prepare always names the incoming generation
        ca = await self._new_ca(trust_domain, now)
        try:
            await self.records.put_ca(ca, generation)
        except ConflictError:
            # An earlier attempt stored this generation and then lost the state write: reuse it.
            ca = await self.records.ca(trust_domain, generation)
        saved = await self._save_rotation(state, prepared)
        await self._audit.record(
            actor=actor,
            action="trust.rotate.prepare",
            target=f"trust/{trust_domain}",
            detail={
                "generation": generation,
                "root_serial": str(ca.root_cert.serial_number),
                "bundle_sequence": saved.bundle.sequence,
            },
        )
        return saved

    async def rotate_if_scheduled(self, trust_domain: str) -> bool:
        """Start a rotation when the signing CA has reached its scheduled age."""
        state = await self.records.domain(trust_domain)
        ca = await self.records.ca(trust_domain, state.rotation.signing)
        due = scheduled_rotation_due(
            state.rotation,
            ca.intermediate_cert.not_valid_before_utc,
            ca.intermediate_cert.not_valid_after_utc,
            self._clock(),
            self.settings.rotate_after,
        )
        if due:
            await self.rotate(trust_domain, actor="schedule")
        return due

    async def advance(self, trust_domain: str) -> Step | None:
        """Take the rotation step that is due, if any (activate, or retire the old root)."""
        state = await self.records.domain(trust_domain)
        now = self._clock()
        step = due_step(state.rotation, now, self.settings.refresh_hint)
        if step is None:
            return None
        if step is Step.ACTIVATE:
            rotation = activate(state.rotation, now, self.settings.refresh_hint)
        else:
            rotation = retire(state.rotation, now)
        try:
            saved = await self._save_rotation(state, rotation)
        except TrustStateConflictError:
            return None  # another replica (or an issuance) wrote first; the next tick retries
        await self._audit.record(
            actor="meshfed",
            action=f"trust.rotate.{step.value}",
            target=f"trust/{trust_domain}",
            detail={"signing": rotation.signing, "bundle_sequence": saved.bundle.sequence},
        )
        log.info("rotation step", extra={"trust_domain": trust_domain, "step": step.value})
        return step

    async def status(self, trust_domain: str) -> DomainStatus:
        state = await self.records.domain(trust_domain)
        rotation = state.rotation
        ca = await self.records.ca(trust_domain, rotation.signing)
        activate_at = activation_time(rotation, self.settings.refresh_hint)
        retire_at = retirement_time(rotation)
        status = DomainStatus(
            trust_domain=trust_domain,
            phase=rotation.phase,
            signing_generation=rotation.signing,
            published_generations=rotation.published,
            bundle_sequence=state.bundle.sequence,
            root_expires_at=ca.root_cert.not_valid_after_utc,
            intermediate_expires_at=ca.intermediate_cert.not_valid_after_utc,
            next_step=Step.ACTIVATE if activate_at else Step.RETIRE if retire_at else None,
            next_step_at=activate_at or retire_at,
        )
        now = self._clock()
        expiry = self._metrics.trust_certificate_expiry
        for kind, cert in (("root", ca.root_cert), ("intermediate", ca.intermediate_cert)):
            left = cert.not_valid_after_utc - now
            expiry.labels(trust_domain, kind).set(left.total_seconds())
        return status

    async def run_rotation(self, tick: timedelta) -> None:
        """Take due rotation steps for every own domain, every ``tick``, until cancelled."""
        while True:
            for domain in self.settings.own_domains:
                try:
                    await self.rotate_if_scheduled(domain)
                    await self.advance(domain)
                    await self.status(domain)
                except (StoreError, TrustStateConflictError) as exc:
                    log.warning(
                        "rotation tick failed", extra={"trust_domain": domain, "error": str(exc)}
                    )
            await asyncio.sleep(tick.total_seconds())

    async def _note_issuance(self, domain: str, now: datetime) -> CertificateAuthority:
        """Record the coming leaf's expiry under the signing generation, then return its CA.

        Recording first means the retire step, which reads these expiries, can never drop a
        root while a leaf it signed is still valid.
        """
        for _ in range(_CAS_ATTEMPTS):
            state = await self.records.domain(domain)
            generation = state.rotation.signing
            ca = await self.records.ca(domain, generation)
            expires = min(now + self.settings.svid_ttl, ca.intermediate_cert.not_valid_after_utc)
            # Whole seconds upward: a burst of issuances then writes the state once a second.
            rounded = expires.replace(microsecond=0) + timedelta(seconds=1)
            noted = record_issuance(state.rotation, generation, rounded)
            if noted is state.rotation:
                return ca
            try:
                await self.records.save_domain(replace(state, rotation=noted))
            except TrustStateConflictError:
                continue
            return ca
        raise TrustStateConflictError(
            f"trust domain {domain!r}: the rotation state kept changing during issuance; retry"
        )

    async def _save_rotation(self, state: DomainState, rotation: RotationState) -> DomainState:
        bundle = state.bundle
        if rotation.published != state.rotation.published:
            roots = [
                (await self.records.ca(state.trust_domain, g)).root_cert for g in rotation.published
            ]
            bundle = TrustBundle(
                state.trust_domain,
                tuple(roots),
                bundle.sequence + 1,
                self.settings.refresh_hint_seconds,
            )
        return await self.records.save_domain(replace(state, bundle=bundle, rotation=rotation))

    async def _new_ca(self, domain: str, now: datetime) -> CertificateAuthority:
        # Backdated like leaves are, so a peer whose clock lags a little accepts the new CA.
        ttl = self.settings.ca_ttl
        return await asyncio.to_thread(
            create_authority,
            domain,
            now - CLOCK_SKEW_ALLOWANCE,
            self.settings.key_type,
            ttl + CLOCK_SKEW_ALLOWANCE,
            ttl + CLOCK_SKEW_ALLOWANCE,
        )
