"""Trust domains on loopback: a sqlite store and a KEK file per domain, initialized through the
same code as ``meshfed trust init``, then served by ``running_service``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from federation.audit_log import AuditLog
from federation.config import parse_config
from federation.metrics import Metrics
from federation.model import MeshfedConfig
from federation.service import running_service
from federation.store import open_store
from federation.trust.runtime import build_authority, kek_for
from tests.federation.api.conftest import Api, api_config
from trust.kek import create_kek_file


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def trust_config(
    directory: Path,
    trust_domain: str,
    *,
    trust: dict[str, Any] | None = None,
    clusters: list[dict[str, Any]] | None = None,
    policies: list[dict[str, Any]] | None = None,
    services: list[dict[str, Any]] | None = None,
) -> MeshfedConfig:
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "federation": {"name": trust_domain.split(".")[0], "trust_domain": trust_domain},
        "store": f"sqlite:///{directory / 'state.db'}",
        "api": {"listen": "127.0.0.1:0"},
        "clusters": clusters
        or [
            {"name": "aws-use1", "cloud": "aws", "region": "us-east-1"},
            {"name": "gcp-euw1", "cloud": "gcp", "region": "europe-west1"},
        ],
        "services": services or [],
        "policies": policies or [],
        "trust": {"kek_file": str(directory / "kek"), "svid_ttl": "1h", **(trust or {})},
    }
    return api_config(yaml.safe_dump(document))


async def init_trust(config: MeshfedConfig) -> None:
    """What ``meshfed trust init`` does: a KEK file, then generation 1 of every own CA."""
    assert config.trust.kek_file
    kek_file = Path(config.trust.kek_file)
    if not await asyncio.to_thread(kek_file.exists):
        await asyncio.to_thread(create_kek_file, kek_file)
    store = open_store(config.store)
    try:
        metrics = Metrics()
        authority = build_authority(
            config, store, kek_for(config, {}), AuditLog(store, metrics), metrics
        )
        await authority.initialize()
    finally:
        await store.close()


@asynccontextmanager
async def served(config: MeshfedConfig) -> AsyncIterator[Api]:
    async with (
        running_service(config) as running,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        yield Api(running, session)


__all__ = ["free_port", "init_trust", "parse_config", "served", "trust_config"]
