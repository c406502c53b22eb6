"""A moto server on 127.0.0.1 for AWS tests, and an environment in which boto3 can reach nothing
else.

Import the fixtures into a test module (``from tests.support.moto_server import aws_env_fixture,
moto_server_fixture, moto_url_fixture``); they register as ``aws_env``, ``moto_server`` and
``moto_url``. One server serves the whole session; ``moto_url`` resets its state before each test.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.servicediscovery.models import servicediscovery_backends

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # No instance metadata service, no container credentials, no profile from the home
    # directory: the only credentials boto3 can find are the fake ones above.
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
UNSET = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
)


@pytest.fixture(name="aws_env", scope="session")
def aws_env_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    empty: Path = tmp_path_factory.mktemp("aws-config")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_ENV.items():
            patch.setenv(name, value)
        for name in UNSET:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
        yield


@pytest.fixture(name="moto_server", scope="session")
def moto_server_fixture(aws_env: None) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(name="moto_url")
def moto_url_fixture(moto_server: str) -> str:
    reset_moto(moto_server)
    return moto_server


def reset_moto(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def tags(**meshfed: str) -> list[dict[str, str]]:
    """``tags(cluster="c1", role="gateway")`` → meshfed.io/* tags in the AWS list shape."""
    return [{"Key": f"meshfed.io/{key}", "Value": value} for key, value in meshfed.items()]


def subnet_in(ec2: Any, cidr: str = "10.0.0.0/16") -> tuple[str, str]:
    """A new VPC with one subnet in the region's first zone: (vpc id, subnet id)."""
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    subnet = ec2.create_subnet(
        VpcId=vpc, CidrBlock=cidr.replace("/16", "/20"), AvailabilityZone=zone
    )
    return vpc, subnet["Subnet"]["SubnetId"]


def run_tagged(
    ec2: Any, subnet: str, resource_tags: list[dict[str, str]], count: int = 1
) -> list[dict[str, Any]]:
    """``count`` running instances in one reservation, all carrying ``resource_tags``."""
    spec = [{"ResourceType": "instance", "Tags": resource_tags}] if resource_tags else []
    answer = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=count,
        MaxCount=count,
        SubnetId=subnet,
        TagSpecifications=spec,
    )
    instances: list[dict[str, Any]] = answer["Instances"]
    return instances


def cloud_map_service(
    sd: Any,
    name: str,
    resource_tags: list[dict[str, str]],
    namespace_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Cloud Map service, in a new HTTP namespace unless ``namespace_id`` names one. Keep to
    one namespace a region: moto ignores ListServices' namespace filter, so a second namespace
    would list every service twice."""
    if namespace_id is None:
        operation = sd.create_http_namespace(Name=f"{name}.ns")["OperationId"]
        answer = sd.get_operation(OperationId=operation)
        namespace_id = answer["Operation"]["Targets"]["NAMESPACE"]
    service: dict[str, Any] = sd.create_service(
        Name=name, NamespaceId=namespace_id, Tags=resource_tags, **extra
    )["Service"]
    return service


def register_many(service: dict[str, Any], region: str, count: int) -> None:
    """Register ``count`` instances (``task-N`` at 10.9.x.y:80) straight into moto's in-process
    backend (the server runs in this process). Over HTTP each RegisterInstance costs ~6 ms, so
    thousands of them would take longer than the discovery they exist to test; the provider
    under test still reads them over HTTP. At most 62,500 (distinct addresses)."""
    backend = servicediscovery_backends[DEFAULT_ACCOUNT_ID][region]
    for n in range(count):
        backend.register_instance(
            service_id=service["Id"],
            instance_id=f"task-{n}",
            creator_request_id=f"seed-{n}",
            attributes={
                "AWS_INSTANCE_IPV4": f"10.9.{n // 250}.{n % 250}",
                "AWS_INSTANCE_PORT": "80",
            },
        )
