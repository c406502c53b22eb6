"""AwsProvider against moto over real HTTP: what becomes an endpoint, and what does not."""

from __future__ import annotations

from typing import Any

import boto3

from providers.aws import AwsProvider
from providers.base import Endpoint, Health, Provider, Role
from tests.support.aws_fault_proxy import (  # noqa: F401
    AwsFaultProxy,
    fault_proxy_fixture,
    fault_proxy_server_fixture,
)
from tests.support.moto_server import (  # noqa: F401
    aws_env_fixture,
    cloud_map_service,
    moto_server_fixture,
    moto_url_fixture,
    register_many,
    run_tagged,
    subnet_in,
    tags,
)


def client(service: str, region: str, url: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=url)


def by_source(endpoints: tuple[Endpoint, ...]) -> dict[str, Endpoint]:
    return {e.source: e for e in endpoints}


def test_tagged_running_instances_in_two_regions_become_exact_endpoints(moto_url: str) -> None:
    east, west = client("ec2", "us-east-1", moto_url), client("ec2", "eu-west-1", moto_url)
    vpc_east, subnet_east = subnet_in(east)
    vpc_west, subnet_west = subnet_in(west, "10.1.0.0/16")
    gateway_tags = [
        *tags(cluster="aws-use1", role="gateway", port="15443"),
        {"Key": "team", "Value": "mesh"},
    ]
    [gateway] = run_tagged(east, subnet_east, gateway_tags)
    [service] = run_tagged(
        west,
        subnet_west,
        tags(cluster="aws-euw1", role="service", service="payments.prod", port="9443", weight="5"),
    )

    provider: Provider = AwsProvider("aws", ["us-east-1", "eu-west-1"], endpoint_url=moto_url)
    snapshot = provider.discover()

    assert snapshot.complete and snapshot.warnings == ()
    assert by_source(snapshot.endpoints) == {
        gateway["InstanceId"]: Endpoint(
            cluster="aws-use1",
            role=Role.GATEWAY,
            service=None,
            address=gateway["PrivateIpAddress"],
            port=15443,
            cloud="aws",
            region="us-east-1",
            zone=gateway["Placement"]["AvailabilityZone"],
            network=vpc_east,
            labels=(("team", "mesh"),),
            source=gateway["InstanceId"],
        ),
        service["InstanceId"]: Endpoint(
            cluster="aws-euw1",
            role=Role.SERVICE,
            service="payments.prod",
            address=service["PrivateIpAddress"],
            port=9443,
            cloud="aws",
            region="eu-west-1",
            zone=service["Placement"]["AvailabilityZone"],
            network=vpc_west,
            weight=5,
            source=service["InstanceId"],
        ),
    }


def test_stopped_and_untagged_instances_are_not_endpoints(moto_url: str) -> None:
    ec2 = client("ec2", "us-east-1", moto_url)
    _, subnet = subnet_in(ec2)
    mesh = tags(cluster="c1", role="gateway", port="15443")
    [kept] = run_tagged(ec2, subnet, mesh)
    [stopped] = run_tagged(ec2, subnet, mesh)
    run_tagged(ec2, subnet, [{"Key": "Name", "Value": "not-in-the-mesh"}])
    ec2.stop_instances(InstanceIds=[stopped["InstanceId"]])

    snapshot = AwsProvider("aws", ["us-east-1"], endpoint_url=moto_url).discover()

    assert [e.source for e in snapshot.endpoints] == [kept["InstanceId"]]


def test_tagged_network_load_balancer_is_a_hostname_endpoint_on_its_listener_port(
    moto_url: str,
) -> None:
    ec2, elb = client("ec2", "us-east-1", moto_url), client("elbv2", "us-east-1", moto_url)
    vpc, subnet = subnet_in(ec2)
    with_listener = elb.create_load_balancer(
        Name="east-west", Subnets=[subnet], Type="network", Tags=tags(cluster="c1", role="gateway")
    )["LoadBalancers"][0]
    group = elb.create_target_group(Name="gw", Protocol="TCP", Port=15443, VpcId=vpc)
    elb.create_listener(
        LoadBalancerArn=with_listener["LoadBalancerArn"],
        Protocol="TCP",
        Port=15443,
        DefaultActions=[
            {"Type": "forward", "TargetGroupArn": group["TargetGroups"][0]["TargetGroupArn"]}
        ],
    )
    with_port_tag = elb.create_load_balancer(
        Name="api",
        Subnets=[subnet],
        Type="application",
        Tags=tags(cluster="c1", role="service", service="api.prod", port="8443"),
    )["LoadBalancers"][0]
    elb.create_load_balancer(Name="other", Subnets=[subnet], Type="network")

    snapshot = AwsProvider("aws", ["us-east-1"], endpoint_url=moto_url).discover()

    found = by_source(snapshot.endpoints)
    assert set(found) == {with_listener["LoadBalancerArn"], with_port_tag["LoadBalancerArn"]}
    gateway = found[with_listener["LoadBalancerArn"]]
    assert (gateway.address, gateway.port, gateway.role, gateway.zone, gateway.network) == (
        with_listener["DNSName"],
        15443,
        Role.GATEWAY,
        "",
        vpc,
    )
    assert gateway.is_hostname
    api = found[with_port_tag["LoadBalancerArn"]]
    assert (api.address, api.port, api.service) == (with_port_tag["DNSName"], 8443, "api.prod")


def test_cloud_map_service_instances_become_endpoints_with_their_health(moto_url: str) -> None:
    sd = client("servicediscovery", "us-east-1", moto_url)
    service = cloud_map_service(
        sd,
        "payments.prod",
        [*tags(cluster="aws-use1"), {"Key": "tier", "Value": "gold"}],
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )
    sd.create_service(Name="untagged", NamespaceId=service["NamespaceId"])
    for instance_id, address in (("i-a", "10.0.0.1"), ("i-b", "10.0.0.2")):
        sd.register_instance(
            ServiceId=service["Id"],
            InstanceId=instance_id,
            Attributes={"AWS_INSTANCE_IPV4": address, "AWS_INSTANCE_PORT": "9443"},
        )
    sd.register_instance(
        ServiceId=service["Id"],
        InstanceId="i-c",
        Attributes={"AWS_INSTANCE_CNAME": "pay.internal", "AWS_INSTANCE_PORT": "9444"},
    )
    sd.update_instance_custom_health_status(
        ServiceId=service["Id"], InstanceId="i-b", Status="UNHEALTHY"
    )

    snapshot = AwsProvider("aws", ["us-east-1"], endpoint_url=moto_url).discover()

    found = {e.source.rsplit("/", 1)[-1]: e for e in snapshot.endpoints}
    assert {k: (e.address, e.port, e.health) for k, e in found.items()} == {
        "i-a": ("10.0.0.1", 9443, Health.HEALTHY),
        "i-b": ("10.0.0.2", 9443, Health.UNHEALTHY),
        "i-c": ("pay.internal", 9444, Health.HEALTHY),
    }
    assert {(e.cluster, e.role, e.service, e.labels) for e in found.values()} == {
        ("aws-use1", Role.SERVICE, "payments.prod", (("tier", "gold"),))
    }


def test_malformed_resources_are_skipped_with_warnings_and_the_rest_kept(moto_url: str) -> None:
    ec2 = client("ec2", "us-east-1", moto_url)
    _, subnet = subnet_in(ec2)
    [good] = run_tagged(ec2, subnet, tags(cluster="c1", role="gateway", port="15443"))
    broken = {
        "meshfed.io/cluster is empty": tags(cluster="", role="gateway", port="15443"),
        "meshfed.io/role=service needs meshfed.io/service": tags(
            cluster="c1", role="service", port="9443"
        ),
        "meshfed.io/port='70000' is not a number from 1 to 65535": tags(
            cluster="c1", role="gateway", port="70000"
        ),
        "meshfed.io/role='sidecar' is not a role": tags(cluster="c1", role="sidecar", port="1"),
    }
    resources = {run_tagged(ec2, subnet, t)[0]["InstanceId"]: why for why, t in broken.items()}
    sd = client("servicediscovery", "us-east-1", moto_url)
    service = cloud_map_service(sd, "api.prod", tags(cluster="c1"))
    sd.register_instance(
        ServiceId=service["Id"],
        InstanceId="kept",
        Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"},
    )
    sd.register_instance(
        ServiceId=service["Id"],
        InstanceId="no-port",
        Attributes={"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "eighty"},
    )
    resources[f"{service['Arn']} instance no-port"] = "AWS_INSTANCE_PORT='eighty' is not a port"
    bad_role = cloud_map_service(
        sd, "db.prod", tags(cluster="c1", role="database"), service["NamespaceId"]
    )
    resources[bad_role["Arn"]] = "meshfed.io/role='database' is not a role"

    snapshot = AwsProvider("aws", ["us-east-1"], endpoint_url=moto_url).discover()

    assert {e.source for e in snapshot.endpoints} == {good["InstanceId"], f"{service['Arn']}/kept"}
    assert snapshot.complete
    assert len(snapshot.warnings) == len(resources)
    for resource, problem in resources.items():
        [warning] = [w for w in snapshot.warnings if f"{resource} skipped" in w]
        assert problem in warning


def test_three_thousand_endpoints_over_hundreds_of_small_pages_are_all_found(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    # moto serialises EC2 instances slowly (~10 ms each, on top of creating them), so most of
    # the 3,000 are Cloud Map instances: 580 pages of five. EC2 takes 4 pages of five
    # reservations (moto pages EC2 by reservation) of five instances.
    ec2 = client("ec2", "us-east-1", moto_url)
    _, subnet = subnet_in(ec2)
    for _ in range(20):
        run_tagged(ec2, subnet, tags(cluster="c1", role="gateway", port="15443"), count=5)
    sd = client("servicediscovery", "us-east-1", moto_url)
    register_many(cloud_map_service(sd, "payments.prod", tags(cluster="c1")), "us-east-1", 2900)

    provider = AwsProvider("aws", ["us-east-1"], endpoint_url=fault_proxy.url, page_size=5)
    snapshot = provider.discover()

    assert len({e.address for e in snapshot.endpoints}) == 3000
    assert len([e for e in snapshot.endpoints if e.source.startswith("i-")]) == 100
    assert len(fault_proxy.seen("DescribeInstances")) == 4
    assert len(fault_proxy.seen("ListInstances")) == 580


def test_load_balancer_tags_are_read_twenty_arns_a_call(
    fault_proxy: AwsFaultProxy, moto_url: str
) -> None:
    ec2, elb = client("ec2", "us-east-1", moto_url), client("elbv2", "us-east-1", moto_url)
    _, subnet = subnet_in(ec2)
    for n in range(25):
        elb.create_load_balancer(
            Name=f"gw-{n}",
            Subnets=[subnet],
            Type="network",
            Tags=tags(cluster="c1", role="gateway", port=str(15000 + n)),
        )

    snapshot = AwsProvider("aws", ["us-east-1"], endpoint_url=fault_proxy.url).discover()

    assert sorted(e.port for e in snapshot.endpoints) == list(range(15000, 15025))
    assert len(fault_proxy.seen("DescribeLoadBalancers")) == 1
    assert len(fault_proxy.seen("DescribeTags")) == 2
