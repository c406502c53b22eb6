from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.gateway.sni import (
    InvalidRouteError,
    RouteName,
    UnknownRouteNameError,
    format_route_name,
    parse_route_name,
)


@pytest.mark.parametrize(
    ("server_name", "route"),
    [
        (
            "outbound_.8080_._.payments.prod.svc.cluster.local",
            RouteName("payments.prod", 8080, None),
        ),
        (
            "outbound_.443_.v2_.svc-a.ns.svc.cluster.local",
            RouteName("svc-a.ns", 443, "v2"),
        ),
        ("outbound_.65535_._.a.b.svc.cluster.local", RouteName("a.b", 65535, None)),
        ("payments.prod.svc.cluster.local", RouteName("payments.prod")),
        ("Payments.PROD.svc.Cluster.Local", RouteName("payments.prod")),
        (
            "OUTBOUND_.9443_.Canary_.payments.prod.svc.cluster.local",
            RouteName("payments.prod", 9443, "canary"),
        ),
    ],
)
def test_route_names_parse_to_service_port_and_subset(server_name: str, route: RouteName) -> None:
    assert parse_route_name(server_name) == route


@pytest.mark.parametrize(
    "server_name",
    [
        "",
        "example.com",
        "payments.svc.cluster.local",  # no namespace
        "a.b.c.svc.cluster.local",  # three labels is not name.namespace
        "payments.prod.svc.cluster.local.",
        "outbound_.0_._.payments.prod.svc.cluster.local",
        "outbound_.08080_._.payments.prod.svc.cluster.local",
        "outbound_.65536_._.payments.prod.svc.cluster.local",
        "outbound_.8080_.payments.prod.svc.cluster.local",  # subset section missing
        "outbound_._._.payments.prod.svc.cluster.local",  # port missing
        "inbound_.8080_._.payments.prod.svc.cluster.local",
        "outbound_.8080_.-v2_.payments.prod.svc.cluster.local",
        "outbound_.8080_._.payments.prod.svc.cluster.local.evil.com",
        "pay_ments.prod.svc.cluster.local",
        "-payments.prod.svc.cluster.local",
    ],
)
def test_other_names_are_unknown_route_names(server_name: str) -> None:
    with pytest.raises(UnknownRouteNameError, match="unknown route name"):
        parse_route_name(server_name)


def test_unknown_route_error_shows_the_name_and_the_expected_forms() -> None:
    with pytest.raises(UnknownRouteNameError) as caught:
        parse_route_name("example.com")
    assert "'example.com'" in str(caught.value)
    assert "outbound_.<port>_.<subset>_." in str(caught.value)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (RouteName("payments"), "name.namespace"),
        (RouteName("payments.prod", None, "v2"), "needs a port"),
        (RouteName("payments.prod", 0), "outside"),
        (RouteName("payments.prod", 443, ""), "subset"),
        (RouteName("payments.prod", 443, "V2"), "subset"),
    ],
)
def test_routes_no_name_can_spell_are_refused(route: RouteName, message: str) -> None:
    with pytest.raises(InvalidRouteError, match=message):
        format_route_name(route)


LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)
ROUTES = st.one_of(
    st.builds(RouteName, st.builds("{}.{}".format, LABEL, LABEL)),
    st.builds(
        RouteName,
        st.builds("{}.{}".format, LABEL, LABEL),
        st.integers(min_value=1, max_value=65535),
        st.none() | LABEL,
    ),
)


@given(ROUTES)
def test_formatted_route_names_parse_back_to_the_same_route(route: RouteName) -> None:
    assert parse_route_name(format_route_name(route)) == route


@given(ROUTES)
def test_parsed_route_names_format_back_to_the_same_lower_case_name(route: RouteName) -> None:
    name = format_route_name(route)
    assert format_route_name(parse_route_name(name.upper())) == name
