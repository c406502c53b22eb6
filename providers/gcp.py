"""GCP discovery: labelled Compute Engine instances, forwarding rules and network endpoint groups.

- Instances and regional forwarding rules carry the meshfed-* labels themselves; the label
  filter is sent to Compute so unlabelled resources never leave Google.
- Network endpoint groups have no labels in the Compute API, but they do have ``annotations``
  (a string map fixed when the NEG is created). A zonal NEG whose annotations carry the
  meshfed-* keys, spelled as the labels are, is a mesh resource, and each of its network
  endpoints (IP and port, from ``listNetworkEndpoints``) is one endpoint. Compute documents its
  list filter for labels, not annotations, so NEGs are filtered here. Regional NEGs (serverless,
  Private Service Connect, internet) have no member IPs to list and are reported, not read.

Every page is one call through ``call_with_retries``; the SDK's own retry is switched off
(its default retries for up to 600 s) so the caller's RetryPolicy, with its Retry-After cap, is
the only one. A page that still fails after retries fails the whole pass: a snapshot missing
pages 3-5 would look like endpoints had gone away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import google.auth
import google.auth.exceptions
import requests
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.cloud import compute_v1

from providers.base import Endpoint, ProviderError, ProviderErrorKind, Snapshot
from providers.calls import RetryPolicy, call_with_retries, retry_after_seconds
from providers.labels import (
    CLUSTER,
    Harvest,
    MalformedResource,
    MeshLabels,
    Placement,
    endpoint_for,
    is_mesh_resource,
    parse_mesh_labels,
)

# Compute's AIP-160 filter: ":*" tests that a label key is present.
LABEL_FILTER = f"labels.{CLUSTER}:*"
# Compute fills every empty scope of an aggregated list with this warning; it is not a problem.
NO_RESULTS = "NO_RESULTS_ON_PAGE"
READ_ONLY_SCOPE = "https://www.googleapis.com/auth/compute.readonly"
DEFAULT_RETRY = RetryPolicy()


def instance_endpoints(instance: Any) -> list[Endpoint]:
    """A RUNNING labelled instance: its first interface's internal IP."""
    mesh = parse_mesh_labels(dict(instance.labels), dots_as_dashes=True)
    if not instance.network_interfaces:
        raise MalformedResource("it has no network interface")
    nic = instance.network_interfaces[0]
    zone = _last(instance.zone)
    placement = Placement("gcp", _region_of(zone), zone, _last(nic.network))
    return [
        endpoint_for(mesh, address=nic.network_i_p, placement=placement, source=instance.self_link)
    ]


def forwarding_rule_endpoints(rule: Any) -> list[Endpoint]:
    """A labelled regional forwarding rule: its IP, on meshfed-port or the rule's own port."""
    mesh = parse_mesh_labels(dict(rule.labels), dots_as_dashes=True)
    if not rule.region:
        raise MalformedResource("a global forwarding rule has no region: label a regional one")
    placement = Placement("gcp", _last(rule.region), "", _last(rule.network))
    return [
        endpoint_for(
            mesh,
            address=rule.I_p_address,
            placement=placement,
            source=rule.self_link,
            cloud_port=_rule_port(rule),
        )
    ]


def neg_endpoints(mesh: MeshLabels, neg: Any, members: Sequence[Any]) -> list[Endpoint]:
    """An annotated zonal NEG: one endpoint per member, on meshfed-port, the member's port or
    the NEG's default port."""
    zone = _last(neg.zone)
    placement = Placement("gcp", _region_of(zone), zone, _last(neg.network))
    return [
        endpoint_for(
            mesh,
            address=member.ip_address,
            placement=placement,
            source=neg.self_link,
            cloud_port=member.port or neg.default_port or None,
        )
        for member in members
    ]


def classify(exc: Exception, doing: str) -> ProviderError | None:
    """Map what the Compute client raises to ProviderError; None for anything else (a bug)."""
    if isinstance(exc, gexc.GoogleAPICallError):
        return _classify_status(exc, doing)
    if isinstance(exc, requests.Timeout):
        return ProviderError(
            ProviderErrorKind.TIMEOUT, f"GCP {doing} timed out: raise call_timeout if it persists"
        )
    if isinstance(exc, requests.ConnectionError | google.auth.exceptions.TransportError):
        return ProviderError(
            ProviderErrorKind.UNAVAILABLE, f"GCP {doing} could not reach Compute: {exc}"
        )
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return ProviderError(
            ProviderErrorKind.AUTH,
            f"GCP {doing}: credentials rejected or unusable ({exc}); check them and grant the"
            " discovery identity roles/compute.viewer on the project",
        )
    return None


class GcpProvider:
    cloud = "gcp"

    def __init__(
        self,
        name: str,
        projects: Sequence[str],
        *,
        api_endpoint: str | None = None,
        credentials: Any = None,
        call_timeout: float = 10.0,
        retry_policy: RetryPolicy = DEFAULT_RETRY,
        page_size: int | None = None,
    ) -> None:
        self.name = name
        self.projects = tuple(projects)
        self._api_endpoint = api_endpoint
        self._credentials = credentials
        self._call_timeout = call_timeout
        self._retry_policy = retry_policy
        self._page_size = page_size
        self._clients: _Clients | None = None

    def discover(self) -> Snapshot:
        clients = self._connect()
        harvest = Harvest(self.name)
        for project in self.projects:
            self._instances(clients.instances, project, harvest)
            self._forwarding_rules(clients.forwarding_rules, project, harvest)
            self._negs(clients.negs, project, harvest)
        return harvest.snapshot()

    def _instances(self, client: Any, project: str, harvest: Harvest) -> None:
        def fetch(token: str) -> Any:
            request = compute_v1.AggregatedListInstancesRequest(
                project=project, filter=LABEL_FILTER, max_results=self._page_size, page_token=token
            )
            return client.aggregated_list(request=request, retry=None, timeout=self._call_timeout)

        for scope, scoped in self._aggregated(
            fetch, f"list instances in project {project}", harvest
        ):
            for instance in scoped.instances:
                # A stopped or suspended instance serves nothing; it is not an error either.
                if instance.status == "RUNNING":
                    harvest.add(
                        f"gcp instance {project}/{scope}/{instance.name}",
                        partial(instance_endpoints, instance),
                    )

    def _forwarding_rules(self, client: Any, project: str, harvest: Harvest) -> None:
        def fetch(token: str) -> Any:
            request = compute_v1.AggregatedListForwardingRulesRequest(
                project=project, filter=LABEL_FILTER, max_results=self._page_size, page_token=token
            )
            return client.aggregated_list(request=request, retry=None, timeout=self._call_timeout)

        doing = f"list forwarding rules in project {project}"
        for scope, scoped in self._aggregated(fetch, doing, harvest):
            for rule in scoped.forwarding_rules:
                harvest.add(
                    f"gcp forwarding rule {project}/{scope}/{rule.name}",
                    partial(forwarding_rule_endpoints, rule),
                )

    def _negs(self, client: Any, project: str, harvest: Harvest) -> None:
        def fetch(token: str) -> Any:
            request = compute_v1.AggregatedListNetworkEndpointGroupsRequest(
                project=project, max_results=self._page_size, page_token=token
            )
            return client.aggregated_list(request=request, retry=None, timeout=self._call_timeout)

        doing = f"list network endpoint groups in project {project}"
        for scope, scoped in self._aggregated(fetch, doing, harvest):
            for neg in scoped.network_endpoint_groups:
                if not is_mesh_resource(dict(neg.annotations)):
                    continue
                resource = f"gcp network endpoint group {project}/{scope}/{neg.name}"
                if not scope.startswith("zones/"):
                    harvest.warnings.append(
                        f"{resource} skipped: only zonal NEGs are read; annotate a zonal NEG"
                    )
                    continue
                harvest.add(resource, partial(self._neg_endpoints, client, project, neg))

    def _neg_endpoints(self, client: Any, project: str, neg: Any) -> list[Endpoint]:
        # Annotations first: a NEG that cannot become endpoints is not worth listing.
        mesh = parse_mesh_labels(dict(neg.annotations), dots_as_dashes=True)
        return neg_endpoints(mesh, neg, self._neg_members(client, project, neg))

    def _neg_members(self, client: Any, project: str, neg: Any) -> list[Any]:
        zone = _last(neg.zone)

        def fetch(token: str) -> Any:
            request = compute_v1.ListNetworkEndpointsNetworkEndpointGroupsRequest(
                project=project,
                zone=zone,
                network_endpoint_group=neg.name,
                network_endpoint_groups_list_endpoints_request_resource=(
                    compute_v1.NetworkEndpointGroupsListEndpointsRequest()
                ),
                max_results=self._page_size,
                page_token=token,
            )
            return client.list_network_endpoints(
                request=request, retry=None, timeout=self._call_timeout
            )

        doing = f"list endpoints of network endpoint group {project}/zones/{zone}/{neg.name}"
        return [item.network_endpoint for page in self._pages(fetch, doing) for item in page.items]

    def _aggregated(
        self, fetch: Callable[[str], Any], doing: str, harvest: Harvest
    ) -> Iterator[tuple[str, Any]]:
        for page in self._pages(fetch, doing):
            for scope in page.unreachables:
                harvest.incomplete(f"GCP {doing}: scope {scope} unreachable, its resources unseen")
            # Sorted, because a protobuf map has no order and snapshots should not churn.
            for scope, scoped in sorted(page.items.items()):
                code = scoped.warning.code
                if code and code != NO_RESULTS:
                    harvest.incomplete(f"GCP {doing}: scope {scope} answered {code}")
                yield scope, scoped

    def _pages(self, fetch: Callable[[str], Any], doing: str) -> Iterator[Any]:
        """Each page fetched (and retried) on its own, so a retry repeats one page, not all."""
        token = ""
        number = 1
        while True:
            what = f"{doing} (page {number})"
            # The pager proxies the response it holds; only that page is used, never .pages,
            # which would fetch the next one outside call_with_retries.
            page = call_with_retries(
                partial(fetch, token), partial(classify, doing=what), self._retry_policy
            )
            yield page
            token = page.next_page_token
            if not token:
                return
            number += 1

    def _connect(self) -> _Clients:
        if self._clients is None:
            try:
                self._clients = _Clients.build(self._api_endpoint, self._credentials)
            except google.auth.exceptions.DefaultCredentialsError as exc:
                raise ProviderError(
                    ProviderErrorKind.AUTH,
                    f"GCP provider {self.name!r} found no Application Default Credentials ({exc}):"
                    " run 'gcloud auth application-default login', set"
                    " GOOGLE_APPLICATION_CREDENTIALS, or attach a service account",
                ) from exc
        return self._clients


@dataclass(frozen=True, slots=True)
class _Clients:
    instances: Any
    forwarding_rules: Any
    negs: Any

    @classmethod
    def build(cls, api_endpoint: str | None, credentials: Any) -> _Clients:
        if credentials is None:
            credentials, _ = google.auth.default(scopes=[READ_ONLY_SCOPE])
        options = ClientOptions(api_endpoint=api_endpoint) if api_endpoint else None
        kwargs: dict[str, Any] = {
            "credentials": credentials,
            "client_options": options,
            "transport": "rest",
        }
        return cls(
            compute_v1.InstancesClient(**kwargs),
            compute_v1.ForwardingRulesClient(**kwargs),
            compute_v1.NetworkEndpointGroupsClient(**kwargs),
        )


def _classify_status(exc: gexc.GoogleAPICallError, doing: str) -> ProviderError:
    status = int(exc.code or 0)
    detail = f"GCP {doing} answered {status}: {exc.message}"
    if status == 429:
        return ProviderError(
            ProviderErrorKind.THROTTLED,
            f"{detail}; raise the Compute read quota or the refresh interval",
            retry_after=_retry_after(exc),
        )
    if status in (401, 403):
        return ProviderError(
            ProviderErrorKind.AUTH,
            f"{detail}; grant the discovery identity roles/compute.viewer on the project",
        )
    if status == 408:
        return ProviderError(ProviderErrorKind.TIMEOUT, detail)
    if status >= 500:
        # A 503's Retry-After says how long the outage is expected to last (RFC 9110 §10.2.3).
        return ProviderError(ProviderErrorKind.UNAVAILABLE, detail, retry_after=_retry_after(exc))
    return ProviderError(ProviderErrorKind.INVALID, f"{detail}; check the project id")


def _retry_after(exc: gexc.GoogleAPICallError) -> float | None:
    return retry_after_seconds(getattr(exc.response, "headers", None))


def _rule_port(rule: Any) -> int | None:
    if rule.ports:
        return int(rule.ports[0])
    if rule.port_range:
        return int(rule.port_range.split("-", 1)[0])
    return None


def _region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def _last(url: str) -> str:
    return url.rsplit("/", 1)[-1] if url else ""
