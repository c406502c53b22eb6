"""A gateway in mtls mode following a real control plane, ready once its first routes arrived."""

from __future__ import annotations

import asyncio
from pathlib import Path

from federation.gateway.command import RunningGateway
from federation.gateway.options import GatewayOptions
from federation.model import MeshfedConfig, Role
from tests.federation.api.conftest import TOKENS, Api

DEADLINE = 10.0


def with_local_payments(config: MeshfedConfig, backend_port: int) -> MeshfedConfig:
    """``config`` with a static provider: payments.prod in aws-use1 at 127.0.0.1:backend_port."""
    endpoint = {
        "cluster": "aws-use1",
        "service": "payments.prod",
        "address": "127.0.0.1",
        "port": backend_port,
    }
    static = {"name": "local", "kind": "static", "endpoints": [endpoint]}
    return MeshfedConfig.model_validate({**config.model_dump(mode="json"), "providers": [static]})


def gateway_options(config: MeshfedConfig, api: Api, tmp_path: Path) -> GatewayOptions:
    return GatewayOptions(
        config=config,
        cluster="aws-use1",
        listen=("127.0.0.1", 0),
        server=api.running.url,
        token=TOKENS[Role.OPERATOR],
        access_log=str(tmp_path / "access.log"),
        svid_from_server=True,
    )


async def routes_arrived(gateway: RunningGateway, service: str) -> None:
    async with asyncio.timeout(DEADLINE):
        while not gateway.routes.upstreams(service, None, None):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
