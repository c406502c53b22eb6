"""``meshfed trust init|status|rotate|issue|bundle`` and ``meshfed audit verify``: trust
operations straight on the store the config names, no server needed."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from federation.audit_log import AuditLog
from federation.config import load_config
from federation.metrics import Metrics
from federation.model import MeshfedConfig
from federation.problems import InvalidInputError
from federation.store import open_store
from federation.store.base import Store, StoreError
from federation.trust.authority import TrustAuthority
from federation.trust.records import TrustNotInitializedError, TrustStateConflictError
from federation.trust.runtime import build_authority, kek_for
from trust.kek import KEK_ENV, Kek, KekError, create_kek_file, load_kek
from trust.keys import PrivateKey
from trust.rotation import RotationError
from trust.spiffe_id import parse_spiffe_id
from trust.svid import CsrRefusedError, IssuedSvid, create_csr

_FAILURES = (
    InvalidInputError,
    KekError,
    TrustNotInitializedError,
    TrustStateConflictError,
    RotationError,
    CsrRefusedError,
    StoreError,
    OSError,
)
Action = Callable[[MeshfedConfig, Store, argparse.Namespace], Awaitable[int]]


class CommandError(Exception):
    """A usage problem the command reports and exits 1 for."""


async def run_trust_command(args: argparse.Namespace, action: Action) -> int:
    try:
        config = load_config(args.config)
        async with _store(config) as store:
            return await action(config, store, args)
    except (*_FAILURES, CommandError) as exc:
        print(f"meshfed {args.command}: {exc}", file=sys.stderr)
        return 1


async def trust_init(config: MeshfedConfig, store: Store, args: argparse.Namespace) -> int:
    kek = await asyncio.to_thread(_kek_creating_file, config)
    authority = _authority(config, store, kek)
    domain = _own_domain(authority, args.trust_domain, default_all=True)
    existing = [
        d
        for d in authority.settings.own_domains
        if (domain is None or d == domain) and await authority.records.has_domain(d)
    ]
    for name in existing:
        # A second init with another KEK would leave CAs nobody can open: say so now.
        state = await authority.records.domain(name)
        await authority.records.ca(name, state.rotation.signing)
    for name, created in (await authority.initialize(only=domain)).items():
        if created:
            bundle = await authority.bundle(name)
            print(f"{name}: CA created (generation 1), bundle sequence {bundle.sequence}")
        else:
            print(f"{name}: CA exists already; nothing changed")
    return 0


async def trust_status(config: MeshfedConfig, store: Store, args: argparse.Namespace) -> int:
    authority = _authority(config, store, kek_for(config, os.environ))
    for domain in authority.settings.own_domains:
        status = await authority.status(domain)
        step = (
            f", next: {status.next_step.value} at {status.next_step_at.isoformat()}"
            if status.next_step and status.next_step_at
            else ""
        )
        print(
            f"{domain}: root expires {status.root_expires_at.isoformat()}, intermediate "
            f"{status.intermediate_expires_at.isoformat()}; bundle sequence "
            f"{status.bundle_sequence}; rotation {status.phase.value} (signing generation "
            f"{status.signing_generation}{step})"
        )
    now = authority.now()
    for peer in config.trust.federates_with:
        held = await authority.records.foreign(peer.trust_domain)
        if held is None or held.fetched_at is None:
            state = "never fetched"
        else:
            state = (
                f"sequence {held.bundle.sequence if held.bundle else '-'}, fetched "
                f"{(now - held.fetched_at).total_seconds():.0f}s ago"
            )
        error = f"; last error: {held.last_error}" if held and held.last_error else ""
        print(f"{peer.trust_domain} (foreign): {state}{error}")
    return 0


async def trust_rotate(config: MeshfedConfig, store: Store, args: argparse.Namespace) -> int:
    authority = _authority(config, store, kek_for(config, os.environ))
    domain = _own_domain(authority, args.trust_domain) or authority.settings.federation_domain
    state = await authority.rotate(domain, actor="cli")
    status = await authority.status(domain)
    when = status.next_step_at.isoformat() if status.next_step_at else "-"
    print(
        f"{domain}: generation {state.rotation.incoming} prepared, bundle sequence "
        f"{state.bundle.sequence}; a running 'meshfed serve' activates it from {when}"
    )
    return 0


async def trust_issue(config: MeshfedConfig, store: Store, args: argparse.Namespace) -> int:
    authority = _authority(config, store, kek_for(config, os.environ))
    if args.out_dir:
        workload = create_csr(parse_spiffe_id(args.spiffe_id), config.trust.key_type)
        issued = await authority.issue(workload.csr_pem, args.spiffe_id, actor="cli")
        out = Path(args.out_dir)
        await asyncio.to_thread(_write_svid_files, out, workload.private_key, issued)
        print(f"{issued.spiffe_id}: svid.key, svid.pem, bundle.pem written to {out}")
        print(f"expires {issued.expires_at.isoformat()}")
        return 0
    issued = await authority.issue(
        await asyncio.to_thread(Path(args.csr).read_text), args.spiffe_id, actor="cli"
    )
    answer = {
        "spiffe_id": str(issued.spiffe_id),
        "svid": issued.chain_pem,
        "bundle": issued.bundle_pem,
        "expires_at": issued.expires_at.isoformat(),
    }
    print(json.dumps(answer, indent=2))
    return 0


async def trust_bundle(config: MeshfedConfig, store: Store, args: argparse.Namespace) -> int:
    authority = _authority(config, store, None)
    domain = _own_domain(authority, args.trust_domain) or authority.settings.federation_domain
    print(json.dumps((await authority.bundle(domain)).to_jwks(), indent=2, sort_keys=True))
    return 0


async def audit_verify(config: MeshfedConfig, store: Store, args: argparse.Namespace) -> int:
    log = AuditLog(store, Metrics())
    problems = await log.verify()
    for problem in problems:
        print(f"seq {problem.seq}: {problem.kind.value}: {problem.message}")
    if problems:
        print(f"audit chain broken: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    count = len(await log.read(after=-1, limit=10**9))
    print(f"audit chain intact: {count} record(s)")
    return 0


@asynccontextmanager
async def _store(config: MeshfedConfig) -> AsyncIterator[Store]:
    store = open_store(config.store)
    try:
        yield store
    finally:
        await store.close()


def _authority(config: MeshfedConfig, store: Store, kek: Kek | None) -> TrustAuthority:
    metrics = Metrics()
    return build_authority(config, store, kek, AuditLog(store, metrics), metrics)


def _own_domain(
    authority: TrustAuthority, wanted: str | None, default_all: bool = False
) -> str | None:
    if wanted is None:
        return None if default_all else authority.settings.federation_domain
    if wanted not in authority.settings.own_domains:
        raise CommandError(
            f"--trust-domain {wanted} is not one of this config's trust domains "
            f"({', '.join(authority.settings.own_domains)}): federation.trust_domain and "
            "clusters[].trust_domain name them"
        )
    return wanted


def _kek_creating_file(config: MeshfedConfig) -> Kek:
    if os.environ.get(KEK_ENV) or not config.trust.kek_file:
        return load_kek(None, os.environ)
    path = Path(config.trust.kek_file)
    if path.exists():
        return load_kek(path, {})
    path.parent.mkdir(parents=True, exist_ok=True)
    kek = create_kek_file(path)
    print(f"created key-encryption key {path} (mode 0600): back it up apart from the store")
    return kek


def _write_svid_files(out: Path, key: PrivateKey, issued: IssuedSvid) -> None:
    out.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file = out / "svid.key"
    # Created 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    key_file.chmod(0o600)
    (out / "svid.pem").write_text(issued.chain_pem)
    (out / "bundle.pem").write_text(issued.bundle_pem)
