"""Checks that span sections: unique names and references between them.

They run on the plain document (not the model), so a file with a type error in one place
still has its dangling references reported in the same pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from federation.problems import Problem, join_path
from geo import RegionCatalog, UnknownRegionError
from trust.spiffe_id import InvalidSpiffeIdError, parse_spiffe_id, validate_trust_domain

_NAMED_SECTIONS = ("clusters", "providers", "services", "policies")


def cross_check(data: dict[str, Any]) -> list[Problem]:
    names = {section: _names(data.get(section)) for section in _NAMED_SECTIONS}
    problems = [*_duplicates(names)]
    problems += _duplicates({"api.tokens": _names(_dict(data.get("api")).get("tokens"))})
    clusters = set(names["clusters"].values())
    services = set(names["services"].values())
    problems += _service_references(data, clusters)
    problems += _subset_duplicates(data)
    problems += _provider_references(data, clusters, services)
    problems += _policy_references(data, services)
    problems += _trust_references(data)
    problems += _region_references(data)
    return problems


def _names(section: Any) -> dict[int, str]:
    return {
        i: item["name"]
        for i, item in enumerate(section if isinstance(section, list) else [])
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _duplicates(names: dict[str, dict[int, str]]) -> Iterator[Problem]:
    for section, by_index in names.items():
        seen: dict[str, int] = {}
        for index, name in by_index.items():
            if name in seen:
                yield Problem(
                    f"{section}[{index}].name",
                    f"duplicate name '{name}' (also {section}[{seen[name]}])",
                    "names must be unique within a section: rename one",
                )
            seen.setdefault(name, index)


def _unknown(path: str, what: str, name: str, known: set[str]) -> Problem:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        hint = f"did you mean '{close[0]}'?"
    elif known:
        hint = f"define it, or use one of: {', '.join(sorted(known))}"
    else:
        hint = f"define the {what} first"
    return Problem(path, f"unknown {what} '{name}'", hint)


def _service_references(data: dict[str, Any], clusters: set[str]) -> Iterator[Problem]:
    for i, service in enumerate(_items(data.get("services"))):
        routing = _dict(_dict(service).get("routing"))
        base = f"services[{i}].routing"
        for name in _dict(routing.get("weights")):
            if name not in clusters:
                yield _unknown(f"{base}.weights.{name}", "cluster", str(name), clusters)
        for k, entry in enumerate(_items(routing.get("failover"))):
            group = {entry: 1} if isinstance(entry, str) else _dict(entry)
            for name in group:
                if name not in clusters:
                    where = f"{base}.failover[{k}]" + ("" if isinstance(entry, str) else f".{name}")
                    yield _unknown(where, "cluster", str(name), clusters)
        for k, rule in enumerate(_items(routing.get("canary"))):
            target = _dict(rule).get("cluster")
            if isinstance(target, str) and target not in clusters:
                yield _unknown(f"{base}.canary[{k}].cluster", "cluster", target, clusters)
        mode = routing.get("mode", "geo")
        if mode == "weighted" and not routing.get("weights"):
            yield Problem(f"{base}.weights", "weighted routing needs weights", "add weights")
        if mode == "failover" and not routing.get("failover"):
            yield Problem(f"{base}.failover", "failover routing needs a failover list", "add it")


def _subset_duplicates(data: dict[str, Any]) -> Iterator[Problem]:
    # The model checks each subset on its own; only uniqueness spans a service's subsets.
    services = _items(data.get("services"))
    return _duplicates(
        {f"services[{i}].subsets": _names(_dict(s).get("subsets")) for i, s in enumerate(services)}
    )


def _provider_references(
    data: dict[str, Any], clusters: set[str], services: set[str]
) -> Iterator[Problem]:
    for i, provider in enumerate(_items(data.get("providers"))):
        seen: dict[tuple[Any, ...], int] = {}
        for k, endpoint in enumerate(_items(_dict(provider).get("endpoints"))):
            endpoint = _dict(endpoint)
            base = f"providers[{i}].endpoints[{k}]"
            identity = tuple(
                endpoint.get(f) for f in ("cluster", "role", "service", "address", "port")
            )
            if identity in seen:
                yield Problem(
                    base,
                    f"the same endpoint as providers[{i}].endpoints[{seen[identity]}]",
                    "list each endpoint once",
                )
            seen.setdefault(identity, k)
            cluster = endpoint.get("cluster")
            if isinstance(cluster, str) and cluster not in clusters:
                yield _unknown(f"{base}.cluster", "cluster", cluster, clusters)
            service = endpoint.get("service")
            if endpoint.get("role", "service") == "service":
                if service is None:
                    yield Problem(f"{base}.service", "a service endpoint needs 'service'", "add it")
                elif isinstance(service, str) and service not in services:
                    yield _unknown(f"{base}.service", "service", service, services)


def _policy_references(data: dict[str, Any], services: set[str]) -> Iterator[Problem]:
    for i, policy in enumerate(_items(data.get("policies"))):
        policy = _dict(policy)
        target = policy.get("to")
        if isinstance(target, str) and target not in services:
            yield _unknown(f"policies[{i}].to", "service", target, services)
        for k, pattern in enumerate(_items(policy.get("from"))):
            if isinstance(pattern, str):
                problem = spiffe_pattern_problem(pattern)
                if problem:
                    yield Problem(f"policies[{i}].from[{k}]", problem, _SPIFFE_HINT)


_SPIFFE_HINT = "write spiffe://TRUST-DOMAIN/PATH; '*' matches one segment, '**' the rest"


def spiffe_pattern_problem(pattern: str) -> str | None:
    """None when ``pattern`` is a SPIFFE ID whose path segments may be '*' or '**'."""
    head, _, path = pattern.partition("://")
    domain, _, rest = path.partition("/")
    segments = rest.split("/") if rest else []
    if "**" in segments[:-1]:
        return f"'**' must be the last segment of {pattern!r}"
    concrete = "/".join("x" if s in ("*", "**") else s for s in segments)
    try:
        parse_spiffe_id(f"{head}://{domain}" + (f"/{concrete}" if segments else ""))
    except InvalidSpiffeIdError as exc:
        return str(exc)
    return None


@cache
def _catalog() -> RegionCatalog:
    return RegionCatalog.load()


def _region_problem(path: str, cloud: Any, code: Any) -> Iterator[Problem]:
    if isinstance(cloud, str) and isinstance(code, str) and cloud in ("aws", "gcp", "azure"):
        try:
            _catalog().get(cloud, code)
        except UnknownRegionError as exc:
            yield Problem(path, str(exc), "use a public region code of that cloud")


def _region_references(data: dict[str, Any]) -> Iterator[Problem]:
    for i, cluster in enumerate(_items(data.get("clusters"))):
        cluster = _dict(cluster)
        yield from _region_problem(
            f"clusters[{i}].region", cluster.get("cloud"), cluster.get("region")
        )
    default = _dict(data.get("geoip")).get("default_location")
    if isinstance(default, str) and default.count(":") == 1:
        yield from _region_problem("geoip.default_location", *default.split(":"))


def _trust_domain_problem(path: str, value: Any) -> Iterator[Problem]:
    if isinstance(value, str):
        try:
            validate_trust_domain(value)
        except InvalidSpiffeIdError as exc:
            yield Problem(path, str(exc), "a trust domain is lowercase letters, digits, . - _")


def _trust_references(data: dict[str, Any]) -> Iterator[Problem]:
    own = {_dict(data.get("federation")).get("trust_domain")}
    yield from _trust_domain_problem(
        "federation.trust_domain", _dict(data.get("federation")).get("trust_domain")
    )
    for i, cluster in enumerate(_items(data.get("clusters"))):
        domain = _dict(cluster).get("trust_domain")
        own.add(domain)
        yield from _trust_domain_problem(f"clusters[{i}].trust_domain", domain)
    trust = _dict(data.get("trust"))
    endpoint = _dict(trust.get("bundle_endpoint"))
    if endpoint and endpoint.get("profile", "https_web") == "https_web":
        for key in ("cert_file", "key_file"):
            if not endpoint.get(key):
                yield Problem(
                    f"trust.bundle_endpoint.{key}",
                    f"the https_web profile needs '{key}'",
                    "name the server certificate and key, or use profile https_spiffe",
                )
    seen: set[str] = set()
    for i, peer in enumerate(_items(trust.get("federates_with"))):
        peer = _dict(peer)
        base = f"trust.federates_with[{i}]"
        domain = peer.get("trust_domain")
        yield from _trust_domain_problem(f"{base}.trust_domain", domain)
        if domain in own:
            yield Problem(
                f"{base}.trust_domain",
                f"'{domain}' is one of this federation's own trust domains",
                "federate only with foreign trust domains",
            )
        elif isinstance(domain, str) and domain in seen:
            yield Problem(f"{base}.trust_domain", f"'{domain}' is listed twice", "keep one entry")
        if isinstance(domain, str):
            seen.add(domain)
        if peer.get("profile") == "https_spiffe":
            for key in ("endpoint_spiffe_id", "bundle_file"):
                if not peer.get(key):
                    yield Problem(
                        f"{base}.{key}",
                        f"the https_spiffe profile needs '{key}'",
                        "the peer's SPIFFE ID and a bootstrap bundle authenticate its endpoint",
                    )


def missing_files(config: Any) -> list[Problem]:
    """Files the config names that do not exist: warnings for validate, errors for serve.
    Relative paths are taken from the working directory, as the service opens them.
    The KEK file is exempt: ``meshfed trust init`` creates it."""
    candidates: list[tuple[str, str | None]] = [("geoip.city_db", config.geoip.city_db)]
    endpoint = config.trust.bundle_endpoint
    if endpoint is not None:
        candidates += [
            ("trust.bundle_endpoint.cert_file", endpoint.cert_file),
            ("trust.bundle_endpoint.key_file", endpoint.key_file),
        ]
    for i, peer in enumerate(config.trust.federates_with):
        candidates += [
            (f"trust.federates_with[{i}].bundle_file", peer.bundle_file),
            (f"trust.federates_with[{i}].ca_file", peer.ca_file),
        ]
    problems = []
    for path, name in candidates:
        if name and not Path(name).expanduser().exists():
            problems.append(
                Problem(path, f"file {name!r} does not exist", "create it or fix the path")
            )
    return problems


__all__ = ["cross_check", "join_path", "missing_files", "spiffe_pattern_problem"]
