"""StaticProvider: exactly the configured endpoints, each key once."""

from __future__ import annotations

import pytest

from providers.base import Endpoint, Health, Provider, Role
from providers.static import DuplicateEndpoint, StaticProvider


def endpoint(port: int, health: Health = Health.UNKNOWN) -> Endpoint:
    return Endpoint(
        cluster="gcp-euw1",
        role=Role.SERVICE,
        service="payments.prod",
        address="127.0.0.1",
        port=port,
        cloud="static",
        region="europe-west1",
        health=health,
    )


def test_snapshot_is_exactly_the_configured_endpoints_with_their_health() -> None:
    given = [endpoint(9443, Health.HEALTHY), endpoint(9444, Health.DRAINING)]

    provider: Provider = StaticProvider("local", given)
    snapshot = provider.discover()

    assert snapshot.provider == "local"
    assert snapshot.endpoints == tuple(given)
    assert snapshot.complete and snapshot.warnings == ()


def test_the_same_endpoint_twice_is_refused_at_construction_naming_both_entries() -> None:
    with pytest.raises(DuplicateEndpoint) as raised:
        StaticProvider("local", [endpoint(9443), endpoint(9444), endpoint(9443, Health.HEALTHY)])

    message = str(raised.value)
    assert "'local'" in message
    assert "endpoints[2] repeats endpoints[0]" in message
    assert "gcp-euw1/service/payments.prod/127.0.0.1:9443" in message
