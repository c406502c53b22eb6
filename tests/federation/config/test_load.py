"""The config file: the published example, every kind of problem, and the schema."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from federation.config import check_config_text, json_schema, load_config, parse_config
from federation.problems import InvalidInputError

EXAMPLE = Path(__file__).parents[3] / "examples" / "meshfed.yaml"

MINIMAL = """
federation: {name: acme, trust_domain: acme.mesh}
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1}
  - {name: gcp-euw1, cloud: gcp, region: europe-west1}
services:
  - {name: payments.prod, port: 8080}
"""


def problems_of(text: str, env: dict[str, str] | None = None) -> dict[str, str]:
    config, problems = check_config_text(text, env or {})
    assert config is None
    return {p.path: p.message + " | " + p.hint for p in problems}


def test_published_example_loads_every_section() -> None:
    config = load_config(EXAMPLE)
    assert config.federation.trust_domain == "acme.mesh"
    assert [c.name for c in config.clusters] == ["aws-use1", "gcp-euw1", "azure-weu"]
    assert [p.kind for p in config.providers] == ["aws", "gcp", "azure", "static"]
    routing = config.services[0].routing
    assert routing.failover == [{"aws-use1": 70, "gcp-euw1": 30}, {"azure-weu": 1}]
    assert routing.overprovisioning_factor == 1.4
    assert config.services[0].retries.per_try_timeout == timedelta(seconds=1)
    assert config.services[0].retries.backoff_base == timedelta(milliseconds=25)
    assert config.services[0].outlier_detection is not None
    assert config.services[0].outlier_detection.max_ejection_percent == 50
    assert config.policies[0].from_ == ["spiffe://acme.mesh/ns/web/sa/frontend"]
    assert config.trust.svid_ttl == timedelta(hours=24)
    assert config.trust.federates_with[0].trust_domain == "partner.example"


def test_defaults_fill_omitted_sections() -> None:
    config = parse_config(MINIMAL)
    assert config.api.listen == "127.0.0.1:8470"
    assert config.store.startswith("sqlite:///")
    assert config.services[0].routing.mode == "geo"
    assert config.services[0].outlier_detection is None
    assert config.authorization.default_action == "deny"


@pytest.mark.parametrize(
    ("fragment", "path", "expected"),
    [
        ("api: {listen: 127.0.0.1:8470, tokenz: []}", "api.tokenz", "did you mean 'tokens'"),
        ("geoip: {default_location: mars:olympus}", "geoip.default_location", "CLOUD:REGION"),
        ("api: {listen: localhost}", "api.listen", "HOST:PORT"),
        (
            "providers: [{name: p, kind: gce, projects: [x]}]",
            "providers[0].kind",
            "did you mean 'gcp'",
        ),
        ("providers: [{name: p, kind: aws, regions: []}]", "providers[0].regions", "at least 1"),
        (
            "providers: [{name: p, kind: aws, regions: [us-east-1], refresh_interval: 30}]",
            "providers[0].refresh_interval",
            "30s",
        ),
        (
            "providers: [{name: p, kind: aws, regions: [x], regoins: [y]}]",
            "providers[0].regoins",
            "did you mean 'regions'",
        ),
        ("providers: [{name: p, regions: [x]}]", "providers[0]", "'kind' is required"),
        (
            "providers: [{name: p, kind: azure, subscriptions: [not-a-uuid]}]",
            "providers[0].subscriptions[0]",
            "pattern",
        ),
        ("trust: {svid_ttl: 3 days}", "trust.svid_ttl", "not a duration"),
        ("store: mysql://db", "store", "unknown scheme 'mysql'"),
        ("geoip: {default_location: aws:us-east-7}", "geoip.default_location", "did you mean"),
        (
            "clusters: [{name: c, cloud: gcp, region: europe-west11}]",
            "clusters[0].region",
            "did you mean 'europe-west1'",
        ),
        ("trust: {key_type: dsa}", "trust.key_type", "ec-p256"),
        ("federation: {name: Acme, trust_domain: acme.mesh}", "federation.name", "lowercase"),
        ("federation: {name: acme, trust_domain: Acme.Mesh}", "federation.trust_domain", "lower"),
    ],
)
def test_each_bad_value_is_reported_at_its_path_with_a_hint(
    fragment: str, path: str, expected: str
) -> None:
    document = yaml.safe_load(MINIMAL)
    document.update(yaml.safe_load(fragment))
    found = problems_of(yaml.safe_dump(document))
    assert path in found, found
    assert expected in found[path]


@pytest.mark.parametrize(
    ("service_routing", "path", "expected"),
    [
        ("{weights: {aws-use2: 5}}", "services[0].routing.weights.aws-use2", "did you mean"),
        ("{failover: [aws-use1, azure-weu]}", "services[0].routing.failover[1]", "unknown cluster"),
        (
            "{failover: [{aws-use1: 1, gcp-euw2: 2}]}",
            "services[0].routing.failover[0].gcp-euw2",
            "did you mean 'gcp-euw1'",
        ),
        ("{weights: {aws-use1: 0}}", "services[0].routing.weights.aws-use1", "greater than"),
        ("{mode: weighted}", "services[0].routing.weights", "needs weights"),
        ("{mode: failover}", "services[0].routing.failover", "needs a failover list"),
        ("{panic_threshold: 150}", "services[0].routing.panic_threshold", "less than"),
        ("{overprovisioning_factor: 0.5}", "services[0].routing.overprovisioning_factor", "1"),
        ("{mode: random}", "services[0].routing.mode", "'geo'"),
    ],
)
def test_routing_problems_name_the_entry(service_routing: str, path: str, expected: str) -> None:
    document = yaml.safe_load(MINIMAL)
    document["services"][0]["routing"] = yaml.safe_load(service_routing)
    found = problems_of(yaml.safe_dump(document))
    assert path in found, found
    assert expected in found[path]


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = (
        MINIMAL
        + """
policies:
  - {name: p, action: allow, to: payment.prod, from: ["spiffe://acme.mesh/a/**/b", "http://x"]}
  - {name: p, action: maybe, to: payments.prod, from: ["spiffe://acme.mesh/x"]}
providers:
  - {name: s, kind: static, endpoints: [{cluster: nope, service: payments.prod, address: 1.2.3.4,
     port: 70000}, {cluster: aws-use1, address: 1.2.3.5, port: 1}]}
"""
    )
    found = problems_of(text)
    assert set(found) >= {
        "policies[0].to",
        "policies[0].from[0]",
        "policies[0].from[1]",
        "policies[1].name",
        "policies[1].action",
        "providers[0].endpoints[0].cluster",
        "providers[0].endpoints[0].port",
        "providers[0].endpoints[1].service",
    }
    assert "did you mean 'payments.prod'" in found["policies[0].to"]
    assert "duplicate name 'p'" in found["policies[1].name"]


def test_a_static_endpoint_listed_twice_is_reported() -> None:
    text = MINIMAL + (
        "providers: [{name: s, kind: static, endpoints: ["
        "{cluster: aws-use1, service: payments.prod, address: 10.0.0.1, port: 9443},"
        "{cluster: aws-use1, service: payments.prod, address: 10.0.0.1, port: 9443}]}]\n"
    )
    found = problems_of(text)
    assert "same endpoint as providers[0].endpoints[0]" in found["providers[0].endpoints[1]"]


def test_duplicate_cluster_names_are_reported_on_the_second() -> None:
    text = MINIMAL.replace("gcp-euw1, cloud: gcp", "aws-use1, cloud: gcp")
    found = problems_of(text)
    assert "clusters[1].name" in found
    assert "also clusters[0]" in found["clusters[1].name"]


def test_malformed_yaml_names_line_and_column() -> None:
    found = problems_of("federation: {name: acme,\n  trust_domain: [\n")
    assert list(found) == [""]
    assert "line 3" in found[""] or "line 2" in found[""]


@pytest.mark.parametrize("text", ["", "[1, 2]", "just a string"])
def test_a_document_that_is_not_a_mapping_is_refused(text: str) -> None:
    found = problems_of(text)
    assert "mapping" in found[""]


def test_environment_variables_are_interpolated_into_strings() -> None:
    text = MINIMAL + 'store: "redis://${REDIS_HOST}:6379/${DB:-2}"\n'
    config, problems = check_config_text(text, {"REDIS_HOST": "10.0.0.7"})
    assert problems == []
    assert config is not None
    assert config.store == "redis://10.0.0.7:6379/2"


def test_escaped_dollar_brace_stays_literal() -> None:
    text = MINIMAL.replace("payments.prod, port", "payments.prod, port") + (
        "policies: [{name: p, action: allow, to: payments.prod,"
        ' from: ["spiffe://acme.mesh/x"], paths: ["/$${literal}"]}]\n'
    )
    config, problems = check_config_text(text, {})
    assert problems == []
    assert config is not None
    assert config.policies[0].paths == ["/${literal}"]


def test_missing_environment_variable_is_a_problem_at_its_path() -> None:
    text = MINIMAL + 'store: "redis://${REDIS_HOST}:6379/0"\n'
    found = problems_of(text)
    assert "REDIS_HOST is not set" in found["store"]


def test_https_spiffe_federation_needs_endpoint_id_and_bootstrap_bundle() -> None:
    text = MINIMAL + (
        "trust: {federates_with: [{trust_domain: partner.example, "
        "bundle_endpoint: 'https://127.0.0.1:9', profile: https_spiffe}]}\n"
    )
    found = problems_of(text)
    assert "trust.federates_with[0].endpoint_spiffe_id" in found
    assert "trust.federates_with[0].bundle_file" in found


def test_federating_with_an_own_trust_domain_is_refused() -> None:
    text = MINIMAL + (
        "trust: {federates_with: [{trust_domain: acme.mesh, bundle_endpoint: 'https://x'}]}\n"
    )
    assert "own trust domains" in problems_of(text)["trust.federates_with[0].trust_domain"]


def test_load_config_raises_with_every_problem_and_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MINIMAL + "extra_section: {}\nstore: 5\n")
    with pytest.raises(InvalidInputError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert {p.path for p in caught.value.problems} == {"extra_section", "store"}


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_config(tmp_path / "absent.yaml")
    assert "cannot read" in caught.value.problems[0].message


def test_json_schema_accepts_the_example_and_rejects_unknown_keys() -> None:
    schema = json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    example = yaml.safe_load(EXAMPLE.read_text())
    assert list(validator.iter_errors(example)) == []
    example["federation"]["nickname"] = "x"
    assert list(validator.iter_errors(example))
    json.dumps(schema)
