"""Last known good with the real SDKs: each cloud's adapter, over real HTTP to its local fake,
driven by the discovery loop. A listing that breaks part-way (throttled past its retries, a 5xx
on page 3, a stall) never costs an endpoint that was known; it marks them stale instead."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from google.auth.credentials import AnonymousCredentials

from federation.discovery import DiscoveryLoop, Schedule, ScheduledProvider
from federation.metrics import Metrics
from federation.registry import Registry
from federation.store.memory import MemoryStore
from providers.aws import AwsProvider
from providers.azure import AzureProvider
from providers.base import Provider
from providers.calls import RetryPolicy
from providers.gcp import GcpProvider
from tests.support.aws_fault_proxy import (  # noqa: F401
    AwsFaultProxy,
    Rule,
    ec2_error,
    fault_proxy_fixture,
    fault_proxy_server_fixture,
)
from tests.support.azure_fake import AzureFake, StaticToken
from tests.support.fake_http import FakeCloudBase, Fault, FaultPlan, serving
from tests.support.gcp_fake import GcpFake
from tests.support.moto_server import (  # noqa: F401
    aws_env_fixture,
    moto_server_fixture,
    moto_url_fixture,
    run_tagged,
    subnet_in,
    tags,
)
from tests.support.test_ca import LocalCa, make_test_ca

FAST = RetryPolicy(attempts=2, backoff_base=0.01, backoff_max=0.02, retry_after_cap=0.05)
SUB = "00000000-0000-0000-0000-000000000001"
LABELS = {
    "meshfed-cluster": "c1",
    "meshfed-role": "service",
    "meshfed-service": "pay--prod",
    "meshfed-port": "9443",
}


def only(fake: FakeCloudBase, fault: Fault) -> None:
    """From now on the fake answers with this fault alone."""
    fake.faults = FaultPlan()
    fake.faults.add(fault)


async def loop_over(provider: Provider) -> tuple[DiscoveryLoop, Registry]:
    registry = Registry(MemoryStore(), [provider.name])
    loop = DiscoveryLoop([ScheduledProvider(provider, Schedule(30))], registry, Metrics())
    return loop, registry


async def assert_failures_keep_endpoints(
    provider: Provider, count: int, break_listing: list[tuple[str, Callable[[], object]]]
) -> None:
    """``break_listing``: (expected error kind, a callable that breaks the fake) in turn."""
    loop, registry = await loop_over(provider)
    first = await loop.sync_once(provider.name)
    assert first.last_error is None, first.last_error
    assert len(registry.endpoints()) == count
    known = {e.key for e in registry.endpoints()}
    for kind, breaker in break_listing:
        breaker()
        status = await loop.sync_once(provider.name)
        assert status.last_error_kind == kind, status.last_error
        assert status.stale
        assert {e.key for e in registry.endpoints()} == known
        assert all(e.stale for e in registry.endpoints())


@pytest.fixture
def compute() -> Iterator[GcpFake]:
    fake = GcpFake()
    with serving(fake):
        yield fake


async def test_gcp_listing_failures_keep_known_endpoints(compute: GcpFake) -> None:
    for i in range(9):
        compute.add_instance("p1", f"vm-{i}", "europe-west1-b", labels=LABELS, ip=f"10.0.0.{i}")
    provider = GcpProvider(
        "gcp",
        ["p1"],
        api_endpoint=compute.url,
        credentials=AnonymousCredentials(),
        retry_policy=FAST,
        page_size=2,
        call_timeout=0.3,
    )
    await assert_failures_keep_endpoints(
        provider,
        9,
        [
            ("throttled", lambda: only(compute, Fault(status=429, times=None))),
            ("unavailable", lambda: only(compute, Fault(status=503, page=3, times=None))),
            ("timeout", lambda: only(compute, Fault(delay=2, times=None))),
        ],
    )


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    return make_test_ca(tmp_path_factory.mktemp("arm-ca"))


@pytest.fixture
def arm(local_ca: LocalCa) -> Iterator[AzureFake]:
    fake = AzureFake(page_size=2)
    with serving(fake, local_ca.server_context()):
        yield fake


async def test_azure_listing_failures_keep_known_endpoints(
    arm: AzureFake, local_ca: LocalCa
) -> None:
    for i in range(7):
        arm.add_public_ip(
            SUB,
            f"ip-{i}",
            "westeurope",
            ip=f"20.0.0.{i}",
            tags={"meshfed-cluster": "c1", "meshfed-role": "gateway", "meshfed-port": "15443"},
        )
    provider = AzureProvider(
        "azure",
        [SUB],
        base_url=arm.url,
        credential=StaticToken(arm.token),
        connection_verify=str(local_ca.ca_file),
        retry_policy=FAST,
        call_timeout=0.3,
    )
    await assert_failures_keep_endpoints(
        provider,
        7,
        [
            (
                "unavailable",
                lambda: only(
                    arm, Fault(status=503, page=3, path_contains="publicIPAddresses", times=None)
                ),
            ),
        ],
    )


async def test_aws_listing_failure_on_page_three_keeps_known_endpoints(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_url)
    _, subnet = subnet_in(ec2)
    for _ in range(6):
        run_tagged(ec2, subnet, tags(cluster="c1", role="gateway", port="15443"))
    provider = AwsProvider(
        "aws", ["us-east-1"], endpoint_url=fault_proxy.url, retry_policy=FAST, page_size=2
    )
    await assert_failures_keep_endpoints(
        provider,
        6,
        [
            (
                "unavailable",
                lambda: fault_proxy.inject(
                    Rule(ec2_error("InternalError", 500), "DescribeInstances", skip=2, times=None)
                ),
            ),
        ],
    )
