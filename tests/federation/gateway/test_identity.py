"""A gateway in mtls mode with --server gets its SVID from the control plane and renews it
half way through its life, by proof of possession, without dropping open connections."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from federation.gateway.command import running_gateway
from federation.gateway.identity import GatewaySvid, renewal_delay, retry_delay
from tests.federation.api.conftest import Api
from tests.federation.gateway.served_gateway import (
    gateway_options,
    routes_arrived,
    with_local_payments,
)
from tests.federation.trust.conftest import free_port, init_trust, served, trust_config
from trust.bundle import BundleSet, TrustBundle
from trust.keys import PrivateKey
from trust.spiffe_id import parse_spiffe_id
from trust.svid import create_csr
from trust.tls import client_context, server_context

TD = "acme.mesh"
SNI = "outbound_.8080_._.payments.prod.svc.cluster.local"
GATEWAY_ID = f"spiffe://{TD}/gateway/aws-use1"
DEADLINE = 10.0


@dataclass(frozen=True, slots=True)
class Workload:
    chain_pem: str
    key: PrivateKey
    bundles: BundleSet


async def workload(api: Api, spiffe_id: str) -> Workload:
    key = create_csr(parse_spiffe_id(spiffe_id))
    status, body, _ = await api.call(
        "POST", "/v1/trust/svid", json={"csr": key.csr_pem, "spiffe_id": spiffe_id}
    )
    assert status == 200, body
    roots = x509.load_pem_x509_certificates(str(body["bundle"]).encode())
    return Workload(str(body["svid"]), key.private_key, BundleSet((TrustBundle(TD, tuple(roots)),)))


@asynccontextmanager
async def mtls_echo(backend: Workload, port: int) -> AsyncIterator[None]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(b"echo: " + line)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    context = server_context(backend.chain_pem, backend.key, backend.bundles)
    server = await asyncio.start_server(echo, "127.0.0.1", port, ssl=context)
    async with server:
        yield


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes
) -> bytes:
    async with asyncio.timeout(DEADLINE):
        writer.write(line)
        await writer.drain()
        return await reader.readline()


def gateway_serial(writer: asyncio.StreamWriter) -> int:
    """The serial of the SVID the gateway showed; checks that it names the gateway."""
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    leaf = x509.load_der_x509_certificate(der)
    uris = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uris.get_values_for_type(x509.UniformResourceIdentifier) == [GATEWAY_ID]
    return leaf.serial_number


async def test_a_renewed_svid_serves_new_connections_while_an_open_one_keeps_working(
    tmp_path: Path,
) -> None:
    backend_port = free_port()
    config = trust_config(
        tmp_path,
        TD,
        trust={"svid_ttl": "4s"},
        clusters=[{"name": "aws-use1", "cloud": "aws", "region": "us-east-1"}],
        services=[{"name": "payments.prod", "port": 8080}],
        policies=[
            {
                "name": "frontend-to-payments",
                "action": "allow",
                "to": "payments.prod",
                "from": [f"spiffe://{TD}/ns/web/sa/frontend"],
            }
        ],
    )
    config = with_local_payments(config, backend_port)
    await init_trust(config)
    async with served(config) as api:
        backend = await workload(api, f"spiffe://{TD}/ns/prod/sa/payments")
        caller = await workload(api, f"spiffe://{TD}/ns/web/sa/frontend")
        options = gateway_options(config, api, tmp_path)
        async with mtls_echo(backend, backend_port), running_gateway(options) as gateway:
            await routes_arrived(gateway, "payments.prod")
            context = client_context(caller.chain_pem, caller.key, caller.bundles)

            async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
                return await asyncio.open_connection(
                    *gateway.address, ssl=context, server_hostname=SNI
                )

            reader, writer = await connect()
            first = gateway_serial(writer)
            assert await exchange(reader, writer, b"before\n") == b"echo: before\n"

            renewed = first
            async with asyncio.timeout(DEADLINE):
                while renewed == first:
                    await asyncio.sleep(0.2)
                    new_reader, new_writer = await connect()
                    renewed = gateway_serial(new_writer)
                    assert await exchange(new_reader, new_writer, b"new\n") == b"echo: new\n"
                    new_writer.close()
            assert await exchange(reader, writer, b"after\n") == b"echo: after\n"
            writer.close()


def svid_for(received: datetime, ttl: timedelta) -> GatewaySvid:
    key = create_csr(parse_spiffe_id(GATEWAY_ID)).private_key
    return GatewaySvid("", key, "", received, received + ttl)


def test_renewal_is_due_half_way_through_the_life_since_arrival() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    svid = svid_for(now, timedelta(hours=24))
    assert renewal_delay(svid, now) == 12 * 3600
    assert renewal_delay(svid, now + timedelta(hours=13)) == 0
    assert retry_delay(svid, now + timedelta(hours=20)) == 3600
    assert retry_delay(svid, now + timedelta(hours=24)) == 1.0
