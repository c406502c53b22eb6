"""Pure mapping from AWS API records (the dicts boto3 returns) to endpoints.

AWS tags use the ``meshfed.io/`` spelling; the rules about what the keys mean are shared with GCP
and Azure in ``providers.labels``, which reads the dashed spelling. Tags are renamed on the way
in and problem messages renamed on the way out, so an operator reads about the tag they set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from providers.base import Endpoint, Health, Role
from providers.labels import (
    PREFIX,
    ROLE,
    SERVICE,
    MalformedResource,
    MeshLabels,
    Placement,
    endpoint_for,
    parse_mesh_labels,
)

AWS_PREFIX = "meshfed.io/"
AWS_CLUSTER = "meshfed.io/cluster"
AWS_PORT = "meshfed.io/port"
CLOUD = "aws"
_DASHED_KEY = re.compile(rf"\b{PREFIX}(cluster|role|service|port|weight)\b")
_HEALTH = {"HEALTHY": Health.HEALTHY, "UNHEALTHY": Health.UNHEALTHY}
# Attributes that Cloud Map reserves for an instance's address and port, and the one ECS sets
# for the instance's availability zone.
IPV4 = "AWS_INSTANCE_IPV4"
CNAME = "AWS_INSTANCE_CNAME"
PORT_ATTRIBUTE = "AWS_INSTANCE_PORT"
ZONE_ATTRIBUTE = "AVAILABILITY_ZONE"

Tags = Sequence[Mapping[str, str]]  # [{"Key": …, "Value": …}], as EC2, ELBv2 and Cloud Map answer


def tag_map(tags: Tags) -> dict[str, str]:
    """AWS tags in the shared dashed spelling. A tag already spelled ``meshfed-…`` is not part of
    the AWS contract; it is dropped so it can never be mistaken for one of ours."""
    dashed: dict[str, str] = {}
    for tag in tags:
        key = tag["Key"]
        if key.startswith(PREFIX):
            continue
        if key.startswith(AWS_PREFIX):
            key = PREFIX + key.removeprefix(AWS_PREFIX)
        dashed[key] = tag.get("Value", "")
    return dashed


def is_mesh_tagged(tags: Tags) -> bool:
    return any(tag["Key"] == AWS_CLUSTER for tag in tags)


@contextmanager
def _aws_spelling() -> Iterator[None]:
    try:
        yield
    except MalformedResource as exc:
        message = _DASHED_KEY.sub(lambda m: AWS_PREFIX + m.group(1), str(exc))
        raise MalformedResource(message) from None


def instance_endpoints(instance: Mapping[str, Any], region: str) -> list[Endpoint]:
    """A running tagged EC2 instance, on its private IPv4 (or its private DNS name when it has
    none, e.g. an IPv6-only subnet)."""
    with _aws_spelling():
        mesh = parse_mesh_labels(tag_map(instance.get("Tags", [])), dots_as_dashes=False)
        placement = Placement(
            CLOUD,
            region,
            instance.get("Placement", {}).get("AvailabilityZone", ""),
            instance.get("VpcId", ""),
        )
        address = instance.get("PrivateIpAddress") or instance.get("PrivateDnsName", "")
        return [
            endpoint_for(mesh, address=address, placement=placement, source=instance["InstanceId"])
        ]


def load_balancer_endpoints(
    balancer: Mapping[str, Any], tags: Tags, listener_port: int | None, region: str
) -> list[Endpoint]:
    """A tagged NLB/ALB, on its DNS name: AWS never promises a load balancer stable IPs, so the
    name is the endpoint. It is regional, hence no zone. ``meshfed.io/port`` wins over the
    first listener's port."""
    with _aws_spelling():
        mesh = parse_mesh_labels(tag_map(tags), dots_as_dashes=False)
        placement = Placement(CLOUD, region, "", balancer.get("VpcId", ""))
        return [
            endpoint_for(
                mesh,
                address=balancer.get("DNSName", ""),
                placement=placement,
                source=balancer["LoadBalancerArn"],
                cloud_port=listener_port,
            )
        ]


def cloud_map_labels(service: Mapping[str, Any], tags: Tags) -> MeshLabels:
    """A tagged Cloud Map service is the meshfed service of the same name, role service unless
    its tags say otherwise."""
    with _aws_spelling():
        labels = tag_map(tags)
        labels.setdefault(ROLE, Role.SERVICE.value)
        labels[SERVICE] = service["Name"]
        return parse_mesh_labels(labels, dots_as_dashes=False)


def cloud_map_instance_endpoints(
    mesh: MeshLabels,
    service: Mapping[str, Any],
    instance: Mapping[str, Any],
    health: str | None,
    region: str,
) -> list[Endpoint]:
    """One registered instance of a tagged service, with the health Cloud Map reports for it
    (HEALTHY | UNHEALTHY | UNKNOWN, or None when it reported none)."""
    attributes = instance.get("Attributes", {})
    port = _instance_port(attributes)
    with _aws_spelling():
        endpoint = endpoint_for(
            # The instance's registered port is more specific than a service-wide tag.
            replace(mesh, port=None) if port is not None else mesh,
            address=attributes.get(IPV4) or attributes.get(CNAME, ""),
            placement=Placement(CLOUD, region, attributes.get(ZONE_ATTRIBUTE, "")),
            source=f"{service['Arn']}/{instance['Id']}",
            cloud_port=port,
        )
    return [replace(endpoint, health=_HEALTH.get(health or "", Health.UNKNOWN))]


def _instance_port(attributes: Mapping[str, str]) -> int | None:
    raw = attributes.get(PORT_ATTRIBUTE)
    if raw is None:
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 65535:
        raise MalformedResource(
            f"{PORT_ATTRIBUTE}={raw!r} is not a port from 1 to 65535:"
            " register the instance again with the mesh port"
        )
    return int(raw)
