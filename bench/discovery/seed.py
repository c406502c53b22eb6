"""What the discovery benchmark lists: mesh resources seeded into moto, the Compute fake and the
ARM fake, and the ~1% churn applied between the full and the incremental pass.

moto builds EC2 instances slowly (~10 ms each), so most AWS endpoints are Cloud Map instances
registered straight into moto's in-process backend; the providers still read all of them over
HTTP. Each cloud also holds resources that are not mesh endpoints, which discovery must skip.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import boto3
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.servicediscovery.models import servicediscovery_backends

from tests.support.azure_fake import AzureFake
from tests.support.gcp_fake import GcpFake
from tests.support.moto_server import cloud_map_service, run_tagged, subnet_in, tags

REGION = "us-east-1"
PROJECT = "acme-prod"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GCP_ZONE = "europe-west1-b"
AZURE_LOCATION = "westeurope"
EC2_BATCH = 20  # instances a RunInstances call


@dataclass(frozen=True, slots=True)
class Layout:
    """How many of each resource; ``endpoints`` is what discovery must find."""

    cloud_map_services: int = 4
    # DiscoverInstances answers at most 1000 instances, so no service holds more.
    cloud_map_instances: int = 975
    ec2_instances: int = 100
    gcp_instances: int = 2000
    gcp_unlabelled: int = 500
    gcp_negs: int = 10
    gcp_neg_members: int = 100
    azure_nics: int = 2000
    azure_untagged_nics: int = 500
    azure_load_balancers: int = 500
    azure_public_ips: int = 500
    churn_added: int = 12  # a cloud
    churn_removed: int = 12
    churn_changed: int = 10

    def scaled(self, factor: float) -> Layout:
        counts = {f.name: max(1, round(getattr(self, f.name) * factor)) for f in fields(self)}
        return replace(self, **counts)

    @property
    def by_cloud(self) -> dict[str, int]:
        return {
            "aws": self.cloud_map_services * self.cloud_map_instances + self.ec2_instances,
            "gcp": self.gcp_instances + self.gcp_negs * self.gcp_neg_members,
            "azure": self.azure_nics + self.azure_load_balancers + self.azure_public_ips,
        }

    @property
    def endpoints(self) -> int:
        return sum(self.by_cloud.values())


def seed_aws(moto_url: str, layout: Layout) -> list[str]:
    """The Cloud Map service ids, in order."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    _, subnet = subnet_in(ec2)
    gateway = tags(cluster="aws-use1", role="gateway", port="15443")
    for start in range(0, layout.ec2_instances, EC2_BATCH):
        run_tagged(ec2, subnet, gateway, count=min(EC2_BATCH, layout.ec2_instances - start))
    run_tagged(ec2, subnet, [{"Key": "team", "Value": "web"}], count=EC2_BATCH)
    sd = boto3.client("servicediscovery", region_name=REGION, endpoint_url=moto_url)
    services: list[str] = []
    namespace: str | None = None
    # moto ignores ListServices' namespace filter: one namespace keeps every service listed once.
    for k in range(layout.cloud_map_services):
        service = cloud_map_service(sd, f"svc-{k}.prod", tags(cluster=f"aws-c{k}"), namespace)
        namespace = service["NamespaceId"]
        services.append(service["Id"])
        for n in range(layout.cloud_map_instances):
            _register(service["Id"], n)
    return services


def seed_gcp(fake: GcpFake, layout: Layout) -> None:
    for n in range(layout.gcp_instances):
        fake.add_instance(PROJECT, f"vm-{n}", GCP_ZONE, labels=_gcp_labels(), ip=_ip(20, n))
    for n in range(layout.gcp_unlabelled):
        fake.add_instance(PROJECT, f"batch-{n}", GCP_ZONE, labels={"team": "data"}, ip=_ip(21, n))
    for g in range(layout.gcp_negs):
        members: list[tuple[str, int | None]] = [
            (_ip(30 + g, n), 8443) for n in range(layout.gcp_neg_members)
        ]
        annotations = _gcp_labels() | {"meshfed-service": f"neg-{g}--prod"}
        fake.add_neg(PROJECT, f"neg-{g}", GCP_ZONE, annotations=annotations, members=members)


def seed_azure(fake: AzureFake, layout: Layout) -> None:
    for n in range(layout.azure_nics):
        fake.add_nic(SUBSCRIPTION, f"nic-{n}", AZURE_LOCATION, tags=_azure_tags(), ips=[_ip(40, n)])
    for n in range(layout.azure_untagged_nics):
        fake.add_nic(
            SUBSCRIPTION, f"dev-{n}", AZURE_LOCATION, tags={"env": "dev"}, ips=[_ip(41, n)]
        )
    for n in range(layout.azure_load_balancers):
        pip = fake.add_public_ip(
            SUBSCRIPTION, f"lb-ip-{n}", AZURE_LOCATION, tags=None, ip=_ip(50, n)
        )
        fake.add_load_balancer(
            SUBSCRIPTION, f"lb-{n}", AZURE_LOCATION, tags=_azure_tags(role="gateway"),
            frontends=[{"public_ip_id": pip["id"]}], rule_ports={0: 15443},
        )  # fmt: skip
    for n in range(layout.azure_public_ips):
        fake.add_public_ip(
            SUBSCRIPTION, f"gw-ip-{n}", AZURE_LOCATION,
            tags=_azure_tags(role="gateway") | {"meshfed-port": "15443"}, ip=_ip(51, n),
        )  # fmt: skip


def churn_aws(services: list[str], layout: Layout) -> None:
    """New instances, deregistered ones and instances turned unhealthy, in the first service."""
    service, backend = services[0], _cloud_map_backend()
    for n in range(layout.churn_added):
        _register(service, layout.cloud_map_instances + n)
    for n in range(layout.churn_removed):
        backend.deregister_instance(service, f"task-{n}")
    for n in range(layout.churn_removed, layout.churn_removed + layout.churn_changed):
        backend.update_instance_custom_health_status(service, f"task-{n}", "UNHEALTHY")


def churn_gcp(fake: GcpFake, layout: Layout) -> None:
    instances = fake.resources[(PROJECT, "instances")]
    del instances[: layout.churn_removed]
    for _, body in instances[: layout.churn_changed]:
        body["labels"]["meshfed-weight"] = "5"
    for n in range(layout.churn_added):
        fake.add_instance(PROJECT, f"new-vm-{n}", GCP_ZONE, labels=_gcp_labels(), ip=_ip(22, n))


def churn_azure(fake: AzureFake, layout: Layout) -> None:
    nics = fake.resources[(SUBSCRIPTION, "networkInterfaces")]
    del nics[: layout.churn_removed]
    for body in nics[: layout.churn_changed]:
        body["tags"]["meshfed-weight"] = "5"
    for n in range(layout.churn_added):
        fake.add_nic(
            SUBSCRIPTION, f"new-nic-{n}", AZURE_LOCATION, tags=_azure_tags(), ips=[_ip(42, n)]
        )


def _register(service_id: str, n: int) -> None:
    # Over HTTP each RegisterInstance costs ~6 ms; the in-process backend takes microseconds.
    _cloud_map_backend().register_instance(
        service_id=service_id,
        instance_id=f"task-{n}",
        creator_request_id=f"seed-{n}",
        attributes={"AWS_INSTANCE_IPV4": _ip(9, n), "AWS_INSTANCE_PORT": "8080"},
    )


def _cloud_map_backend() -> Any:
    return servicediscovery_backends[DEFAULT_ACCOUNT_ID][REGION]


def _gcp_labels() -> dict[str, str]:
    # A fresh dict a resource: churn edits one resource's labels, never every resource's.
    return {
        "meshfed-cluster": "gcp-euw1",
        "meshfed-role": "service",
        "meshfed-service": "payments--prod",
        "meshfed-port": "9443",
    }


def _azure_tags(role: str = "service") -> dict[str, str]:
    base = {"meshfed-cluster": "azure-weu", "meshfed-role": role}
    if role == "service":
        base |= {"meshfed-service": "payments.prod", "meshfed-port": "9443"}
    return base


def _ip(second: int, n: int) -> str:
    return f"10.{second}.{n // 250}.{n % 250 + 1}"
