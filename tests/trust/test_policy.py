from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.policy import Action, Decision, Policy, PolicyError, evaluate, parse_pattern
from trust.spiffe_id import SpiffeId, parse_spiffe_id

TD = "acme.mesh"


@pytest.mark.parametrize(
    ("pattern", "spiffe_id", "matches"),
    [
        ("spiffe://acme.mesh/ns/web/sa/frontend", "spiffe://acme.mesh/ns/web/sa/frontend", True),
        ("spiffe://acme.mesh/ns/web/sa/frontend", "spiffe://acme.mesh/ns/web/sa/backend", False),
        ("spiffe://acme.mesh/ns/*/sa/frontend", "spiffe://acme.mesh/ns/api/sa/frontend", True),
        ("spiffe://acme.mesh/ns/*/sa/frontend", "spiffe://acme.mesh/ns/a/b/sa/frontend", False),
        ("spiffe://acme.mesh/ns/*", "spiffe://acme.mesh/ns", False),
        ("spiffe://acme.mesh/ns/**", "spiffe://acme.mesh/ns/web", True),
        ("spiffe://acme.mesh/ns/**", "spiffe://acme.mesh/ns/web/sa/frontend", True),
        ("spiffe://acme.mesh/ns/**", "spiffe://acme.mesh/ns", False),
        ("spiffe://acme.mesh/ns/**", "spiffe://acme.mesh/nsx/web", False),
        ("spiffe://acme.mesh/**", "spiffe://acme.mesh/anything/at/all", True),
        ("spiffe://acme.mesh/**", "spiffe://acme.mesh", False),
        ("spiffe://acme.mesh", "spiffe://acme.mesh", True),
        ("spiffe://acme.mesh/ns/**", "spiffe://partner.example/ns/web", False),
        ("spiffe://acme.mesh/*/*/sa/**", "spiffe://acme.mesh/a/b/sa/c", True),
        ("spiffe://acme.mesh/*/*/sa/**", "spiffe://acme.mesh/a/sa/c", False),
    ],
)
def test_pattern_matching(pattern: str, spiffe_id: str, matches: bool) -> None:
    assert parse_pattern(pattern).matches(parse_spiffe_id(spiffe_id)) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("spiffe://acme.mesh/**/web", "may only end a pattern"),
        ("spiffe://*/ns/web", "disallowed characters"),
        ("spiffe://acme.mesh/ns/we*", "disallowed characters"),
        ("http://acme.mesh/ns", "scheme"),
        ("spiffe://acme.mesh/ns/", "trailing slash"),
    ],
)
def test_malformed_patterns_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_pattern(pattern)


def _policy(
    name: str,
    action: Action,
    sources: tuple[str, ...] = (f"spiffe://{TD}/ns/web/**",),
    to: str = "payments.prod",
    methods: tuple[str, ...] = (),
    paths: tuple[str, ...] = (),
) -> Policy:
    return Policy.build(name, action, to, sources, methods, paths)


FRONTEND = SpiffeId(TD, "/ns/web/sa/frontend")
BATCH = SpiffeId(TD, "/ns/batch/sa/job")


@pytest.mark.parametrize(
    ("policies", "source", "method", "path", "expected"),
    [
        ([_policy("web", "allow")], FRONTEND, None, None, Decision(True, "web", "")),
        ([_policy("web", "allow")], BATCH, None, None, Decision(False, None, "")),
        (
            [_policy("web", "allow"), _policy("no-web", "deny")],
            FRONTEND,
            None,
            None,
            Decision(False, "no-web", ""),
        ),
        (
            [_policy("get", "allow", methods=("get",))],
            FRONTEND,
            "GET",
            "/",
            Decision(True, "get", ""),
        ),
        (
            [_policy("get", "allow", methods=("GET",))],
            FRONTEND,
            "POST",
            "/",
            Decision(False, None, ""),
        ),
        (
            [_policy("get", "allow", methods=("GET",))],
            FRONTEND,
            None,
            None,
            Decision(False, None, ""),
        ),
        (
            [_policy("all", "allow"), _policy("no-post", "deny", methods=("POST",))],
            FRONTEND,
            None,
            None,
            Decision(False, "no-post", ""),
        ),
        (
            [_policy("all", "allow"), _policy("no-post", "deny", methods=("POST",))],
            FRONTEND,
            "GET",
            None,
            Decision(True, "all", ""),
        ),
        (
            [_policy("api", "allow", paths=("/api/*",))],
            FRONTEND,
            "GET",
            "/api/v1/pay",
            Decision(True, "api", ""),
        ),
        (
            [_policy("api", "allow", paths=("/api/*",))],
            FRONTEND,
            "GET",
            "/admin",
            Decision(False, None, ""),
        ),
        (
            [_policy("health", "allow", paths=("/healthz",))],
            FRONTEND,
            "GET",
            "/healthz/x",
            Decision(False, None, ""),
        ),
        (
            [_policy("other", "allow", to="other.prod")],
            FRONTEND,
            None,
            None,
            Decision(False, None, ""),
        ),
    ],
)
def test_policy_decisions(
    policies: list[Policy],
    source: SpiffeId,
    method: str | None,
    path: str | None,
    expected: Decision,
) -> None:
    decision = evaluate(policies, source, "payments.prod", method, path)
    assert (decision.allowed, decision.policy_name) == (expected.allowed, expected.policy_name)
    assert str(source) in decision.reason


def test_service_without_policies_gets_the_configured_default() -> None:
    unrelated = [_policy("other", "allow", to="other.prod")]
    for default in ("allow", "deny"):
        decision = evaluate(unrelated, FRONTEND, "payments.prod", default=default)
        assert decision.allowed is (default == "allow")
        assert f"default {default}" in decision.reason


def test_allow_list_of_a_service_is_closed_even_when_the_default_allows() -> None:
    decision = evaluate([_policy("web", "allow")], BATCH, "payments.prod", default="allow")
    assert not decision.allowed
    assert "add one that lists it in 'from'" in decision.reason


def test_deny_only_policies_leave_other_callers_to_the_default() -> None:
    policies = [_policy("no-web", "deny")]
    assert evaluate(policies, BATCH, "payments.prod", default="allow").allowed
    assert not evaluate(policies, FRONTEND, "payments.prod", default="allow").allowed


def test_policy_without_sources_is_refused() -> None:
    with pytest.raises(PolicyError, match="'from' is empty"):
        Policy.build("empty", "allow", "payments.prod", ())


@pytest.mark.parametrize(
    ("action", "paths", "message"),
    [("permit", (), "must be 'allow' or 'deny'"), ("allow", ("api/*",), "must start with '/'")],
)
def test_malformed_policy_is_refused_naming_it(
    action: str, paths: tuple[str, ...], message: str
) -> None:
    with pytest.raises(PolicyError, match=f"policy 'bad'.*{message}"):
        Policy.build("bad", action, "payments.prod", [str(FRONTEND)], paths=paths)  # type: ignore[arg-type]


def test_bad_pattern_names_its_policy() -> None:
    with pytest.raises(PolicyError, match="policy 'broken'"):
        Policy.build("broken", "allow", "payments.prod", ["spiffe://acme.mesh/**/x"])


# --- properties -------------------------------------------------------------------------

SEGMENTS = st.sampled_from(["ns", "web", "batch", "sa", "frontend", "job"])
IDS = st.lists(SEGMENTS, min_size=1, max_size=4).map(lambda s: SpiffeId(TD, "/" + "/".join(s)))
PATTERN_SEGMENTS = st.sampled_from(["ns", "web", "batch", "sa", "frontend", "*"])
PATTERNS = st.tuples(st.lists(PATTERN_SEGMENTS, max_size=3), st.booleans()).map(
    lambda t: f"spiffe://{TD}" + "".join("/" + s for s in t[0]) + ("/**" if t[1] else "")
)
POLICIES = st.builds(
    _policy,
    name=st.text("abcdef", min_size=1, max_size=3),
    action=st.sampled_from(["allow", "deny"]),
    sources=st.lists(PATTERNS, min_size=1, max_size=2).map(tuple),
    to=st.sampled_from(["payments.prod", "other.prod"]),
    methods=st.lists(st.sampled_from(["GET", "POST"]), max_size=1).map(tuple),
    paths=st.lists(st.sampled_from(["/api/*", "/healthz"]), max_size=1).map(tuple),
)
METHODS = st.sampled_from([None, "GET", "POST"])
PATHS = st.sampled_from([None, "/api/pay", "/healthz"])


@settings(deadline=None)
@given(st.lists(POLICIES, max_size=6), IDS, METHODS, PATHS, st.randoms())
def test_order_of_policies_never_changes_the_decision(
    policies: list[Policy],
    source: SpiffeId,
    method: str | None,
    path: str | None,
    rnd: random.Random,
) -> None:
    shuffled = list(policies)
    rnd.shuffle(shuffled)
    assert evaluate(policies, source, "payments.prod", method, path) == evaluate(
        shuffled, source, "payments.prod", method, path
    )


@settings(deadline=None)
@given(st.lists(POLICIES, max_size=6), IDS, METHODS, PATHS)
def test_a_matching_deny_always_wins(
    policies: list[Policy], source: SpiffeId, method: str | None, path: str | None
) -> None:
    deny = Policy.build("zz-deny", "deny", "payments.prod", [str(source)])
    decision = evaluate([*policies, deny], source, "payments.prod", method, path, default="allow")
    assert not decision.allowed
    assert decision.policy_name is not None
    assert any(p.name == decision.policy_name and p.action == "deny" for p in [*policies, deny])


@settings(deadline=None)
@given(st.lists(SEGMENTS, min_size=1, max_size=3), st.lists(SEGMENTS, min_size=1, max_size=3))
def test_double_star_matches_one_or_more_segments_below_its_prefix(
    prefix: list[str], rest: list[str]
) -> None:
    pattern = parse_pattern(f"spiffe://{TD}/{'/'.join(prefix)}/**")
    assert pattern.matches(SpiffeId(TD, "/" + "/".join(prefix + rest)))
    assert not pattern.matches(SpiffeId(TD, "/" + "/".join(prefix)))


@settings(deadline=None)
@given(st.lists(SEGMENTS, min_size=1, max_size=4), st.data())
def test_star_matches_exactly_one_segment(segments: list[str], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(segments) - 1))
    wild = [*segments[:index], "*", *segments[index + 1 :]]
    pattern = parse_pattern(f"spiffe://{TD}/" + "/".join(wild))
    assert pattern.matches(SpiffeId(TD, "/" + "/".join(segments)))
    longer = [*segments[:index], "x", "y", *segments[index + 1 :]]
    assert not pattern.matches(SpiffeId(TD, "/" + "/".join(longer)))
