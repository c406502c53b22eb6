"""The Terraform parses, declares what it takes and gives, and its READMEs say the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.hcl_format import fmt_problems
from tests.deploy.terraform import (
    CONFIG_MODULE,
    EXAMPLE,
    MODULES,
    TERRAFORM,
    TFVARS_EXAMPLE,
    load_file,
    module_calls,
    module_dir,
    outputs,
    tf_files,
    unwrap,
    variables,
)

CONFIGURATIONS = [module_dir(cloud) for cloud in MODULES] + [CONFIG_MODULE, EXAMPLE]
# The inputs meshfed-config types; everyone else hands them on as they are.
FEDERATION_INPUTS = ("federation", "federates_with", "api_tokens")


def _relative(path: Path) -> str:
    return str(path.relative_to(TERRAFORM))


@pytest.mark.parametrize("path", [*tf_files(), TFVARS_EXAMPLE], ids=_relative)
def test_terraform_file_parses_as_hcl2(path: Path) -> None:
    assert load_file(path), f"{path} parsed to nothing"


def test_every_configuration_has_terraform_files() -> None:
    for directory in CONFIGURATIONS:
        assert {"versions.tf", "variables.tf", "outputs.tf"} <= {
            p.name for p in directory.glob("*.tf")
        }, directory


@pytest.mark.parametrize("directory", CONFIGURATIONS, ids=_relative)
def test_every_variable_has_a_type_and_a_description(directory: Path) -> None:
    declared = variables(directory)
    assert declared
    lacking = {
        name: sorted({"type", "description"} - set(body))
        for name, body in declared.items()
        if not body.get("type") or not str(body.get("description", "")).strip()
    }
    assert not lacking, f"variables without type/description in {directory}: {lacking}"


@pytest.mark.parametrize("directory", CONFIGURATIONS, ids=_relative)
def test_every_output_has_a_description(directory: Path) -> None:
    declared = outputs(directory)
    assert declared
    lacking = [n for n, body in declared.items() if not str(body.get("description", "")).strip()]
    assert not lacking, f"outputs without description in {directory}: {lacking}"


def _readme_table(readme: str, heading: str) -> dict[str, list[str]]:
    """Rows of the table under ``## heading``, by the name in their first cell."""
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) < 2 or set(cells[0]) <= {"-"} or cells[0] == "Name":
            continue
        rows[cells[0].strip("`")] = [c.replace("\\|", "|") for c in cells[1:]]
    return rows


@pytest.mark.parametrize("directory", CONFIGURATIONS, ids=_relative)
def test_readme_inputs_table_matches_the_variables(directory: Path) -> None:
    rows = _readme_table((directory / "README.md").read_text(encoding="utf-8"), "Inputs")
    declared = variables(directory)
    assert sorted(rows) == sorted(declared), "README inputs differ from the variables"
    for name, body in declared.items():
        _type, _default, required, description = rows[name]
        assert required == ("no" if "default" in body else "yes"), f"{name}: Required column"
        assert description == body["description"], f"{name}: README description differs"


@pytest.mark.parametrize("directory", CONFIGURATIONS, ids=_relative)
def test_readme_outputs_table_matches_the_outputs(directory: Path) -> None:
    rows = _readme_table((directory / "README.md").read_text(encoding="utf-8"), "Outputs")
    declared = outputs(directory)
    assert sorted(rows) == sorted(declared), "README outputs differ from the outputs"
    for name, body in declared.items():
        assert rows[name] == [body["description"]], f"{name}: README description differs"


@pytest.mark.parametrize("cloud", MODULES)
def test_module_takes_the_federation_and_exposes_endpoints_store_and_config(cloud: str) -> None:
    assert "federation" in variables(module_dir(cloud))
    declared = outputs(module_dir(cloud))
    assert {"api_endpoint", "bundle_endpoint", "redis_host", "meshfed_config"} <= set(declared)
    identity = {"role_arn", "service_account_email", "identity_principal_id"}
    assert identity & set(declared), f"{cloud} exposes no identity/role id"
    assert unwrap(declared["meshfed_config"]["value"]) == "module.config.meshfed_config"


def test_example_hands_every_module_the_same_federation() -> None:
    calls = module_calls(EXAMPLE)
    assert sorted(calls) == sorted(MODULES)
    for cloud, call in calls.items():
        assert call["source"] == f"../../modules/{cloud}"
        for shared in ("federation", "api_tokens"):
            assert unwrap(call[shared]) == f"var.{shared}", f"module.{cloud}.{shared}"
        peers = {unwrap(peer) for peer in call["federates_with"]}
        others = {f"local.peer.{other}" for other in MODULES if other != cloud}
        assert peers == others, f"module.{cloud} federates with {peers}"


@pytest.mark.parametrize("directory", [*map(module_dir, MODULES), EXAMPLE], ids=_relative)
def test_federation_is_typed_only_in_meshfed_config(directory: Path) -> None:
    declared = variables(directory)
    for name in FEDERATION_INPUTS:
        if name in declared:
            assert declared[name]["type"] == "any", f"{name} is typed again in {directory}"
    typed_twice = set(declared) & {"clusters", "services", "policies", "meshfed_version"}
    assert not typed_twice, f"{directory} declares {typed_twice} again"
    for name in FEDERATION_INPUTS:
        assert "type" in variables(CONFIG_MODULE)[name]
    assert variables(CONFIG_MODULE)["federation"]["type"].startswith("${object({")


@pytest.mark.parametrize("path", [*tf_files(), TFVARS_EXAMPLE], ids=_relative)
def test_terraform_file_is_laid_out_as_terraform_fmt_would(path: Path) -> None:
    problems = fmt_problems(path.read_text(encoding="utf-8"))
    assert not problems, f"{path}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a = 1\nbbb = 2\n", ["line 1: '=' at column 2, fmt puts it at 4"]),
        ("a   = 1\nbbb = 2\n\nc = [\n  1,\n]\n", []),
        ("x {\n    a = 1\n}\n", ["line 2: indented 4, fmt indents 2"]),
        ('a = "${b}"\nlong = f({\n  k = 1\n})\n', []),
    ],
)
def test_fmt_check_flags_misaligned_and_misindented_lines(text: str, expected: list[str]) -> None:
    assert fmt_problems(text) == expected
