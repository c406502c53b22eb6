"""Azure discovery: tagged network interfaces, load balancer frontends and public IPs.

ARM's ``list_all`` calls have no tag filter, so every resource of a subscription is listed and
the meshfed-* tags are checked here.

- A network interface attached to a VM gives one endpoint per IP configuration (its private
  IP). A detached NIC serves nothing and is left out, as a stopped GCP instance is.
- A load balancer gives one endpoint per frontend: the private IP, or the address of the
  public IP the frontend references. Its port is ``meshfed-port``, else the frontend port of
  the first load-balancing rule on that frontend.
- A tagged public IP is an endpoint on its own too (a gateway VM's public address).

Zones are written ``<location>-<zone>`` (``westeurope-1``), as AKS labels its nodes, because
Azure's bare zone numbers mean nothing outside their region.

The SDK's own retry is off (``retry_total=0``): azure-core retries 408/429/5xx and sleeps for
the whole Retry-After a server asks, uncapped, so one throttled subscription could stall a sync
for minutes. ``call_with_retries`` retries instead, each page on its own, with the cap of the
caller's RetryPolicy. A page that still fails fails the pass, never a partial snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline import PipelineContext, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy as AzureRetryPolicy
from azure.identity import DefaultAzureCredential
from azure.mgmt.network import NetworkManagementClient

from providers.base import Endpoint, ProviderError, ProviderErrorKind, Snapshot
from providers.calls import RetryPolicy, call_with_retries
from providers.labels import (
    Harvest,
    MalformedResource,
    MeshLabels,
    Placement,
    endpoint_for,
    is_mesh_resource,
    parse_mesh_labels,
)

DEFAULT_RETRY = RetryPolicy()


def nic_endpoints(nic: Any) -> list[Endpoint]:
    mesh = _mesh(nic)
    configs = nic.ip_configurations or []
    if not configs:
        raise MalformedResource("it has no IP configuration")
    return [
        endpoint_for(
            mesh,
            address=config.private_ip_address or "",
            placement=Placement("azure", _location(nic), "", _vnet_of(config.subnet)),
            source=nic.id,
        )
        for config in configs
    ]


def load_balancer_endpoints(lb: Any, public_ips: Mapping[str, str]) -> list[Endpoint]:
    """``public_ips`` maps a public IP's resource id, lower-cased, to its address."""
    mesh = _mesh(lb)
    frontends = lb.frontend_ip_configurations or []
    if not frontends:
        raise MalformedResource("it has no frontend IP configuration")
    rule_ports: dict[str, int] = {}
    for rule in lb.load_balancing_rules or []:
        if rule.frontend_ip_configuration is not None and rule.frontend_port:
            rule_ports.setdefault(rule.frontend_ip_configuration.id.lower(), rule.frontend_port)
    endpoints = []
    for frontend in frontends:
        if frontend.public_ip_address is not None:
            address = public_ips.get(frontend.public_ip_address.id.lower(), "")
            network = ""
        else:
            address = frontend.private_ip_address or ""
            network = _vnet_of(frontend.subnet)
        placement = Placement("azure", _location(lb), _zone(lb, frontend.zones), network)
        endpoints.append(
            endpoint_for(
                mesh,
                address=address,
                placement=placement,
                source=frontend.id or lb.id,
                cloud_port=rule_ports.get((frontend.id or "").lower()),
            )
        )
    return endpoints


def public_ip_endpoints(pip: Any) -> list[Endpoint]:
    placement = Placement("azure", _location(pip), _zone(pip, pip.zones))
    return [
        endpoint_for(_mesh(pip), address=pip.ip_address or "", placement=placement, source=pip.id)
    ]


def classify(exc: Exception, doing: str) -> ProviderError | None:
    """Map what the ARM client raises to ProviderError; None for anything else (a bug)."""
    if isinstance(exc, ClientAuthenticationError):
        return ProviderError(
            ProviderErrorKind.AUTH,
            f"Azure {doing}: authentication failed ({_describe(exc)}); check the credential and"
            " grant it the Reader role (Microsoft.Network/*/read) on the subscription",
        )
    if isinstance(exc, HttpResponseError):
        return _classify_status(exc, doing)
    if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return ProviderError(
            ProviderErrorKind.TIMEOUT, f"Azure {doing} timed out: raise call_timeout if it persists"
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return ProviderError(
            ProviderErrorKind.UNAVAILABLE, f"Azure {doing} could not reach ARM: {exc.message}"
        )
    return None


class AzureProvider:
    cloud = "azure"

    def __init__(
        self,
        name: str,
        subscriptions: Sequence[str],
        *,
        base_url: str | None = None,
        credential: Any = None,
        call_timeout: float = 10.0,
        retry_policy: RetryPolicy = DEFAULT_RETRY,
        connection_verify: str | bool = True,
    ) -> None:
        self.name = name
        self.subscriptions = tuple(subscriptions)
        self._base_url = base_url
        self._credential = credential
        self._call_timeout = call_timeout
        self._retry_policy = retry_policy
        self._connection_verify = connection_verify
        self._clients: dict[str, Any] = {}

    def discover(self) -> Snapshot:
        harvest = Harvest(self.name)
        for subscription in self.subscriptions:
            self._discover_subscription(self._client(subscription), subscription, harvest)
        return harvest.snapshot()

    def _discover_subscription(self, client: Any, subscription: str, harvest: Harvest) -> None:
        where = f"in subscription {subscription}"
        pips = self._list(client.public_ip_addresses.list_all, f"list public IPs {where}")
        nics = self._list(client.network_interfaces.list_all, f"list network interfaces {where}")
        lbs = self._list(client.load_balancers.list_all, f"list load balancers {where}")
        addresses = {pip.id.lower(): pip.ip_address for pip in pips if pip.ip_address}
        for nic in nics:
            if is_mesh_resource(nic.tags) and nic.virtual_machine is not None:
                harvest.add(f"azure network interface {nic.id}", partial(nic_endpoints, nic))
        for lb in lbs:
            if is_mesh_resource(lb.tags):
                harvest.add(
                    f"azure load balancer {lb.id}", partial(load_balancer_endpoints, lb, addresses)
                )
        for pip in pips:
            if is_mesh_resource(pip.tags):
                harvest.add(f"azure public IP {pip.id}", partial(public_ip_endpoints, pip))

    def _list(self, list_all: Callable[[], Any], doing: str) -> list[Any]:
        return [item for page in self._pages(list_all, doing) for item in page]

    def _pages(self, list_all: Callable[[], Any], doing: str) -> Iterator[list[Any]]:
        """Each page fetched (and retried) on its own: the nextLink of the page before is the
        continuation token that resumes the listing there."""
        token: str | None = None
        number = 1
        while True:
            what = f"{doing} (page {number})"
            items, token = call_with_retries(
                partial(_one_page, list_all, token),
                partial(classify, doing=what),
                self._retry_policy,
            )
            yield items
            if not token:
                return
            number += 1

    def _client(self, subscription: str) -> Any:
        client = self._clients.get(subscription)
        if client is None:
            if self._credential is None:
                self._credential = DefaultAzureCredential()
            options: dict[str, Any] = {"base_url": self._base_url} if self._base_url else {}
            client = NetworkManagementClient(
                self._credential,
                subscription,
                connection_verify=self._connection_verify,
                connection_timeout=self._call_timeout,
                read_timeout=self._call_timeout,
                retry_total=0,
                **options,
            )
            self._clients[subscription] = client
        return client


def _one_page(list_all: Callable[[], Any], token: str | None) -> tuple[list[Any], str | None]:
    pages = list_all().by_page(continuation_token=token)
    items = list(next(pages))
    return items, pages.continuation_token


def _classify_status(exc: HttpResponseError, doing: str) -> ProviderError:
    status = int(exc.status_code or 0)
    detail = f"Azure {doing} answered {status}: {_describe(exc)}"
    if status == 429:
        return ProviderError(
            ProviderErrorKind.THROTTLED,
            f"{detail}; ARM read limits are per subscription: raise the refresh interval",
            retry_after=_retry_after(exc),
        )
    if status in (401, 403):
        return ProviderError(
            ProviderErrorKind.AUTH,
            f"{detail}; grant the credential the Reader role on the subscription",
        )
    if status == 408:
        return ProviderError(ProviderErrorKind.TIMEOUT, detail)
    if status >= 500:
        # A 503's Retry-After says how long the outage is expected to last (RFC 9110 §10.2.3).
        return ProviderError(ProviderErrorKind.UNAVAILABLE, detail, retry_after=_retry_after(exc))
    return ProviderError(ProviderErrorKind.INVALID, f"{detail}; check the subscription id")


def _describe(exc: HttpResponseError) -> str:
    """ARM's error code and message on one line (the SDK's own message spans several)."""
    error = exc.error
    if error is not None and error.code:
        return f"{error.code}: {error.message}"
    return str(exc.reason or exc.message).splitlines()[0]


def _retry_after(exc: HttpResponseError) -> float | None:
    if exc.response is None:
        return None
    # azure-core's own reading: Retry-After (seconds or HTTP date), then retry-after-ms.
    http_response: Any = exc.response
    response = PipelineResponse(http_response.request, http_response, PipelineContext(None))
    delay: float | None = AzureRetryPolicy().get_retry_after(response)
    return delay


def _mesh(resource: Any) -> MeshLabels:
    return parse_mesh_labels(resource.tags, dots_as_dashes=False)


def _location(resource: Any) -> str:
    return str(resource.location or "").lower()


def _zone(resource: Any, zones: Sequence[str] | None) -> str:
    return f"{_location(resource)}-{zones[0]}" if zones else ""


def _vnet_of(subnet: Any) -> str:
    """The VNet name in a subnet id: .../virtualNetworks/{vnet}/subnets/{subnet}."""
    parts = (subnet.id if subnet is not None else "").split("/")
    lowered = [part.lower() for part in parts]
    if "virtualnetworks" in lowered:
        index = lowered.index("virtualnetworks") + 1
        if index < len(parts):
            return parts[index]
    return ""
