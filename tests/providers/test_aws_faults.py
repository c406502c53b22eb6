"""AwsProvider when AWS misbehaves: faults injected by a proxy in front of moto, over real HTTP."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from providers.aws import AwsProvider
from providers.base import ProviderError, ProviderErrorKind
from providers.calls import RetryPolicy
from tests.support.aws_fault_proxy import (  # noqa: F401
    AwsFaultProxy,
    Fault,
    Rule,
    ec2_error,
    fault_proxy_fixture,
    fault_proxy_server_fixture,
    json_error,
    query_error,
    rewritten,
    slow,
)
from tests.support.moto_server import (  # noqa: F401
    aws_env_fixture,
    moto_server_fixture,
    moto_url_fixture,
    run_tagged,
    subnet_in,
    tags,
)

FAST_RETRY = RetryPolicy(attempts=4, backoff_base=0.01, backoff_max=0.05)
GATEWAY = tags(cluster="c1", role="gateway", port="15443")


def seed_instances(moto_url: str, region: str = "us-east-1", reservations: int = 1) -> list[str]:
    """``reservations`` running gateway instances, one a reservation (moto pages EC2 by
    reservation); their ids."""
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=moto_url)
    _, subnet = subnet_in(ec2)
    return [run_tagged(ec2, subnet, GATEWAY)[0]["InstanceId"] for _ in range(reservations)]


def provider(proxy: AwsFaultProxy, **options: Any) -> AwsProvider:
    options.setdefault("retry_policy", FAST_RETRY)
    regions = options.pop("regions", ["us-east-1"])
    return AwsProvider("aws", regions, endpoint_url=proxy.url, **options)


def statuses(proxy: AwsFaultProxy, operation: str) -> list[int]:
    return [seen.status for seen in proxy.seen(operation)]


@pytest.mark.parametrize(
    ("operation", "fault"),
    [
        ("DescribeInstances", ec2_error("RequestLimitExceeded", 503)),
        ("DescribeLoadBalancers", query_error("Throttling", 400)),
        ("ListNamespaces", json_error("ThrottlingException", 400)),
        ("DescribeInstances", ec2_error("InternalError", 500)),
        ("ListNamespaces", json_error("ServiceUnavailableException", 503)),
    ],
    ids=["ec2-throttled", "elbv2-throttled", "cloudmap-throttled", "ec2-500", "cloudmap-503"],
)
def test_throttled_or_failing_call_is_retried_and_the_pass_succeeds(
    fault_proxy: AwsFaultProxy, moto_url: str, operation: str, fault: Fault
) -> None:
    [instance] = seed_instances(moto_url)
    fault_proxy.inject(Rule(fault, operation, times=2))

    snapshot = provider(fault_proxy).discover()

    assert [e.source for e in snapshot.endpoints] == [instance]
    assert statuses(fault_proxy, operation) == [fault.status, fault.status, 200]


def test_server_error_on_page_three_of_five_fails_the_pass_instead_of_a_partial_snapshot(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    seed_instances(moto_url, reservations=25)
    fault_proxy.inject(
        Rule(ec2_error("InternalError", 500), "DescribeInstances", skip=2, times=None)
    )

    with pytest.raises(ProviderError) as raised:
        provider(fault_proxy, page_size=5).discover()

    assert raised.value.kind is ProviderErrorKind.UNAVAILABLE
    assert "list EC2 instances in us-east-1 (page 3)" in str(raised.value)
    # Two good pages, then page 3 tried exactly RetryPolicy.attempts times: botocore adds none.
    assert statuses(fault_proxy, "DescribeInstances") == [200, 200, 500, 500, 500, 500]


def test_failure_in_one_region_fails_the_pass_rather_than_dropping_the_region(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    seed_instances(moto_url, "us-east-1")
    seed_instances(moto_url, "eu-west-1")
    fault_proxy.inject(
        Rule(query_error("InternalFailure", 500), "DescribeLoadBalancers", "eu-west-1", times=None)
    )

    with pytest.raises(ProviderError) as raised:
        provider(fault_proxy, regions=["us-east-1", "eu-west-1"]).discover()

    assert "list load balancers in eu-west-1" in str(raised.value)


@pytest.mark.parametrize(
    ("retry_after", "cap", "low", "high"),
    [("1", 5.0, 1.0, 1.8), ("30", 0.5, 0.5, 1.3)],
    ids=["honoured", "capped"],
)
def test_retry_after_is_waited_for_up_to_the_policy_cap(
    fault_proxy: AwsFaultProxy,
    moto_url: str,
    retry_after: str,
    cap: float,
    low: float,
    high: float,
) -> None:
    seed_instances(moto_url)
    throttled = query_error("Throttling").with_retry_after(retry_after)
    fault_proxy.inject(Rule(throttled, "DescribeLoadBalancers"))
    # Without Retry-After the backoff would be at most 1 ms.
    policy = RetryPolicy(attempts=2, backoff_base=0.001, backoff_max=0.001, retry_after_cap=cap)

    started = time.monotonic()
    snapshot = provider(fault_proxy, retry_policy=policy).discover()
    elapsed = time.monotonic() - started

    assert len(snapshot.endpoints) == 1
    first, second = fault_proxy.seen("DescribeLoadBalancers")
    assert (first.status, second.status) == (400, 200)
    assert low <= second.at - first.at < high
    assert elapsed < high + 2.0


def test_slow_answer_is_a_timeout_after_call_timeout(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    seed_instances(moto_url)
    fault_proxy.inject(Rule(slow(5.0), "DescribeInstances", times=None))
    policy = RetryPolicy(attempts=2, backoff_base=0.01, backoff_max=0.01)

    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        provider(fault_proxy, call_timeout=0.5, retry_policy=policy).discover()
    elapsed = time.monotonic() - started

    assert raised.value.kind is ProviderErrorKind.TIMEOUT
    assert "call_timeout" in str(raised.value)
    # Two attempts of 0.5 s each; the bound leaves room for a loaded machine and still sits
    # below the 5 s a single answer would take without the timeout.
    assert 1.0 <= elapsed < 4.5


@pytest.mark.parametrize(
    ("operation", "fault"),
    [
        ("DescribeInstances", ec2_error("UnauthorizedOperation", 403)),
        ("DescribeLoadBalancers", query_error("AccessDenied", 403)),
        ("ListNamespaces", json_error("AccessDeniedException", 400)),
        ("DescribeInstances", ec2_error("AuthFailure", 401)),
    ],
    ids=["ec2", "elbv2", "cloudmap", "ec2-auth-failure"],
)
def test_auth_error_fails_at_once_without_retries(
    fault_proxy: AwsFaultProxy, moto_url: str, operation: str, fault: Fault
) -> None:
    seed_instances(moto_url)
    fault_proxy.inject(Rule(fault, operation, times=None))

    with pytest.raises(ProviderError) as raised:
        provider(fault_proxy).discover()

    assert raised.value.kind is ProviderErrorKind.AUTH
    assert "give the discovery identity" in str(raised.value)
    assert statuses(fault_proxy, operation) == [fault.status]


ROLE = "arn:aws:iam::123456789012:role/meshfed-discovery"


def test_role_arn_is_assumed_through_sts_once_and_its_credentials_sign_discovery(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    [instance] = seed_instances(moto_url)
    aws = provider(fault_proxy, role_arn=ROLE)

    first, second = aws.discover(), aws.discover()

    assert [e.source for e in first.endpoints] == [instance] == [e.source for e in second.endpoints]
    [assume] = fault_proxy.seen("AssumeRole")
    assert assume.access_key == "testing"
    signers = {seen.access_key for seen in fault_proxy.seen() if seen.operation != "AssumeRole"}
    assert len(signers) == 1
    assert signers != {"testing"}


def test_assumed_role_credentials_are_refreshed_before_they_expire(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    seed_instances(moto_url)
    # The first credentials STS hands out expire in five minutes: inside botocore's mandatory
    # refresh window, so they must be replaced before use; the next ones last moto's hour.
    soon = datetime.now(UTC) + timedelta(minutes=5)
    expiry = f"<Expiration>{soon:%Y-%m-%dT%H:%M:%SZ}</Expiration>".encode()
    expiring = re.compile(rb"<Expiration>[^<]+</Expiration>")
    fault_proxy.inject(Rule(rewritten(lambda body: expiring.sub(expiry, body)), "AssumeRole"))
    aws = provider(fault_proxy, role_arn=ROLE)

    aws.discover()
    aws.discover()

    assert len(fault_proxy.seen("AssumeRole")) == 2


def test_role_that_cannot_be_assumed_is_an_auth_error_naming_assume_role(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    seed_instances(moto_url)
    fault_proxy.inject(Rule(query_error("AccessDenied", 403), "AssumeRole", times=None))

    with pytest.raises(ProviderError) as raised:
        provider(fault_proxy, role_arn=ROLE).discover()

    assert raised.value.kind is ProviderErrorKind.AUTH
    assert "AssumeRole" in str(raised.value)
    assert len(fault_proxy.seen("AssumeRole")) == 1
    assert fault_proxy.seen("DescribeInstances") == []


def test_missing_credentials_are_an_auth_error_that_says_where_to_set_them(
    fault_proxy: AwsFaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(ProviderError) as raised:
        provider(fault_proxy).discover()

    assert raised.value.kind is ProviderErrorKind.AUTH
    assert "AWS_ACCESS_KEY_ID" in str(raised.value)
    assert fault_proxy.seen() == []
