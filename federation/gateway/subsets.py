"""Which of a service's subsets an upstream serves, as Istio's DestinationRule subsets mean them:
an endpoint is in a subset when it carries every label the subset names."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from federation.model import SubsetSpec
from providers.base import Endpoint


def in_subset(labels: Mapping[str, str], subset: SubsetSpec) -> bool:
    return all(labels.get(key) == value for key, value in subset.labels.items())


def endpoint_subsets(endpoint: Endpoint, subsets: Sequence[SubsetSpec]) -> list[str]:
    labels = dict(endpoint.labels)
    return [subset.name for subset in subsets if in_subset(labels, subset)]


def gateway_subsets(
    cluster: str,
    usable: Iterable[Endpoint],
    known_clusters: Collection[str],
    subsets: Sequence[SubsetSpec],
) -> list[str]:
    """The subsets worth sending to ``cluster``'s gateway: those of its usable endpoints, or
    all of them when meshfed sees none of its endpoints of the service (its gateway may)."""
    if cluster not in known_clusters:
        return [subset.name for subset in subsets]
    served = {name for e in usable if e.cluster == cluster for name in endpoint_subsets(e, subsets)}
    return [subset.name for subset in subsets if subset.name in served]
