from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.spiffe_id import (
    MAX_ID_BYTES,
    InvalidSpiffeIdError,
    SpiffeId,
    parse_spiffe_id,
    validate_trust_domain,
)

TD_CHARS = string.ascii_lowercase + string.digits + ".-_"
SEGMENT_CHARS = string.ascii_letters + string.digits + ".-_"

trust_domains = st.text(TD_CHARS, min_size=1, max_size=40)
segments = st.text(SEGMENT_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
paths = st.lists(segments, max_size=6).map(lambda segs: "".join("/" + s for s in segs))


@pytest.mark.parametrize(
    ("text", "trust_domain", "path"),
    [
        ("spiffe://example.org", "example.org", ""),
        ("spiffe://example.org/ns/web/sa/frontend", "example.org", "/ns/web/sa/frontend"),
        ("spiffe://a_b-c.9/A.b-C_9", "a_b-c.9", "/A.b-C_9"),
        ("spiffe://td/...", "td", "/..."),
    ],
)
def test_valid_ids_parse_into_trust_domain_and_path(
    text: str, trust_domain: str, path: str
) -> None:
    assert parse_spiffe_id(text) == SpiffeId(trust_domain, path)


@pytest.mark.parametrize(
    ("text", "problem", "fix"),
    [
        ("", "empty", "spiffe://"),
        ("https://example.org/web", "scheme", "start the ID with 'spiffe://'"),
        ("SPIFFE://example.org/web", "scheme", "lowercase"),
        ("spiffe://", "trust domain is empty", "example.org"),
        ("spiffe:///web", "trust domain is empty", "example.org"),
        ("spiffe://Example.org/web", "disallowed characters 'E'", "lowercase"),
        ("spiffe://exa mple/web", "disallowed characters ' '", "a-z"),
        ("spiffe://example.org:8443/web", "port", ":PORT"),
        ("spiffe://user@example.org/web", "userinfo", "USER@"),
        ("spiffe://example.org/web?x=1", "query", "'?'"),
        ("spiffe://example.org/web#frag", "fragment", "'#'"),
        ("spiffe://example.org/", "ends with '/'", "trailing slash"),
        ("spiffe://example.org/web/", "ends with '/'", "trailing slash"),
        ("spiffe://example.org//web", "empty segment", "double slash"),
        ("spiffe://example.org/./web", "'.' segment", "relative"),
        ("spiffe://example.org/web/..", "'..' segment", "relative"),
        ("spiffe://example.org/we%20b", "'%'", "percent-encoding"),
        ("spiffe://example.org/wéb", "disallowed characters", "A-Z"),
    ],
)
def test_invalid_ids_are_refused_with_problem_and_fix(text: str, problem: str, fix: str) -> None:
    with pytest.raises(InvalidSpiffeIdError) as caught:
        parse_spiffe_id(text)
    assert problem in caught.value.problem
    assert fix in caught.value.fix
    assert repr(text) in str(caught.value)


def test_ids_longer_than_2048_bytes_are_refused() -> None:
    prefix = "spiffe://td/"
    at_limit = prefix + "a" * (MAX_ID_BYTES - len(prefix))
    assert str(parse_spiffe_id(at_limit)) == at_limit
    with pytest.raises(InvalidSpiffeIdError, match="2048"):
        parse_spiffe_id(at_limit + "a")


def test_trust_domain_longer_than_255_characters_is_refused() -> None:
    validate_trust_domain("a" * 255)
    with pytest.raises(InvalidSpiffeIdError, match="255"):
        validate_trust_domain("a" * 256)


def test_constructing_an_invalid_spiffe_id_directly_is_refused() -> None:
    with pytest.raises(InvalidSpiffeIdError, match="trailing slash"):
        SpiffeId("example.org", "/web/")
    with pytest.raises(InvalidSpiffeIdError, match="lowercase"):
        SpiffeId("Example.org", "/web")


@settings(deadline=None)
@given(trust_domains, paths)
def test_every_valid_id_round_trips_through_its_string(trust_domain: str, path: str) -> None:
    spiffe_id = SpiffeId(trust_domain, path)
    assert parse_spiffe_id(str(spiffe_id)) == spiffe_id
    assert spiffe_id.segments == tuple(path.split("/")[1:] if path else ())


@settings(deadline=None)
@given(trust_domains, paths, st.characters(exclude_characters=TD_CHARS + "/?#:@"))
def test_any_character_outside_the_trust_domain_alphabet_is_refused(
    trust_domain: str, path: str, bad: str
) -> None:
    with pytest.raises(InvalidSpiffeIdError, match="trust domain"):
        parse_spiffe_id(f"spiffe://{trust_domain}{bad}{path}")


@settings(deadline=None)
@given(trust_domains, paths, st.characters(exclude_characters=SEGMENT_CHARS + "/?#"))
def test_any_character_outside_the_path_alphabet_is_refused(
    trust_domain: str, path: str, bad: str
) -> None:
    with pytest.raises(InvalidSpiffeIdError, match="path segment"):
        parse_spiffe_id(f"spiffe://{trust_domain}{path}/x{bad}y")


@settings(deadline=None)
@given(st.one_of(st.text(max_size=60), st.text(max_size=40).map(lambda s: "spiffe://" + s)))
def test_arbitrary_text_either_round_trips_exactly_or_is_refused(text: str) -> None:
    try:
        parsed = parse_spiffe_id(text)
    except InvalidSpiffeIdError:
        return
    assert str(parsed) == text
