"""AzureProvider against the local ARM fake: the real azure-mgmt-network client over HTTPS."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.azure import AzureProvider
from providers.base import Endpoint, ProviderError, ProviderErrorKind, Role
from providers.calls import RetryPolicy
from tests.support.azure_fake import AzureFake, StaticToken
from tests.support.fake_http import Fault, serving
from tests.support.test_ca import LocalCa, make_test_ca

SUB = "00000000-0000-0000-0000-000000000000"
FAST = RetryPolicy(attempts=3, backoff_base=0.01, backoff_max=0.05, retry_after_cap=0.5)
SERVICE_TAGS = {
    "meshfed-cluster": "azure-weu",
    "meshfed-role": "service",
    "meshfed-service": "payments.prod",
    "meshfed-port": "9443",
    "env": "prod",
}
GATEWAY_TAGS = {"meshfed-cluster": "azure-weu", "meshfed-role": "gateway"}
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-mesh/providers/Microsoft.Network"


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    return make_test_ca(tmp_path_factory.mktemp("arm-ca"))


@pytest.fixture
def arm(local_ca: LocalCa) -> Iterator[AzureFake]:
    fake = AzureFake()
    with serving(fake, local_ca.server_context()):
        yield fake


@pytest.fixture
def azure(arm: AzureFake, local_ca: LocalCa) -> Iterator[Callable[..., AzureProvider]]:
    def build(token: str | None = None, **options: Any) -> AzureProvider:
        options.setdefault("retry_policy", FAST)
        return AzureProvider(
            "azure-prod",
            [SUB],
            base_url=arm.url,
            credential=StaticToken(token or arm.token),
            connection_verify=str(local_ca.ca_file),
            **options,
        )

    yield build


def test_tagged_nic_gives_each_private_ip_in_its_vnet(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    arm.add_nic(SUB, "pay-nic", "westeurope", tags=SERVICE_TAGS, ips=["10.2.0.4", "10.2.0.5"])

    snapshot = azure().discover()

    expected = [
        Endpoint(
            cluster="azure-weu",
            role=Role.SERVICE,
            service="payments.prod",
            address=ip,
            port=9443,
            cloud="azure",
            region="westeurope",
            network="vnet-weu",
            labels=(("env", "prod"),),
            source=f"{GROUP}/networkInterfaces/pay-nic",
        )
        for ip in ("10.2.0.4", "10.2.0.5")
    ]
    assert list(snapshot.endpoints) == expected
    assert snapshot.complete and snapshot.warnings == ()


def test_untagged_and_detached_nics_are_left_out(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    arm.add_nic(SUB, "web", "westeurope", tags={"env": "prod"}, ips=["10.2.0.6"])
    arm.add_nic(SUB, "bare", "westeurope", tags=None, ips=["10.2.0.7"])
    arm.add_nic(SUB, "spare", "westeurope", tags=SERVICE_TAGS, ips=["10.2.0.8"], attached=False)
    arm.add_nic(SUB, "pay", "westeurope", tags=SERVICE_TAGS, ips=["10.2.0.9"])

    snapshot = azure().discover()

    assert [e.address for e in snapshot.endpoints] == ["10.2.0.9"]


def test_load_balancer_frontends_resolve_public_ips_and_rule_ports(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    pip = arm.add_public_ip(SUB, "gw-pip", "westeurope", tags=None, ip="20.50.1.2")
    arm.add_load_balancer(
        SUB, "eastwest", "westeurope", tags=GATEWAY_TAGS,
        frontends=[{"public_ip_id": pip["id"], "zones": ["1"]}, {"private_ip": "10.2.1.9"}],
        rule_ports={0: 15443, 1: 15012},
    )  # fmt: skip

    snapshot = azure().discover()

    lb = f"{GROUP}/loadBalancers/eastwest/frontendIPConfigurations"
    common: dict[str, Any] = {
        "cluster": "azure-weu",
        "role": Role.GATEWAY,
        "service": None,
        "cloud": "azure",
        "region": "westeurope",
    }
    assert list(snapshot.endpoints) == [
        Endpoint(
            address="20.50.1.2", port=15443, zone="westeurope-1", source=f"{lb}/fe0", **common
        ),
        Endpoint(address="10.2.1.9", port=15012, network="vnet-weu", source=f"{lb}/fe1", **common),
    ]


def test_port_tag_wins_over_the_rule_port(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    tags = GATEWAY_TAGS | {"meshfed-port": "15443", "meshfed-weight": "3"}
    arm.add_load_balancer(
        SUB, "ilb", "westeurope", tags=tags, frontends=[{"private_ip": "10.2.1.10"}],
        rule_ports={0: 80},
    )  # fmt: skip

    (endpoint,) = azure().discover().endpoints

    assert (endpoint.port, endpoint.weight) == (15443, 3)


def test_tagged_public_ip_is_an_endpoint_in_its_zone(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    tags = GATEWAY_TAGS | {"meshfed-port": "15443"}
    arm.add_public_ip(SUB, "gw", "westeurope", tags=tags, ip="20.50.1.3", zones=["2"])

    (endpoint,) = azure().discover().endpoints

    assert (endpoint.address, endpoint.zone, endpoint.source) == (
        "20.50.1.3",
        "westeurope-2",
        f"{GROUP}/publicIPAddresses/gw",
    )


def test_every_subscription_is_listed(arm: AzureFake, local_ca: LocalCa) -> None:
    other = "11111111-1111-1111-1111-111111111111"
    arm.add_nic(SUB, "pay", "westeurope", tags=SERVICE_TAGS, ips=["10.2.0.4"])
    arm.add_nic(other, "pay", "northeurope", tags=SERVICE_TAGS, ips=["10.3.0.4"])
    provider = AzureProvider(
        "azure-prod", [SUB, other], base_url=arm.url, credential=StaticToken(arm.token),
        connection_verify=str(local_ca.ca_file),
    )  # fmt: skip

    snapshot = provider.discover()

    assert [(e.address, e.region) for e in snapshot.endpoints] == [
        ("10.2.0.4", "westeurope"),
        ("10.3.0.4", "northeurope"),
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"meshfed-cluster": " "}, "meshfed-cluster is empty"),
        ({"meshfed-service": None}, "meshfed-role=service needs meshfed-service"),
        ({"meshfed-port": "0"}, "meshfed-port='0' is not a number from 1 to 65535"),
        ({"meshfed-port": "99999"}, "meshfed-port='99999' is not a number from 1 to 65535"),
        ({"meshfed-port": None}, "meshfed-port is missing"),
        ({"meshfed-role": "ingress"}, "meshfed-role='ingress' is not a role"),
    ],
)
def test_malformed_nic_is_skipped_with_a_warning_and_the_rest_kept(
    arm: AzureFake, azure: Callable[..., AzureProvider], change: dict[str, str | None], problem: str
) -> None:
    tags = {k: v for k, v in (SERVICE_TAGS | change).items() if v is not None}
    arm.add_nic(SUB, "broken", "westeurope", tags=tags, ips=["10.2.0.66"])
    arm.add_nic(SUB, "good", "westeurope", tags=SERVICE_TAGS, ips=["10.2.0.4"])

    snapshot = azure().discover()

    assert [e.address for e in snapshot.endpoints] == ["10.2.0.4"]
    (warning,) = snapshot.warnings
    assert warning.startswith(f"azure network interface {GROUP}/networkInterfaces/broken skipped: ")
    assert problem in warning


def test_public_ip_without_an_address_is_reported(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    pip = arm.add_public_ip(SUB, "pending", "westeurope", tags=None, ip=None)
    arm.add_load_balancer(
        SUB, "lb", "westeurope", tags=GATEWAY_TAGS | {"meshfed-port": "15443"},
        frontends=[{"public_ip_id": pip["id"]}],
    )  # fmt: skip

    snapshot = azure().discover()

    assert snapshot.endpoints == ()
    assert snapshot.warnings == (
        f"azure load balancer {GROUP}/loadBalancers/lb skipped: the resource has no IP address:"
        " give it one, or remove its meshfed-cluster label or tag",
    )


def test_three_thousand_resources_over_many_pages_are_all_found(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    for i in range(2000):
        tags = SERVICE_TAGS if i % 2 == 0 else {"env": "dev"}
        arm.add_nic(SUB, f"nic-{i}", "westeurope", tags=tags, ips=[f"10.{i // 250}.{i % 250}.4"])
    for i in range(500):
        pip = arm.add_public_ip(
            SUB, f"pip-{i}", "northeurope", tags=None, ip=f"20.1.{i // 250}.{i % 250}"
        )
        arm.add_load_balancer(
            SUB, f"lb-{i}", "northeurope", tags=GATEWAY_TAGS,
            frontends=[{"public_ip_id": pip["id"]}], rule_ports={0: 15443},
        )  # fmt: skip

    started = time.monotonic()
    snapshot = azure().discover()
    elapsed = time.monotonic() - started

    assert len(snapshot.endpoints) == 1000 + 500
    assert snapshot.complete and snapshot.warnings == ()
    assert len(arm.requests) == 20 + 5 + 5  # 100 a page: NICs, load balancers, public IPs
    assert elapsed < 20, f"3,000 resources took {elapsed:.1f}s"


def test_throttling_is_retried_until_arm_answers(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    arm.add_nic(SUB, "pay", "westeurope", tags=SERVICE_TAGS, ips=["10.2.0.4"])
    arm.faults.add(
        Fault(status=429, retry_after="0.05", path_contains="networkInterfaces", times=2)
    )

    snapshot = azure().discover()

    assert [e.address for e in snapshot.endpoints] == ["10.2.0.4"]
    assert sum(r.path.endswith("/networkInterfaces") for r in arm.requests) == 3


def test_server_error_persisting_on_page_three_of_five_fails_the_pass(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    arm.page_size = 2
    for i in range(10):
        arm.add_nic(SUB, f"nic-{i}", "westeurope", tags=SERVICE_TAGS, ips=[f"10.2.0.{i}"])
    arm.faults.add(Fault(status=500, page=3, path_contains="networkInterfaces", times=None))

    with pytest.raises(ProviderError) as raised:
        azure().discover()

    assert raised.value.kind is ProviderErrorKind.UNAVAILABLE
    assert f"list network interfaces in subscription {SUB} (page 3) answered 500" in str(
        raised.value
    )
    skips = [r.query.get("$skiptoken", "") for r in arm.requests if "networkInterfaces" in r.path]
    assert skips == ["", "2", "4", "4", "4"]  # pages 1 and 2 once, page 3 for every attempt


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_up_to_the_cap(
    arm: AzureFake, azure: Callable[..., AzureProvider], status: int
) -> None:
    arm.faults.add(Fault(status=status, retry_after="60", times=1))
    policy = RetryPolicy(attempts=2, backoff_base=0.001, backoff_max=0.001, retry_after_cap=0.4)

    started = time.monotonic()
    azure(retry_policy=policy).discover()
    elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 3.0


def test_the_sdk_itself_does_not_retry(arm: AzureFake, azure: Callable[..., AzureProvider]) -> None:
    arm.faults.add(Fault(status=503, retry_after="0", times=1))

    with pytest.raises(ProviderError) as raised:
        azure(retry_policy=RetryPolicy(attempts=1)).discover()

    assert raised.value.kind is ProviderErrorKind.UNAVAILABLE
    assert len(arm.requests) == 1


def test_stalled_arm_times_out_within_call_timeout(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    arm.faults.add(Fault(delay=10, times=None))

    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        azure(call_timeout=0.3, retry_policy=RetryPolicy(attempts=2, backoff_base=0.01)).discover()
    elapsed = time.monotonic() - started

    assert raised.value.kind is ProviderErrorKind.TIMEOUT
    # Two 0.3 s attempts; room for a loaded machine, far below the 10 s stall.
    assert elapsed < 5.0
    assert len(arm.requests) == 2


def test_rejected_token_is_an_auth_error_and_not_retried(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    with pytest.raises(ProviderError) as raised:
        azure(token="expired").discover()

    assert raised.value.kind is ProviderErrorKind.AUTH
    assert "InvalidAuthenticationToken" in str(raised.value)
    assert len(arm.requests) == 1


def test_forbidden_is_an_auth_error_and_not_retried(
    arm: AzureFake, azure: Callable[..., AzureProvider]
) -> None:
    arm.faults.add(Fault(status=403, times=None))

    with pytest.raises(ProviderError) as raised:
        azure().discover()

    assert raised.value.kind is ProviderErrorKind.AUTH
    assert "Reader role" in str(raised.value)
    assert len(arm.requests) == 1


def test_untrusted_server_certificate_is_unavailable(arm: AzureFake, tmp_path: Path) -> None:
    stranger = make_test_ca(tmp_path)
    provider = AzureProvider(
        "azure-prod", [SUB], base_url=arm.url, credential=StaticToken(arm.token),
        connection_verify=str(stranger.ca_file), retry_policy=RetryPolicy(attempts=1),
    )  # fmt: skip

    with pytest.raises(ProviderError) as raised:
        provider.discover()

    assert raised.value.kind is ProviderErrorKind.UNAVAILABLE
    assert arm.requests == []
