"""A real API server on a loopback port over a memory store, with one token per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from federation.config import parse_config
from federation.model import MeshfedConfig, Role, TokenSpec
from federation.service import Running, running_service
from federation.tokens import token_hash

# What every API test config starts with: a memory store and a free loopback port.
API_HEADER = """
federation: {name: acme, trust_domain: acme.mesh}
store: memory://
api: {listen: 127.0.0.1:0}
"""
CONFIG = (
    API_HEADER
    + """clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1}
  - {name: azure-weu, cloud: azure, region: westeurope}
services:
  - name: payments.prod
    port: 8080
    routing: {mode: failover, failover: [aws-use1, gcp-euw1]}
policies:
  - {name: web-to-payments, action: allow, to: payments.prod,
     from: ["spiffe://acme.mesh/ns/web/sa/frontend"]}
"""
)

TOKENS = {role: f"test-token-{role.value}" for role in Role}


def api_config(text: str = CONFIG) -> MeshfedConfig:
    config = parse_config(text)
    tokens = [
        TokenSpec(name=f"{r.value}-user", role=r, sha256=token_hash(t)) for r, t in TOKENS.items()
    ]
    return config.model_copy(update={"api": config.api.model_copy(update={"tokens": tokens})})


@dataclass
class Api:
    running: Running
    session: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return self.running.url + path

    def auth(self, role: Role | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {TOKENS[role]}"}

    async def call(
        self, method: str, path: str, role: Role | None = Role.ADMIN, **kwargs: object
    ) -> tuple[int, dict[str, object], aiohttp.ClientResponse]:
        headers = {**self.auth(role), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        async with self.session.request(method, self.url(path), headers=headers, **kwargs) as r:  # type: ignore[arg-type]
            body = await r.json(content_type=None) if r.status != 204 else {}
            return r.status, body, r


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with (
        running_service(api_config()) as running,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        yield Api(running, session)
