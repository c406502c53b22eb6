"""Trust service throughput: X509-SVID issuances per second through the service code (CSR
checks, the rotation bookkeeping in the store, signing, the audit record) and bundle endpoint
requests per second, each against a bare ``cryptography`` baseline measured in the same run.

    .venv/bin/python -m bench.trust.run [--count 300] [--requests 2000] [--concurrency 16]

Prints one JSON document. CSRs are made before timing: making a key is the client's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from federation.audit_log import AuditLog
from federation.config import parse_config
from federation.metrics import Metrics
from federation.store import open_store
from federation.trust.authority import TrustAuthority
from federation.trust.endpoint import bundle_endpoint
from federation.trust.runtime import build_authority
from trust.kek import Kek
from trust.spiffe_id import SpiffeId
from trust.svid import create_csr
from trust.tls import bundle_server_context

TRUST_DOMAIN = "bench.mesh"


def baseline_signs_per_second(count: int) -> float:
    """A leaf certificate built and signed with cryptography alone: no CSR, no checks."""
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIFFE")])
    now = datetime.now(UTC)
    uri = x509.UniformResourceIdentifier(f"spiffe://{TRUST_DOMAIN}/ns/bench")
    started = time.perf_counter()
    for _ in range(count):
        (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(leaf_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([uri]), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
    return count / (time.perf_counter() - started)


async def service_issuances_per_second(store_url: str, count: int) -> float:
    config = parse_config(
        f"federation: {{name: bench, trust_domain: {TRUST_DOMAIN}}}\nstore: '{store_url}'\n"
    )
    store = open_store(store_url)
    try:
        metrics = Metrics()
        authority = build_authority(
            config, store, Kek(os.urandom(32), "bench"), AuditLog(store, metrics), metrics
        )
        await authority.initialize()
        ids = [SpiffeId(TRUST_DOMAIN, f"/ns/bench/sa/w{i}") for i in range(count)]
        csrs = [create_csr(spiffe_id).csr_pem for spiffe_id in ids]
        started = time.perf_counter()
        for spiffe_id, csr in zip(ids, csrs, strict=True):
            await authority.issue(csr, str(spiffe_id), actor="bench")
        return count / (time.perf_counter() - started)
    finally:
        await store.close()


async def _hammer(url: str, context: ssl.SSLContext, requests: int, concurrency: int) -> float:
    remaining = requests

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with session.get(url, ssl=context) as response:
                await response.read()

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker(session))
        return requests / (time.perf_counter() - started)


async def bundle_endpoint_requests_per_second(
    store_url: str, requests: int, concurrency: int
) -> dict[str, float]:
    """The https_spiffe bundle endpoint (reads the bundle from the store on each request)
    against an aiohttp handler returning the same bytes from memory, same TLS identity."""
    config = parse_config(
        f"federation: {{name: bench, trust_domain: {TRUST_DOMAIN}}}\nstore: '{store_url}'\n"
        "trust: {bundle_endpoint: {listen: '127.0.0.1:0', profile: https_spiffe}}\n"
    )
    assert config.trust.bundle_endpoint is not None
    store = open_store(store_url)
    try:
        metrics = Metrics()
        authority = build_authority(
            config, store, Kek(os.urandom(32), "bench"), AuditLog(store, metrics), metrics
        )
        await authority.initialize()
        bundle = await authority.bundle(TRUST_DOMAIN)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.load_verify_locations(cadata=bundle.roots_pem())
        async with bundle_endpoint(config.trust.bundle_endpoint, authority, authority.now) as at:
            service = await _hammer(at.url, client, requests, concurrency)
        return {
            "service": service,
            "baseline": await _baseline_endpoint(
                bundle.to_json(), client, requests, concurrency, authority
            ),
        }
    finally:
        await store.close()


async def _baseline_endpoint(
    body: bytes,
    client: ssl.SSLContext,
    requests: int,
    concurrency: int,
    authority: TrustAuthority,
) -> float:
    workload = create_csr(SpiffeId(TRUST_DOMAIN, "/bench/baseline"))
    svid = await authority.issue(workload.csr_pem, str(workload.spiffe_id), actor="bench")
    context = bundle_server_context(svid.chain_pem, workload.private_key)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        return await _hammer(f"https://127.0.0.1:{port}", client, requests, concurrency)
    finally:
        await runner.cleanup()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="meshfed-bench-") as directory:
        sqlite_url = f"sqlite:///{Path(directory) / 'state.db'}"
        issuance = {
            "memory_store": await service_issuances_per_second("memory://", args.count),
            "sqlite_store": await service_issuances_per_second(sqlite_url, args.count),
            "baseline_cryptography_sign": await asyncio.to_thread(
                baseline_signs_per_second, args.count
            ),
        }
        endpoint = await bundle_endpoint_requests_per_second(
            "memory://", args.requests, args.concurrency
        )
    return {
        "svid_issuances_per_second": {k: round(v, 1) for k, v in issuance.items()},
        "issuance_vs_baseline": round(
            issuance["memory_store"] / issuance["baseline_cryptography_sign"], 3
        ),
        "bundle_endpoint_requests_per_second": {k: round(v, 1) for k, v in endpoint.items()},
        "count": args.count,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
