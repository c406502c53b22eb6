"""AWS discovery: tagged EC2 instances, tagged ELBv2 load balancers and tagged Cloud Map services.

Per region:

- EC2 instances that are running and carry ``meshfed.io/cluster``, filtered server-side;
- NLBs/ALBs whose tags (DescribeTags, 20 ARNs a call, the API's limit) carry it; the load
  balancer's DNS name is the endpoint;
- Cloud Map services tagged with it, one endpoint per registered instance, with the health
  DiscoverInstances reports.

Every page is one call through ``call_with_retries`` (the SDK's own retries are off, see
``aws_session.client_config``), so a retry repeats one page, not the listing. A listing that
still fails after retries fails the whole pass: a snapshot that lacked a region, or pages 3-5 of
one, would look like its endpoints had gone away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from botocore.paginate import TokenEncoder

from providers.aws_errors import classify
from providers.aws_resources import (
    AWS_CLUSTER,
    AWS_PORT,
    cloud_map_instance_endpoints,
    cloud_map_labels,
    instance_endpoints,
    is_mesh_tagged,
    load_balancer_endpoints,
)
from providers.aws_session import client_config, discovery_session
from providers.base import Snapshot
from providers.calls import RetryPolicy, call_with_retries
from providers.labels import Harvest, MalformedResource

T = TypeVar("T")
DEFAULT_RETRY = RetryPolicy()
ELB_PAGE_TOKEN = ("Marker", "NextMarker")  # ELBv2 pages by Marker, not NextToken
TAG_BATCH = 20  # DescribeTags accepts at most 20 resource ARNs
# DiscoverInstances is not paginated and answers at most 1000 instances; it is read only for
# health, so an instance beyond that is still listed (by ListInstances), with unknown health.
DISCOVER_LIMIT = 1000
INSTANCE_FILTERS = (
    {"Name": "tag-key", "Values": [AWS_CLUSTER]},
    {"Name": "instance-state-name", "Values": ["running"]},
)


class AwsProvider:
    """Discovery over ``regions`` with boto3's default credentials, or those of ``role_arn``
    assumed through STS. ``endpoint_url`` points every client at one endpoint (moto, a VPC
    endpoint); ``call_timeout`` bounds connecting and each read of one call; ``page_size`` sets
    every listing's page size (EC2 takes 5-1000), else each API's default. Not thread-safe:
    the discovery loop runs one pass of a provider at a time."""

    cloud = "aws"

    def __init__(
        self,
        name: str,
        regions: Sequence[str],
        *,
        role_arn: str | None = None,
        endpoint_url: str | None = None,
        call_timeout: float = 10.0,
        retry_policy: RetryPolicy = DEFAULT_RETRY,
        page_size: int | None = None,
    ) -> None:
        if not regions:
            raise ValueError(f"AWS provider {name!r} has no regions: list at least one")
        self.name = name
        self.regions = tuple(regions)
        self._role_arn = role_arn
        self._endpoint_url = endpoint_url
        self._config = client_config(call_timeout, custom_endpoint=endpoint_url is not None)
        self._retry_policy = retry_policy
        self._page_size = page_size
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}

    def discover(self) -> Snapshot:
        harvest = Harvest(self.name)
        for region in self.regions:
            self._instances(region, harvest)
            self._load_balancers(region, harvest)
            self._cloud_map(region, harvest)
        return harvest.snapshot()

    def _instances(self, region: str, harvest: Harvest) -> None:
        pages = self._pages(
            self._client("ec2", region),
            "describe_instances",
            f"list EC2 instances in {region}",
            Filters=list(INSTANCE_FILTERS),
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    harvest.add(
                        f"aws ec2 instance {region}/{instance['InstanceId']}",
                        partial(instance_endpoints, instance, region),
                    )

    def _load_balancers(self, region: str, harvest: Harvest) -> None:
        client = self._client("elbv2", region)
        doing = f"list load balancers in {region}"
        pages = self._pages(client, "describe_load_balancers", doing, token=ELB_PAGE_TOKEN)
        for page in pages:
            balancers = page.get("LoadBalancers", [])
            for start in range(0, len(balancers), TAG_BATCH):
                batch = {lb["LoadBalancerArn"]: lb for lb in balancers[start : start + TAG_BATCH]}
                for arn, tags in self._balancer_tags(client, region, list(batch)).items():
                    if not is_mesh_tagged(tags):
                        continue
                    port = None if _has_port_tag(tags) else self._listener_port(client, region, arn)
                    harvest.add(
                        f"aws load balancer {arn}",
                        partial(load_balancer_endpoints, batch[arn], tags, port, region),
                    )

    def _balancer_tags(
        self, client: Any, region: str, arns: list[str]
    ) -> dict[str, list[dict[str, str]]]:
        answer = self._call(
            partial(client.describe_tags, ResourceArns=arns),
            f"read load balancer tags in {region}",
        )
        return {d["ResourceArn"]: d.get("Tags", []) for d in answer.get("TagDescriptions", [])}

    def _listener_port(self, client: Any, region: str, arn: str) -> int | None:
        doing = f"list listeners of {arn}"
        pages = self._pages(
            client, "describe_listeners", doing, token=ELB_PAGE_TOKEN, LoadBalancerArn=arn
        )
        for page in pages:
            for listener in page.get("Listeners", []):
                return int(listener["Port"])
        return None

    def _cloud_map(self, region: str, harvest: Harvest) -> None:
        client = self._client("servicediscovery", region)
        namespaces = self._pages(
            client, "list_namespaces", f"list Cloud Map namespaces in {region}"
        )
        for page in namespaces:
            for namespace in page.get("Namespaces", []):
                self._cloud_map_namespace(client, region, namespace, harvest)

    def _cloud_map_namespace(
        self, client: Any, region: str, namespace: Mapping[str, Any], harvest: Harvest
    ) -> None:
        doing = f"list Cloud Map services of namespace {namespace['Name']} in {region}"
        only_this = [{"Name": "NAMESPACE_ID", "Values": [namespace["Id"]], "Condition": "EQ"}]
        for page in self._pages(client, "list_services", doing, Filters=only_this):
            for service in page.get("Services", []):
                answer = self._call(
                    partial(client.list_tags_for_resource, ResourceARN=service["Arn"]),
                    f"read tags of Cloud Map service {service['Arn']}",
                )
                tags = answer.get("Tags", [])
                if is_mesh_tagged(tags):
                    self._cloud_map_service(client, region, namespace, service, tags, harvest)

    def _cloud_map_service(
        self,
        client: Any,
        region: str,
        namespace: Mapping[str, Any],
        service: Mapping[str, Any],
        tags: list[dict[str, str]],
        harvest: Harvest,
    ) -> None:
        resource = f"aws cloud map service {service['Arn']}"
        try:
            mesh = cloud_map_labels(service, tags)
        except MalformedResource as exc:
            harvest.warnings.append(f"{resource} skipped: {exc}")
            return
        doing = f"list instances of Cloud Map service {service['Arn']}"
        pages = self._pages(client, "list_instances", doing, ServiceId=service["Id"])
        instances = [instance for page in pages for instance in page.get("Instances", [])]
        if not instances:
            return
        health = self._cloud_map_health(client, namespace["Name"], service)
        for instance in instances:
            harvest.add(
                f"{resource} instance {instance['Id']}",
                partial(
                    cloud_map_instance_endpoints,
                    mesh,
                    service,
                    instance,
                    health.get(instance["Id"]),
                    region,
                ),
            )

    def _cloud_map_health(
        self, client: Any, namespace: str, service: Mapping[str, Any]
    ) -> dict[str, str]:
        answer = self._call(
            partial(
                client.discover_instances,
                NamespaceName=namespace,
                ServiceName=service["Name"],
                HealthStatus="ALL",
                MaxResults=DISCOVER_LIMIT,
            ),
            f"read health of Cloud Map service {service['Arn']}",
        )
        return {i["InstanceId"]: i.get("HealthStatus", "") for i in answer.get("Instances", [])}

    def _pages(
        self,
        client: Any,
        operation: str,
        doing: str,
        *,
        token: tuple[str, str] = ("NextToken", "NextToken"),
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """The pages of a paginated listing, each fetched (and retried) on its own. ``token``
        names the operation's (input, output) page token. Each call starts the paginator at
        the page wanted and takes only its first page: a paginator's iterator cannot be
        resumed once a page request raised."""
        paginator = client.get_paginator(operation)
        input_token, output_token = token
        next_token: str | None = None
        number = 1
        while True:
            config: dict[str, Any] = {}
            if self._page_size is not None:
                config["PageSize"] = self._page_size
            if next_token is not None:
                config["StartingToken"] = TokenEncoder().encode({input_token: next_token})
            page = self._call(
                partial(_first_page, paginator, params, config), f"{doing} (page {number})"
            )
            yield page
            next_token = page.get(output_token)
            if not next_token:
                return
            number += 1

    def _call(self, call: Callable[[], T], doing: str) -> T:
        return call_with_retries(call, partial(classify, doing=doing), self._retry_policy)

    def _client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            if self._session is None:
                self._session = discovery_session(
                    self._role_arn,
                    sts_region=self.regions[0],
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
            self._clients[key] = self._session.client(
                service, region_name=region, endpoint_url=self._endpoint_url, config=self._config
            )
        return self._clients[key]


def _first_page(paginator: Any, params: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    return next(iter(paginator.paginate(**params, PaginationConfig=dict(config))))


def _has_port_tag(tags: Sequence[Mapping[str, str]]) -> bool:
    return any(tag["Key"] == AWS_PORT for tag in tags)
