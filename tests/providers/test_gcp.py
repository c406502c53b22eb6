"""GcpProvider against the local Compute fake: the real google-cloud-compute client over HTTP."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1
from hypothesis import given
from hypothesis import strategies as st

from providers.base import Endpoint, ProviderError, ProviderErrorKind, Role
from providers.calls import RetryPolicy
from providers.gcp import GcpProvider, instance_endpoints
from providers.labels import MalformedResource
from tests.support.fake_http import Fault, serving
from tests.support.gcp_fake import GcpFake

PROJECT = "acme-prod"
FAST = RetryPolicy(attempts=3, backoff_base=0.01, backoff_max=0.05, retry_after_cap=0.5)
SERVICE_LABELS = {
    "meshfed-cluster": "gcp-euw1",
    "meshfed-role": "service",
    "meshfed-service": "payments--prod",
    "meshfed-port": "9443",
    "team": "payments",
}
GATEWAY_LABELS = {"meshfed-cluster": "gcp-euw1", "meshfed-role": "gateway"}
COMPUTE = "https://www.googleapis.com/compute/v1/projects/acme-prod"


@pytest.fixture
def compute() -> Iterator[GcpFake]:
    fake = GcpFake()
    with serving(fake):
        yield fake


def provider(fake: GcpFake, **options: Any) -> GcpProvider:
    options.setdefault("retry_policy", FAST)
    return GcpProvider(
        "gcp-prod",
        [PROJECT],
        api_endpoint=fake.url,
        credentials=AnonymousCredentials(),
        **options,
    )


def test_labelled_running_instance_is_a_service_endpoint_in_its_zone(compute: GcpFake) -> None:
    compute.add_instance(PROJECT, "pay-1", "europe-west1-b", labels=SERVICE_LABELS, ip="10.0.0.2")

    snapshot = provider(compute).discover()

    assert snapshot.endpoints == (
        Endpoint(
            cluster="gcp-euw1",
            role=Role.SERVICE,
            service="payments.prod",
            address="10.0.0.2",
            port=9443,
            cloud="gcp",
            region="europe-west1",
            zone="europe-west1-b",
            network="default",
            labels=(("team", "payments"),),
            source=f"{COMPUTE}/zones/europe-west1-b/instances/pay-1",
        ),
    )
    assert snapshot.complete and snapshot.warnings == ()


def test_unlabelled_and_stopped_instances_are_left_out(compute: GcpFake) -> None:
    compute.add_instance(PROJECT, "web-1", "europe-west1-b", labels={"team": "web"}, ip="10.0.0.3")
    compute.add_instance(PROJECT, "bare", "europe-west1-b", labels=None, ip="10.0.0.4")
    for status in ("TERMINATED", "STOPPING", "SUSPENDED", "PROVISIONING"):
        compute.add_instance(
            PROJECT, f"pay-{status}", "europe-west1-c", labels=SERVICE_LABELS, ip="10.0.0.5",
            status=status,
        )  # fmt: skip
    compute.add_instance(PROJECT, "pay-up", "europe-west1-d", labels=SERVICE_LABELS, ip="10.0.0.6")

    snapshot = provider(compute).discover()

    assert [e.address for e in snapshot.endpoints] == ["10.0.0.6"]
    assert snapshot.warnings == ()


def test_compute_is_asked_only_for_resources_with_the_cluster_label(compute: GcpFake) -> None:
    provider(compute).discover()

    assert ("instances", "labels.meshfed-cluster:*") in compute.filters
    assert ("forwardingRules", "labels.meshfed-cluster:*") in compute.filters


@pytest.mark.parametrize(
    ("labels", "port_range", "ports", "port"),
    [
        (GATEWAY_LABELS, "15443-15443", None, 15443),
        (GATEWAY_LABELS, "8000-8080", None, 8000),
        (GATEWAY_LABELS, None, ["15443", "15012"], 15443),
        (GATEWAY_LABELS | {"meshfed-port": "15017"}, "15443-15443", None, 15017),
    ],
)
def test_forwarding_rule_port_is_the_label_else_its_own_port(
    compute: GcpFake,
    labels: dict[str, str],
    port_range: str | None,
    ports: list[str] | None,
    port: int,
) -> None:
    compute.add_forwarding_rule(
        PROJECT, "eastwest", "europe-west1", labels=labels, ip="34.77.1.2",
        port_range=port_range, ports=ports,
    )  # fmt: skip

    (endpoint,) = provider(compute).discover().endpoints

    assert endpoint == Endpoint(
        cluster="gcp-euw1",
        role=Role.GATEWAY,
        service=None,
        address="34.77.1.2",
        port=port,
        cloud="gcp",
        region="europe-west1",
        network="default",
        source=f"{COMPUTE}/regions/europe-west1/forwardingRules/eastwest",
    )


def test_annotated_neg_members_are_endpoints_and_unannotated_negs_are_not(
    compute: GcpFake,
) -> None:
    annotations = {k: v for k, v in SERVICE_LABELS.items() if k != "meshfed-port"}
    compute.add_neg(
        PROJECT, "pay-neg", "europe-west1-c", annotations=annotations,
        members=[("10.4.0.7", 8080), ("10.4.0.8", None)], default_port=9090,
    )  # fmt: skip
    compute.add_neg(PROJECT, "other", "europe-west1-c", annotations=None, members=[("10.4.0.9", 1)])

    snapshot = provider(compute, page_size=1).discover()

    assert [(e.address, e.port, e.service, e.zone) for e in snapshot.endpoints] == [
        ("10.4.0.7", 8080, "payments.prod", "europe-west1-c"),
        ("10.4.0.8", 9090, "payments.prod", "europe-west1-c"),
    ]
    neg_path = f"/compute/v1/projects/{PROJECT}/zones/europe-west1-c/networkEndpointGroups/pay-neg"
    listed = [r.path for r in compute.requests if r.path.endswith("/listNetworkEndpoints")]
    assert listed == [f"{neg_path}/listNetworkEndpoints"] * 2  # one member a page


def test_neg_with_malformed_annotations_is_reported_without_listing_it(
    compute: GcpFake,
) -> None:
    annotations = SERVICE_LABELS | {"meshfed-role": "mesh"}
    compute.add_neg(
        PROJECT, "odd", "europe-west1-c", annotations=annotations, members=[("10.4.0.1", 80)]
    )

    snapshot = provider(compute).discover()

    assert snapshot.endpoints == ()
    assert snapshot.warnings == (
        f"gcp network endpoint group {PROJECT}/zones/europe-west1-c/odd skipped:"
        " meshfed-role='mesh' is not a role: set it to gateway or service",
    )
    assert not any(r.path.endswith("/listNetworkEndpoints") for r in compute.requests)


def test_annotated_regional_neg_is_reported_as_unsupported(compute: GcpFake) -> None:
    compute.add_raw(
        PROJECT,
        "networkEndpointGroups",
        "regions/europe-west1",
        {"name": "serverless", "annotations": SERVICE_LABELS, "networkEndpointType": "SERVERLESS"},
    )

    snapshot = provider(compute).discover()

    assert snapshot.endpoints == ()
    assert snapshot.warnings == (
        f"gcp network endpoint group {PROJECT}/regions/europe-west1/serverless skipped:"
        " only zonal NEGs are read; annotate a zonal NEG",
    )


def test_every_project_is_listed(compute: GcpFake) -> None:
    compute.add_instance(PROJECT, "pay-1", "europe-west1-b", labels=SERVICE_LABELS, ip="10.0.0.2")
    compute.add_instance("acme-dr", "pay-1", "us-east1-b", labels=SERVICE_LABELS, ip="10.8.0.2")
    gcp = GcpProvider(
        "gcp-prod", [PROJECT, "acme-dr"], api_endpoint=compute.url,
        credentials=AnonymousCredentials(),
    )  # fmt: skip

    snapshot = gcp.discover()

    assert [(e.address, e.region) for e in snapshot.endpoints] == [
        ("10.0.0.2", "europe-west1"),
        ("10.8.0.2", "us-east1"),
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"meshfed-cluster": ""}, "meshfed-cluster is empty"),
        ({"meshfed-service": ""}, "meshfed-role=service needs meshfed-service"),
        ({"meshfed-port": "0"}, "meshfed-port='0' is not a number from 1 to 65535"),
        ({"meshfed-port": "65536"}, "meshfed-port='65536' is not a number from 1 to 65535"),
        ({"meshfed-port": "https"}, "meshfed-port='https' is not a number"),
        ({"meshfed-role": "sidecar"}, "meshfed-role='sidecar' is not a role"),
        ({"meshfed-role": None}, "meshfed-role is missing"),
        ({"meshfed-weight": "0"}, "meshfed-weight='0' is not a number"),
    ],
)
def test_malformed_instance_is_skipped_with_a_warning_and_the_rest_kept(
    compute: GcpFake, change: dict[str, str | None], problem: str
) -> None:
    labels = {k: v for k, v in (SERVICE_LABELS | change).items() if v is not None}
    compute.add_instance(PROJECT, "broken", "europe-west1-b", labels=labels, ip="10.0.0.9")
    compute.add_instance(PROJECT, "good", "europe-west1-b", labels=SERVICE_LABELS, ip="10.0.0.2")

    snapshot = provider(compute).discover()

    assert [e.address for e in snapshot.endpoints] == ["10.0.0.2"]
    (warning,) = snapshot.warnings
    assert warning.startswith(f"gcp instance {PROJECT}/zones/europe-west1-b/broken skipped: ")
    assert problem in warning
    assert snapshot.complete


def test_instance_without_interface_and_rules_without_port_or_region_are_reported(
    compute: GcpFake,
) -> None:
    compute.add_instance(PROJECT, "no-nic", "europe-west1-b", labels=SERVICE_LABELS, ip="")[
        "networkInterfaces"
    ] = []
    compute.add_forwarding_rule(
        PROJECT, "no-port", "europe-west1", labels=GATEWAY_LABELS, ip="1.2.3.4"
    )

    global_rule = {"name": "anycast", "IPAddress": "34.1.1.1", "labels": GATEWAY_LABELS}
    compute.add_raw(PROJECT, "forwardingRules", "global", global_rule)

    snapshot = provider(compute).discover()

    assert snapshot.endpoints == ()
    assert snapshot.warnings == (
        f"gcp instance {PROJECT}/zones/europe-west1-b/no-nic skipped: it has no network interface",
        f"gcp forwarding rule {PROJECT}/global/anycast skipped: a global forwarding rule has no"
        " region: label a regional one",
        f"gcp forwarding rule {PROJECT}/regions/europe-west1/no-port skipped: meshfed-port is"
        " missing: set it to the mesh port (1-65535)",
    )


def test_unreachable_scope_marks_the_snapshot_incomplete(compute: GcpFake) -> None:
    compute.add_instance(PROJECT, "pay-1", "europe-west1-b", labels=SERVICE_LABELS, ip="10.0.0.2")
    compute.unreachables.append("zones/asia-east1-a")

    snapshot = provider(compute).discover()

    assert not snapshot.complete
    assert len(snapshot.endpoints) == 1
    assert any("zones/asia-east1-a unreachable" in w for w in snapshot.warnings)


def test_three_thousand_resources_over_many_pages_are_all_found(compute: GcpFake) -> None:
    zones = ["europe-west1-b", "europe-west1-c", "us-east1-b", "asia-east1-a"]
    for i in range(1500):
        labels = SERVICE_LABELS | {"meshfed-service": f"svc{i % 7}--prod"}
        ip = f"10.{i // 250}.{i % 250}.1"
        compute.add_instance(PROJECT, f"vm-{i}", zones[i % 4], labels=labels, ip=ip)
        compute.add_instance(PROJECT, f"plain-{i}", zones[i % 4], labels={"a": "b"}, ip=ip)
    for i in range(1000):
        compute.add_forwarding_rule(
            PROJECT, f"fr-{i}", "us-east1", labels=GATEWAY_LABELS, ip=f"34.1.{i // 250}.{i % 250}",
            port_range="15443-15443",
        )  # fmt: skip
    members: list[tuple[str, int | None]] = [(f"10.9.0.{i}", 8080) for i in range(250)]
    for i in range(2):
        compute.add_neg(
            PROJECT, f"neg-{i}", "us-east1-b", annotations=SERVICE_LABELS, members=members
        )

    started = time.monotonic()
    snapshot = provider(compute, page_size=200).discover()
    elapsed = time.monotonic() - started

    assert len(snapshot.endpoints) == 1500 + 1000 + 250  # the two NEGs hold the same members
    assert snapshot.complete and snapshot.warnings == ()
    instance_pages = [r for r in compute.requests if r.path.endswith("/aggregated/instances")]
    assert len(instance_pages) == 8  # 1,500 labelled instances, 200 a page
    assert all(r.query["maxResults"] == "200" for r in instance_pages)
    assert elapsed < 20, f"3,000 resources took {elapsed:.1f}s"


def test_throttling_is_retried_until_compute_answers(compute: GcpFake) -> None:
    compute.add_instance(PROJECT, "pay-1", "europe-west1-b", labels=SERVICE_LABELS, ip="10.0.0.2")
    compute.faults.add(Fault(status=429, retry_after="0.05", path_contains="instances", times=2))

    snapshot = provider(compute).discover()

    assert [e.address for e in snapshot.endpoints] == ["10.0.0.2"]
    assert sum(r.path.endswith("/aggregated/instances") for r in compute.requests) == 3


def test_unavailable_page_three_of_five_fails_the_pass(compute: GcpFake) -> None:
    for i in range(10):
        compute.add_instance(
            PROJECT, f"vm-{i}", "europe-west1-b", labels=SERVICE_LABELS, ip=f"10.0.0.{i}"
        )
    compute.faults.add(Fault(status=503, page=3, path_contains="instances", times=None))

    with pytest.raises(ProviderError) as raised:
        provider(compute, page_size=2).discover()

    assert raised.value.kind is ProviderErrorKind.UNAVAILABLE
    assert f"list instances in project {PROJECT} (page 3) answered 503" in str(raised.value)
    tokens = [r.query.get("pageToken", "") for r in compute.requests]
    assert tokens == ["", "2", "4", "4", "4"]  # pages 1 and 2 once, page 3 for every attempt


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_up_to_the_cap(compute: GcpFake, status: int) -> None:
    compute.faults.add(Fault(status=status, retry_after="60", times=1))
    policy = RetryPolicy(attempts=2, backoff_base=0.001, backoff_max=0.001, retry_after_cap=0.4)

    started = time.monotonic()
    provider(compute, retry_policy=policy).discover()
    elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 3.0


def test_stalled_compute_times_out_within_call_timeout(compute: GcpFake) -> None:
    compute.faults.add(Fault(delay=10, times=None))

    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        provider(
            compute, call_timeout=0.3, retry_policy=RetryPolicy(attempts=2, backoff_base=0.01)
        ).discover()
    elapsed = time.monotonic() - started

    assert raised.value.kind is ProviderErrorKind.TIMEOUT
    # Two 0.3 s attempts; room for a loaded machine, far below the 10 s stall.
    assert elapsed < 5.0
    assert len(compute.requests) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_not_retried(compute: GcpFake, status: int) -> None:
    compute.faults.add(Fault(status=status, times=None))

    with pytest.raises(ProviderError) as raised:
        provider(compute).discover()

    assert raised.value.kind is ProviderErrorKind.AUTH
    assert "roles/compute.viewer" in str(raised.value)
    assert len(compute.requests) == 1


def test_the_sdk_itself_does_not_retry(compute: GcpFake) -> None:
    compute.faults.add(Fault(status=503, times=1))

    with pytest.raises(ProviderError):
        provider(compute, retry_policy=RetryPolicy(attempts=1)).discover()

    assert len(compute.requests) == 1


def test_refused_connection_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the provider connects
    gcp = GcpProvider(
        "gcp-prod", [PROJECT], api_endpoint=f"http://127.0.0.1:{port}",
        credentials=AnonymousCredentials(), retry_policy=RetryPolicy(attempts=1),
    )  # fmt: skip

    with pytest.raises(ProviderError) as raised:
        gcp.discover()

    assert raised.value.kind is ProviderErrorKind.UNAVAILABLE


def test_missing_application_default_credentials_is_an_auth_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    gcp = GcpProvider("gcp-prod", [PROJECT], api_endpoint="http://127.0.0.1:9")

    with pytest.raises(ProviderError) as raised:
        gcp.discover()

    assert raised.value.kind is ProviderErrorKind.AUTH
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(raised.value)


_LABEL_WORD = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@given(parts=st.lists(_LABEL_WORD, min_size=1, max_size=4), port=st.integers(1, 65535))
def test_service_label_dashes_decode_to_dots_on_any_valid_port(parts: list[str], port: int) -> None:
    labels = SERVICE_LABELS | {"meshfed-service": "--".join(parts), "meshfed-port": str(port)}

    (endpoint,) = instance_endpoints(_instance(labels))

    assert (endpoint.service, endpoint.port) == (".".join(parts), port)


@given(port=st.one_of(st.integers(max_value=0), st.integers(min_value=65536)))
def test_port_label_outside_the_port_range_is_malformed(port: int) -> None:
    with pytest.raises(MalformedResource, match="meshfed-port"):
        instance_endpoints(_instance(SERVICE_LABELS | {"meshfed-port": str(port)}))


def _instance(labels: dict[str, str]) -> compute_v1.Instance:
    return compute_v1.Instance(
        name="vm",
        zone=f"{COMPUTE}/zones/europe-west1-b",
        status="RUNNING",
        labels=labels,
        self_link=f"{COMPUTE}/zones/europe-west1-b/instances/vm",
        network_interfaces=[
            compute_v1.NetworkInterface(
                network=f"{COMPUTE}/global/networks/default", network_i_p="10.0.0.2"
            )
        ],
    )
