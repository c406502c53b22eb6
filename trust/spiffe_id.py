"""SPIFFE IDs: parsing and validation per the SPIFFE-ID specification (section 2)."""

from __future__ import annotations

import string
from dataclasses import dataclass

SCHEME_PREFIX = "spiffe://"
# SPIFFE-ID 2.3: URIs are capped at 2048 bytes; 2.1: trust domain names follow DNS' 255.
MAX_ID_BYTES = 2048
MAX_TRUST_DOMAIN_LENGTH = 255

_TRUST_DOMAIN_CHARS = frozenset(string.ascii_lowercase + string.digits + ".-_")
_PATH_SEGMENT_CHARS = frozenset(string.ascii_letters + string.digits + ".-_")


class InvalidSpiffeIdError(ValueError):
    """A SPIFFE ID or trust domain name breaks the SPIFFE-ID specification."""

    def __init__(self, value: str, problem: str, fix: str) -> None:
        self.value = value
        self.problem = problem
        self.fix = fix
        super().__init__(f"invalid SPIFFE ID {value!r}: {problem}; {fix}")


@dataclass(frozen=True, slots=True, order=True)
class SpiffeId:
    """A validated SPIFFE ID; ``path`` is "" (the trust domain itself) or "/seg/seg"."""

    trust_domain: str
    path: str = ""

    def __post_init__(self) -> None:
        validate_trust_domain(self.trust_domain)
        _validate_path(str(self), self.path)
        if len(str(self).encode()) > MAX_ID_BYTES:
            raise InvalidSpiffeIdError(
                str(self)[:64] + "…",
                f"it is longer than {MAX_ID_BYTES} bytes (SPIFFE-ID 2.3)",
                "shorten the path",
            )

    def __str__(self) -> str:
        return f"{SCHEME_PREFIX}{self.trust_domain}{self.path}"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.split("/")[1:]) if self.path else ()

    def member_of(self, trust_domain: str) -> bool:
        return self.trust_domain == trust_domain


def validate_trust_domain(name: str) -> str:
    """Return ``name`` when it is a valid trust domain name, else raise."""
    if not name:
        raise InvalidSpiffeIdError(
            name, "the trust domain is empty", "give a name such as 'example.org'"
        )
    if len(name) > MAX_TRUST_DOMAIN_LENGTH:
        raise InvalidSpiffeIdError(
            name,
            f"the trust domain is longer than {MAX_TRUST_DOMAIN_LENGTH} characters",
            "use a shorter name",
        )
    if ":" in name:
        raise InvalidSpiffeIdError(
            name, "the trust domain carries a port", "drop ':PORT' (SPIFFE-ID 2.1 allows no port)"
        )
    if "@" in name:
        raise InvalidSpiffeIdError(
            name, "the trust domain carries userinfo", "drop 'USER@' (SPIFFE-ID 2.1)"
        )
    bad = sorted({c for c in name if c not in _TRUST_DOMAIN_CHARS})
    if bad:
        hint = (
            "write the trust domain in lowercase"
            if any(c.isupper() for c in bad)
            else "use only a-z, 0-9, '.', '-' and '_'"
        )
        raise InvalidSpiffeIdError(
            name, f"the trust domain contains disallowed characters {''.join(bad)!r}", hint
        )
    return name


def parse_spiffe_id(value: str) -> SpiffeId:
    """Parse ``spiffe://trust-domain/path`` strictly; raise InvalidSpiffeIdError otherwise."""
    if not value:
        raise InvalidSpiffeIdError(
            value, "it is empty", "give an ID such as 'spiffe://example.org/ns/web'"
        )
    if len(value.encode()) > MAX_ID_BYTES:
        raise InvalidSpiffeIdError(
            value[:64] + "…", f"it is longer than {MAX_ID_BYTES} bytes", "shorten the path"
        )
    if not value.startswith(SCHEME_PREFIX):
        fix = (
            "write the scheme in lowercase: 'spiffe://'"
            if value.lower().startswith(SCHEME_PREFIX)
            else "start the ID with 'spiffe://'"
        )
        raise InvalidSpiffeIdError(value, "the scheme is not 'spiffe'", fix)
    rest = value[len(SCHEME_PREFIX) :]
    for mark, part in (("?", "query"), ("#", "fragment")):
        if mark in rest:
            raise InvalidSpiffeIdError(
                value, f"it has a {part}", f"remove everything from {mark!r} (SPIFFE-ID 2.2)"
            )
    trust_domain, slash, path = rest.partition("/")
    try:
        validate_trust_domain(trust_domain)
    except InvalidSpiffeIdError as exc:
        raise InvalidSpiffeIdError(value, exc.problem, exc.fix) from None
    return SpiffeId(trust_domain, slash + path)


def _validate_path(whole: str, path: str) -> None:
    if not path:
        return
    if not path.startswith("/"):
        raise InvalidSpiffeIdError(whole, "the path does not start with '/'", "prefix it with '/'")
    if path.endswith("/"):
        raise InvalidSpiffeIdError(
            whole, "the path ends with '/'", "remove the trailing slash (SPIFFE-ID 2.2)"
        )
    for segment in path[1:].split("/"):
        if not segment:
            raise InvalidSpiffeIdError(
                whole, "the path has an empty segment ('//')", "collapse the double slash"
            )
        if segment in (".", ".."):
            raise InvalidSpiffeIdError(
                whole,
                f"the path has a {segment!r} segment",
                "write the resolved path; SPIFFE-ID 2.2 forbids relative segments",
            )
        bad = sorted({c for c in segment if c not in _PATH_SEGMENT_CHARS})
        if bad:
            raise InvalidSpiffeIdError(
                whole,
                f"path segment {segment!r} contains disallowed characters {''.join(bad)!r}",
                "use only A-Z, a-z, 0-9, '.', '-' and '_' (no percent-encoding)",
            )
