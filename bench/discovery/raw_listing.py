"""The baseline: the pages discovery reads, listed through the same SDK clients with the same
settings, and nothing else — no label parsing, no endpoints, no registry, no store.

It makes the calls the providers make, in the same order, so the ratio of a meshfed sync over
this listing is meshfed's own cost. Run as a worker process: ``python -m
bench.discovery.raw_listing TARGETS_JSON``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from azure.mgmt.network import NetworkManagementClient
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from bench.discovery.worker import Targets, serve_passes, timed
from providers.aws import INSTANCE_FILTERS, TAG_BATCH
from providers.aws_session import client_config
from providers.gcp import LABEL_FILTER
from providers.labels import CLUSTER
from tests.support.azure_fake import StaticToken


class RawAws:
    def __init__(self, targets: Targets) -> None:
        self._targets = targets
        self._clients: dict[str, Any] = {}

    def list(self) -> int:
        items = 0
        for page in self._pages("ec2", "describe_instances", Filters=list(INSTANCE_FILTERS)):
            items += sum(len(r["Instances"]) for r in page["Reservations"])
        elb = self._client("elbv2")
        for page in self._pages("elbv2", "describe_load_balancers"):
            arns = [lb["LoadBalancerArn"] for lb in page["LoadBalancers"]]
            for start in range(0, len(arns), TAG_BATCH):
                elb.describe_tags(ResourceArns=arns[start : start + TAG_BATCH])
        sd = self._client("servicediscovery")
        for namespace in self._each("servicediscovery", "list_namespaces", "Namespaces"):
            only = [{"Name": "NAMESPACE_ID", "Values": [namespace["Id"]], "Condition": "EQ"}]
            for service in self._each(
                "servicediscovery", "list_services", "Services", Filters=only
            ):
                sd.list_tags_for_resource(ResourceARN=service["Arn"])
                listed = self._each(
                    "servicediscovery", "list_instances", "Instances", ServiceId=service["Id"]
                )
                items += sum(1 for _ in listed)
                sd.discover_instances(
                    NamespaceName=namespace["Name"],
                    ServiceName=service["Name"],
                    HealthStatus="ALL",
                    MaxResults=1000,
                )
        return items

    def _each(self, service: str, operation: str, key: str, **params: Any) -> Iterator[Any]:
        for page in self._pages(service, operation, **params):
            yield from page.get(key, [])

    def _pages(self, service: str, operation: str, **params: Any) -> Iterator[Any]:
        paginator = self._client(service).get_paginator(operation)
        config = {"PageSize": self._targets.aws_page_size}
        yield from paginator.paginate(**params, PaginationConfig=config)

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            url = self._targets.aws_url
            config = client_config(self._targets.call_timeout, custom_endpoint=True)
            self._clients[service] = boto3.client(
                service, region_name=self._targets.aws_region, endpoint_url=url, config=config
            )
        return self._clients[service]


class RawGcp:
    def __init__(self, targets: Targets) -> None:
        self._targets = targets
        options = ClientOptions(api_endpoint=targets.gcp_url)
        kwargs: dict[str, Any] = {
            "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
            "client_options": options,
            "transport": "rest",
        }
        self._instances = compute_v1.InstancesClient(**kwargs)
        self._rules = compute_v1.ForwardingRulesClient(**kwargs)
        self._negs = compute_v1.NetworkEndpointGroupsClient(**kwargs)

    def list(self) -> int:
        project, timeout = self._targets.gcp_project, self._targets.call_timeout
        items = 0
        instances = self._instances.aggregated_list(
            request={"project": project, "filter": LABEL_FILTER}, retry=None, timeout=timeout
        )
        items += sum(len(scoped.instances) for _, scoped in instances)
        rules = self._rules.aggregated_list(
            request={"project": project, "filter": LABEL_FILTER}, retry=None, timeout=timeout
        )
        items += sum(len(scoped.forwarding_rules) for _, scoped in rules)
        negs = self._negs.aggregated_list(request={"project": project}, retry=None, timeout=timeout)
        for scope, scoped in negs:
            for neg in scoped.network_endpoint_groups:
                if CLUSTER in neg.annotations and scope.startswith("zones/"):
                    items += self._members(neg)
        return items

    def _members(self, neg: Any) -> int:
        request = {
            "project": self._targets.gcp_project,
            "zone": neg.zone.rsplit("/", 1)[-1],
            "network_endpoint_group": neg.name,
            "network_endpoint_groups_list_endpoints_request_resource": {},
        }
        listed = self._negs.list_network_endpoints(
            request=request, retry=None, timeout=self._targets.call_timeout
        )
        return sum(1 for _ in listed)


class RawAzure:
    def __init__(self, targets: Targets) -> None:
        self._client = NetworkManagementClient(
            StaticToken(targets.azure_token),
            targets.azure_subscription,
            base_url=targets.azure_url,
            connection_verify=targets.azure_ca_file,
            connection_timeout=targets.call_timeout,
            read_timeout=targets.call_timeout,
            retry_total=0,
        )

    def list(self) -> int:
        kinds = (
            self._client.public_ip_addresses,
            self._client.network_interfaces,
            self._client.load_balancers,
        )
        return sum(sum(1 for _ in kind.list_all()) for kind in kinds)


async def main(targets: Targets) -> None:
    listers: dict[str, Callable[[], int]] = {
        "aws": RawAws(targets).list,
        "gcp": RawGcp(targets).list,
        "azure": RawAzure(targets).list,
    }

    async def one_pass() -> dict[str, Any]:
        # Concurrently, one worker thread a cloud, as the discovery loop runs its providers.
        async with asyncio.TaskGroup() as group:
            tasks = {
                cloud: group.create_task(asyncio.to_thread(timed, listing))
                for cloud, listing in listers.items()
            }
        results = {cloud: task.result() for cloud, task in tasks.items()}
        return {
            "clouds": {
                cloud: {"seconds": seconds, "items": items}
                for cloud, (items, seconds) in results.items()
            },
        }

    async def warmup() -> None:
        await one_pass()

    await serve_passes(one_pass, warmup)


if __name__ == "__main__":
    asyncio.run(main(Targets.from_json(sys.argv[1])))
