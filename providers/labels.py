"""The meshfed-* label/tag rules that GCP labels and Azure tags share.

Both clouds use the dashed spelling (``meshfed-cluster``, ``meshfed-role``, …) because GCP labels
allow neither ``/`` nor ``.`` and Azure tag names may not contain ``/``. A resource opts in by
carrying the ``meshfed-cluster`` key; everything else about it is then checked here, so a
malformed resource is reported the same way whichever cloud it lives in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from providers.base import Endpoint, Role, Snapshot

PREFIX = "meshfed-"
CLUSTER = "meshfed-cluster"
ROLE = "meshfed-role"
SERVICE = "meshfed-service"
PORT = "meshfed-port"
WEIGHT = "meshfed-weight"

# GCP label values may not contain ".", so a service name such as payments.prod is written
# payments--prod there; Azure tag values keep the dot.
GCP_DOT = "--"


class MalformedResource(ValueError):
    """A resource opted in with meshfed-cluster but cannot become an endpoint as it stands."""


@dataclass(frozen=True, slots=True)
class MeshLabels:
    cluster: str
    role: Role
    service: str | None
    port: int | None
    weight: int
    others: tuple[tuple[str, str], ...]  # the resource's non-meshfed labels, sorted


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a resource lives, in the cloud's own words."""

    cloud: str
    region: str
    zone: str = ""
    network: str = ""


def is_mesh_resource(labels: Mapping[str, str] | None) -> bool:
    return labels is not None and CLUSTER in labels


def parse_mesh_labels(labels: Mapping[str, str], *, dots_as_dashes: bool) -> MeshLabels:
    """Read the meshfed-* keys of a resource that opted in. ``dots_as_dashes`` is True for GCP,
    whose service label spells ``.`` as ``--``. Raises MalformedResource naming the key,
    the value and the fix."""
    cluster = labels.get(CLUSTER, "").strip()
    if not cluster:
        raise MalformedResource(f"{CLUSTER} is empty: set it to the meshfed cluster name")
    role = _role(labels.get(ROLE))
    service = labels.get(SERVICE, "").strip() or None
    if service is not None and dots_as_dashes:
        service = service.replace(GCP_DOT, ".")
    if role is Role.SERVICE and service is None:
        raise MalformedResource(
            f"{ROLE}=service needs {SERVICE}: set it to the service name (e.g. payments.prod)"
        )
    if role is Role.GATEWAY:
        service = None  # a gateway carries every service of its cluster
    port = _number(labels, PORT, low=1, high=65535) if PORT in labels else None
    weight = _number(labels, WEIGHT, low=1, high=1_000_000) if WEIGHT in labels else 1
    others = tuple(sorted((k, v) for k, v in labels.items() if not k.startswith(PREFIX)))
    return MeshLabels(cluster, role, service, port, weight, others)


def endpoint_for(
    mesh: MeshLabels,
    *,
    address: str,
    placement: Placement,
    source: str,
    cloud_port: int | None = None,
) -> Endpoint:
    """One endpoint from a resource's labels. ``meshfed-port`` wins over ``cloud_port`` (what the
    resource itself states, e.g. a forwarding rule's port range), because the label is the
    operator's explicit word for the mesh port."""
    port = mesh.port if mesh.port is not None else cloud_port
    if port is None:
        raise MalformedResource(f"{PORT} is missing: set it to the mesh port (1-65535)")
    if not address:
        raise MalformedResource(
            f"the resource has no IP address: give it one, or remove its {CLUSTER} label or tag"
        )
    return Endpoint(
        cluster=mesh.cluster,
        role=mesh.role,
        service=mesh.service,
        address=address,
        port=port,
        cloud=placement.cloud,
        region=placement.region,
        zone=placement.zone,
        network=placement.network,
        weight=mesh.weight,
        labels=mesh.others,
        source=source,
    )


def _role(value: str | None) -> Role:
    if value is None:
        raise MalformedResource(f"{ROLE} is missing: set it to gateway or service")
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise MalformedResource(
            f"{ROLE}={value!r} is not a role: set it to gateway or service"
        ) from None


def _number(labels: Mapping[str, str], key: str, *, low: int, high: int) -> int:
    raw = labels[key].strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise MalformedResource(f"{key}={raw!r} is not a number from {low} to {high}: fix it")
    return int(raw)


@dataclass(slots=True)
class Harvest:
    """Collects one discovery pass: a malformed resource becomes a warning naming it, and the
    rest of the pass goes on."""

    provider: str
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True

    def add(self, resource: str, build: Callable[[], Iterable[Endpoint]]) -> None:
        try:
            built = list(build())
        except MalformedResource as exc:
            self.warnings.append(f"{resource} skipped: {exc}")
            return
        for endpoint in built:
            # The same endpoint seen through two resources (an Azure public IP and the load
            # balancer it fronts) is one endpoint; the first resource listed names it.
            self.endpoints.setdefault(endpoint.key, endpoint)

    def incomplete(self, warning: str) -> None:
        self.complete = False
        self.warnings.append(warning)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            provider=self.provider,
            endpoints=tuple(self.endpoints.values()),
            complete=self.complete,
            warnings=tuple(self.warnings),
        )
