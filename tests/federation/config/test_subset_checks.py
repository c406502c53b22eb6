"""A service's subsets are checked like every other section: each problem at its path, with a
hint, and every problem in one pass."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from federation.config import check_config_text, json_schema

DOCUMENT = """
federation: {name: acme, trust_domain: acme.mesh}
clusters:
  - {name: aws-use1, cloud: aws, region: us-east-1}
services:
  - {name: payments.prod, port: 8080}
  - {name: ledger.prod, port: 9090}
"""


def problems_with(subsets: str, service: int = 0) -> dict[str, tuple[str, str]]:
    document = yaml.safe_load(DOCUMENT)
    document["services"][service]["subsets"] = yaml.safe_load(subsets)
    config, problems = check_config_text(yaml.safe_dump(document), {})
    assert config is None
    return {p.path: (p.message, p.hint) for p in problems}


@pytest.mark.parametrize(
    ("subsets", "path", "message", "hint"),
    [
        (
            "[{name: V2, labels: {version: v2}}]",
            "services[0].subsets[0].name",
            "'V2' is not a lower-case DNS label",
            "like v2",
        ),
        (
            "[{name: v2.canary, labels: {version: v2}}]",
            "services[0].subsets[0].name",
            "not a lower-case DNS label",
            "no dots",
        ),
        (
            "[{name: -v2, labels: {version: v2}}]",
            "services[0].subsets[0].name",
            "not a lower-case DNS label",
            "'-'",
        ),
        (
            f"[{{name: {'v' * 64}, labels: {{version: v2}}}}]",
            "services[0].subsets[0].name",
            "not a lower-case DNS label",
            "at most 63",
        ),
        (
            "[{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]",
            "services[0].subsets[1].name",
            "duplicate name 'v1' (also services[0].subsets[0])",
            "rename one",
        ),
        (
            "[{name: v1, labels: {}}]",
            "services[0].subsets[0].labels",
            "at least 1 item",
            "add at least one entry",
        ),
        (
            "[{name: v1}]",
            "services[0].subsets[0].labels",
            "required",
            "labels",
        ),
    ],
)
def test_each_subset_problem_is_reported_at_its_path_with_a_hint(
    subsets: str, path: str, message: str, hint: str
) -> None:
    found = problems_with(subsets)
    assert path in found, found
    assert message in found[path][0]
    assert hint in found[path][1]


def test_the_same_subset_name_in_two_services_is_fine() -> None:
    document = yaml.safe_load(DOCUMENT)
    for service in document["services"]:
        service["subsets"] = [{"name": "v1", "labels": {"version": "v1"}}]
    config, problems = check_config_text(yaml.safe_dump(document), {})
    assert problems == []
    assert config is not None
    assert [s.subsets[0].labels for s in config.services] == [{"version": "v1"}] * 2


def test_every_subset_problem_is_reported_in_one_pass() -> None:
    found = problems_with("[{name: V1, labels: {}}, {name: v2, labels: {a: b}}, {name: v2}]", 1)
    assert set(found) == {
        "services[1].subsets[0].name",
        "services[1].subsets[0].labels",
        "services[1].subsets[2].name",
        "services[1].subsets[2].labels",
    }


@pytest.mark.parametrize(
    "subsets",
    [
        "[{name: V2, labels: {version: v2}}]",
        "[{name: v2.canary, labels: {version: v2}}]",
        f"[{{name: {'v' * 64}, labels: {{version: v2}}}}]",
        "[{name: v2, labels: {}}]",
    ],
)
def test_the_json_schema_refuses_what_the_subset_checks_refuse(subsets: str) -> None:
    document = yaml.safe_load(DOCUMENT)
    validator = jsonschema.Draft202012Validator(json_schema())
    document["services"][0]["subsets"] = [{"name": "v2", "labels": {"version": "v2"}}]
    assert validator.is_valid(document)
    document["services"][0]["subsets"] = yaml.safe_load(subsets)
    assert not validator.is_valid(document)
