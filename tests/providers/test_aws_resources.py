"""The pure AWS record → endpoint mapping, case by case."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.aws_resources import (
    cloud_map_instance_endpoints,
    cloud_map_labels,
    instance_endpoints,
    load_balancer_endpoints,
    tag_map,
)
from providers.base import Health, Role
from providers.labels import MalformedResource
from tests.support.moto_server import tags

LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/gw/1"
SERVICE = {"Name": "payments.prod", "Arn": "arn:aws:servicediscovery:us-east-1:1:service/srv-1"}


def ec2_instance(resource_tags: list[dict[str, str]], **fields: Any) -> dict[str, Any]:
    record = {
        "InstanceId": "i-1",
        "PrivateIpAddress": "10.0.0.5",
        "PrivateDnsName": "ip-10-0-0-5.ec2.internal",
        "Placement": {"AvailabilityZone": "us-east-1a"},
        "VpcId": "vpc-1",
        "Tags": resource_tags,
    }
    record.update(fields)
    return record


def cloud_map_instance(**attributes: str) -> dict[str, Any]:
    return {"Id": "task-1", "Attributes": attributes}


def test_tag_map_renames_meshfed_io_keys_and_drops_dashed_lookalikes() -> None:
    given = [
        *tags(cluster="c1", role="gateway"),
        {"Key": "meshfed-cluster", "Value": "spoofed"},
        {"Key": "team", "Value": "mesh"},
    ]

    assert tag_map(given) == {"meshfed-cluster": "c1", "meshfed-role": "gateway", "team": "mesh"}


def test_instance_without_a_private_ipv4_is_reached_by_its_private_dns_name() -> None:
    record = ec2_instance(tags(cluster="c1", role="gateway", port="15443"))
    del record["PrivateIpAddress"]

    [endpoint] = instance_endpoints(record, "us-east-1")

    assert endpoint.address == "ip-10-0-0-5.ec2.internal"
    assert endpoint.is_hostname


@pytest.mark.parametrize(
    ("resource_tags", "fields", "problem"),
    [
        (tags(cluster=" ", role="gateway", port="1"), {}, "meshfed.io/cluster is empty"),
        (tags(cluster="c1", port="1"), {}, "meshfed.io/role is missing"),
        (tags(cluster="c1", role="gateway"), {}, "meshfed.io/port is missing"),
        (tags(cluster="c1", role="gateway", port="0"), {}, "meshfed.io/port='0' is not a number"),
        (tags(cluster="c1", role="gateway", port="1", weight="x"), {}, "meshfed.io/weight='x'"),
        (
            tags(cluster="c1", role="gateway", port="1"),
            {"PrivateIpAddress": "", "PrivateDnsName": ""},
            "no IP address",
        ),
    ],
    ids=["blank-cluster", "no-role", "no-port", "port-zero", "bad-weight", "no-address"],
)
def test_malformed_instance_problems_name_the_aws_tag(
    resource_tags: list[dict[str, str]], fields: dict[str, str], problem: str
) -> None:
    record = ec2_instance(resource_tags, **fields)

    with pytest.raises(MalformedResource) as raised:
        instance_endpoints(record, "us-east-1")

    assert problem in str(raised.value)
    assert "meshfed-" not in str(raised.value)


def test_load_balancer_port_tag_wins_over_its_listener_port() -> None:
    balancer = {"LoadBalancerArn": LB_ARN, "DNSName": "gw.elb.amazonaws.com", "VpcId": "vpc-1"}
    given = tags(cluster="c1", role="gateway", port="15443")

    [endpoint] = load_balancer_endpoints(balancer, given, 443, "us-east-1")

    assert (endpoint.address, endpoint.port, endpoint.zone) == ("gw.elb.amazonaws.com", 15443, "")


def test_load_balancer_with_neither_port_tag_nor_listener_is_malformed() -> None:
    balancer = {"LoadBalancerArn": LB_ARN, "DNSName": "gw.elb.amazonaws.com"}

    with pytest.raises(MalformedResource, match=r"meshfed\.io/port is missing"):
        load_balancer_endpoints(balancer, tags(cluster="c1", role="gateway"), None, "us-east-1")


def test_cloud_map_service_tagged_gateway_carries_no_service_name() -> None:
    mesh = cloud_map_labels(SERVICE, tags(cluster="c1", role="gateway"))

    assert (mesh.role, mesh.service) == (Role.GATEWAY, None)


def test_cloud_map_service_is_named_after_itself_not_a_service_tag() -> None:
    mesh = cloud_map_labels(SERVICE, tags(cluster="c1", service="other.prod"))

    assert (mesh.role, mesh.service) == (Role.SERVICE, "payments.prod")


def test_cloud_map_instance_port_wins_over_the_service_port_tag() -> None:
    mesh = cloud_map_labels(SERVICE, tags(cluster="c1", port="8080"))
    registered = cloud_map_instance(AWS_INSTANCE_IPV4="10.0.0.9", AWS_INSTANCE_PORT="9443")
    unported = cloud_map_instance(AWS_INSTANCE_IPV4="10.0.0.9")

    [endpoint] = cloud_map_instance_endpoints(mesh, SERVICE, registered, "HEALTHY", "us-east-1")
    [fallback] = cloud_map_instance_endpoints(mesh, SERVICE, unported, "HEALTHY", "us-east-1")

    assert (endpoint.port, fallback.port) == (9443, 8080)
    assert endpoint.source == f"{SERVICE['Arn']}/task-1"


@pytest.mark.parametrize(
    ("reported", "health"),
    [
        ("HEALTHY", Health.HEALTHY),
        ("UNHEALTHY", Health.UNHEALTHY),
        ("UNKNOWN", Health.UNKNOWN),
        (None, Health.UNKNOWN),
    ],
)
def test_cloud_map_health_is_carried_over(reported: str | None, health: Health) -> None:
    mesh = cloud_map_labels(SERVICE, tags(cluster="c1"))
    instance = cloud_map_instance(AWS_INSTANCE_IPV4="10.0.0.9", AWS_INSTANCE_PORT="9443")

    [endpoint] = cloud_map_instance_endpoints(mesh, SERVICE, instance, reported, "us-east-1")

    assert endpoint.health is health


@pytest.mark.parametrize("port", ["0", "65536", "http", ""])
def test_cloud_map_instance_with_an_unusable_port_is_malformed(port: str) -> None:
    mesh = cloud_map_labels(SERVICE, tags(cluster="c1"))
    instance = cloud_map_instance(AWS_INSTANCE_IPV4="10.0.0.9", AWS_INSTANCE_PORT=port)

    with pytest.raises(MalformedResource, match="AWS_INSTANCE_PORT="):
        cloud_map_instance_endpoints(mesh, SERVICE, instance, None, "us-east-1")


MESH_KEYS = [f"meshfed.io/{k}" for k in ("cluster", "role", "service", "port", "weight", "x")]
tag_keys = st.sampled_from([*MESH_KEYS, "meshfed-cluster", "meshfed-port", "team", "Name"])
tag_values = st.sampled_from(["", " ", "c1", "gateway", "service", "a.b", "0", "443", "70000"])


@given(st.dictionaries(tag_keys, tag_values, max_size=8))
def test_any_tag_set_maps_to_an_endpoint_or_a_problem_in_the_aws_spelling(
    resource_tags: dict[str, str],
) -> None:
    aws_tags = [{"Key": k, "Value": v} for k, v in resource_tags.items()]
    try:
        [endpoint] = instance_endpoints(ec2_instance(aws_tags), "us-east-1")
    except MalformedResource as exc:
        assert not re.search(r"meshfed-(cluster|role|service|port|weight)", str(exc))
        return
    assert resource_tags["meshfed.io/cluster"].strip() == endpoint.cluster
    assert all(not key.startswith("meshfed") for key, _ in endpoint.labels)
