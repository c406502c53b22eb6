"""Authorization policies: which SPIFFE IDs may call which service.

Patterns are SPIFFE IDs whose path segments may be ``*`` (exactly one segment) or, as the last
segment only, ``**`` (one or more segments, never zero: ``spiffe://td/ns/**`` matches
``spiffe://td/ns/web`` but not ``spiffe://td/ns``, so a pattern for "everything under a
prefix" never also grants the prefix itself). The trust domain is always literal, because
trusting "any trust domain" would erase the boundary federation relies on.

Decision rules, independent of policy order:
1. a matching deny policy wins over any allow;
2. else a matching allow policy allows;
3. else, when some allow policy targets the service, the request is denied (its allow list
   is closed); when none does, the configured default applies.
A deny policy whose method or path cannot be known (``None``, e.g. plain TCP) applies anyway,
and an allow policy restricted by method or path does not: unknown attributes fail closed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from trust.spiffe_id import InvalidSpiffeIdError, SpiffeId, parse_spiffe_id

Action = Literal["allow", "deny"]
ONE_SEGMENT = "*"
REST = "**"


class PolicyError(ValueError):
    """A policy is malformed."""


@dataclass(frozen=True, slots=True)
class SpiffeIdPattern:
    trust_domain: str
    segments: tuple[str, ...]

    def matches(self, spiffe_id: SpiffeId) -> bool:
        if spiffe_id.trust_domain != self.trust_domain:
            return False
        actual = spiffe_id.segments
        if self.segments and self.segments[-1] == REST:
            fixed = self.segments[:-1]
            return len(actual) > len(fixed) and _segments_match(fixed, actual[: len(fixed)])
        return len(actual) == len(self.segments) and _segments_match(self.segments, actual)

    def __str__(self) -> str:
        return "spiffe://" + "/".join((self.trust_domain, *self.segments))


def parse_pattern(text: str) -> SpiffeIdPattern:
    # Wildcards are swapped for a legal placeholder so the SPIFFE-ID grammar checks the rest.
    placeholder = "x"
    head, sep, path = text.partition("://")
    parts = path.split("/")
    swapped = parts[:1] + [placeholder if p in (ONE_SEGMENT, REST) else p for p in parts[1:]]
    try:
        parsed = parse_spiffe_id(head + sep + "/".join(swapped))
    except InvalidSpiffeIdError as exc:
        raise PolicyError(
            f"pattern {text!r} is not a SPIFFE ID pattern: {exc.problem}; {exc.fix} "
            f"('{ONE_SEGMENT}' = one segment, '{REST}' = the rest)"
        ) from None
    segments = tuple(parts[1:])
    if REST in segments[:-1]:
        raise PolicyError(
            f"pattern {text!r} has '{REST}' before the last segment: it may only end a pattern"
        )
    return SpiffeIdPattern(parsed.trust_domain, segments)


@dataclass(frozen=True, slots=True)
class Policy:
    """``from_`` is the config's ``from`` (a Python keyword): SPIFFE ID patterns of callers."""

    name: str
    action: Action
    to: str
    from_: tuple[SpiffeIdPattern, ...]
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.action not in ("allow", "deny"):
            raise PolicyError(
                f"policy {self.name!r}: action {self.action!r} must be 'allow' or 'deny'"
            )
        if not self.from_:
            raise PolicyError(f"policy {self.name!r}: 'from' is empty; list at least one pattern")
        for path in self.paths:
            if not path.startswith("/"):
                raise PolicyError(f"policy {self.name!r}: path {path!r} must start with '/'")

    @classmethod
    def build(
        cls,
        name: str,
        action: Action,
        to: str,
        from_: Iterable[str],
        methods: Iterable[str] = (),
        paths: Iterable[str] = (),
    ) -> Policy:
        try:
            patterns = tuple(parse_pattern(p) for p in from_)
        except PolicyError as exc:
            raise PolicyError(f"policy {name!r}: {exc}") from None
        return cls(name, action, to, patterns, tuple(m.upper() for m in methods), tuple(paths))

    def matches(self, source: SpiffeId, service: str, method: str | None, path: str | None) -> bool:
        if self.to != service or not any(p.matches(source) for p in self.from_):
            return False
        unknown_matches = self.action == "deny"
        return _attribute_matches(
            self.methods, method.upper() if method else None, unknown_matches, operator.eq
        ) and _attribute_matches(self.paths, path, unknown_matches, _path_matches)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    policy_name: str | None
    reason: str


def evaluate(
    policies: Sequence[Policy],
    source_id: SpiffeId,
    destination_service: str,
    method: str | None = None,
    path: str | None = None,
    default: Action = "deny",
) -> Decision:
    matching = [p for p in policies if p.matches(source_id, destination_service, method, path)]
    # Ties are broken by name, not position, so reordering policies never changes a decision.
    for action in ("deny", "allow"):
        names = sorted(p.name for p in matching if p.action == action)
        if names:
            return Decision(
                action == "allow",
                names[0],
                f"{source_id} -> {destination_service}: {action} by policy {names[0]!r}",
            )
    if any(p.action == "allow" and p.to == destination_service for p in policies):
        return Decision(
            False,
            None,
            f"{source_id} -> {destination_service}: denied, no allow policy for "
            f"{destination_service} matches this caller; add one that lists it in 'from'",
        )
    return Decision(
        default == "allow",
        None,
        f"{source_id} -> {destination_service}: no policy targets {destination_service}; "
        f"default {default}",
    )


def _segments_match(pattern: Sequence[str], actual: Sequence[str]) -> bool:
    return all(p in (ONE_SEGMENT, a) for p, a in zip(pattern, actual, strict=True))


def _path_matches(pattern: str, path: str) -> bool:
    # A trailing "*" makes a prefix match; anything else is exact (no other globbing).
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def _attribute_matches(
    allowed: tuple[str, ...],
    value: str | None,
    unknown_matches: bool,
    match: Callable[[str, str], bool],
) -> bool:
    if not allowed:
        return True
    if value is None:
        return unknown_matches
    return any(match(a, value) for a in allowed)
