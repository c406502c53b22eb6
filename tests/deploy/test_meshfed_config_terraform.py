"""meshfed-config run by the terraform binary: it renders exactly what the Python checks render
for each cloud module, so those checks speak for Terraform, and its own checks refuse a bad
federation before anything is created. meshfed-config needs no provider, so this runs offline.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.rendering import (
    config_module_inputs,
    example_module_inputs,
    rendered_config,
)
from tests.deploy.terraform import CONFIG_MODULE, MODULES, variables

TERRAFORM_TIMEOUT_S = 120
PEER_BUNDLES = {cloud: '{"keys": []}' for cloud in MODULES}
BUNDLE_STATES: dict[str, dict[str, Any]] = {"first-apply": {}, "with-peer-bundles": PEER_BUNDLES}

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="no terraform binary on PATH; the other tests/deploy checks need none",
)


@dataclass(frozen=True, slots=True)
class Terraform:
    directory: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
        return subprocess.run(
            ["terraform", *args, "-no-color"],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=TERRAFORM_TIMEOUT_S,
            env=env,
        )


def _root_module(directory: Path, cases: Mapping[str, Mapping[str, Any]]) -> Terraform:
    """A root configuration calling meshfed-config once per case with the case's arguments,
    exposing each rendered config as an output of the case's name."""
    arguments = sorted(variables(CONFIG_MODULE))
    blocks = []
    for name in cases:
        passed = "\n".join(f"  {arg} = var.{name}.{arg}" for arg in arguments if arg in cases[name])
        blocks.append(
            f'variable "{name}" {{\n  type = any\n}}\n\n'
            f'module "{name}" {{\n  source = "{CONFIG_MODULE}"\n{passed}\n}}\n\n'
            f'output "{name}" {{\n  value = module.{name}.meshfed_config\n}}\n'
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text("\n".join(blocks), encoding="utf-8")
    (directory / "terraform.tfvars.json").write_text(json.dumps(cases), encoding="utf-8")
    terraform = Terraform(directory)
    init = terraform.run("init", "-backend=false")
    assert init.returncode == 0, init.stderr
    return terraform


def _case(cloud: str, state: str) -> str:
    return f"{cloud}_{state.replace('-', '_')}"


@pytest.fixture(scope="module")
def terraform_renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cases = {
        _case(cloud, state): config_module_inputs(
            cloud, example_module_inputs(cloud, {"bootstrap_bundles": bundles})
        )
        for cloud in MODULES
        for state, bundles in BUNDLE_STATES.items()
    }
    terraform = _root_module(tmp_path_factory.mktemp("render"), cases)
    applied = terraform.run("apply", "-auto-approve")
    assert applied.returncode == 0, applied.stderr
    shown = terraform.run("output", "-json")
    assert shown.returncode == 0, shown.stderr
    return {name: output["value"] for name, output in json.loads(shown.stdout).items()}


@pytest.mark.parametrize("cloud", MODULES)
@pytest.mark.parametrize("state", BUNDLE_STATES)
def test_terraform_renders_the_config_the_python_checks_validate(
    cloud: str, state: str, terraform_renders: dict[str, str]
) -> None:
    expected = rendered_config(cloud, {"bootstrap_bundles": BUNDLE_STATES[state]})
    assert terraform_renders[_case(cloud, state)] == expected


def _federation(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda inputs: change(inputs["federation"])


REFUSED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "repeated_cluster": (
        _federation(lambda f: f["clusters"].append(dict(f["clusters"][0]))),
        "federation.clusters names must be unique.",
    ),
    "unknown_routing_mode": (
        _federation(lambda f: f["services"][0]["routing"].update(mode="random")),
        "routing.mode is geo, weighted or failover.",
    ),
    "version_range": (
        _federation(lambda f: f.update(meshfed_version=">=0.1")),
        "federation.meshfed_version must be a release version",
    ),
    "bad_duration": (
        _federation(lambda f: f.update(svid_ttl="one day")),
        "are durations such as 24h",
    ),
    "gateway_for_unknown_cluster": (
        lambda inputs: inputs.update(gateway_cluster="nowhere"),
        "gateway_cluster must be empty or one of federation.clusters[].name.",
    ),
    "privileged_port": (
        lambda inputs: inputs["ports"].update(api=80),
        "api_port, bundle_port and gateway_port are unprivileged ports",
    ),
    "password_in_store_url": (
        lambda inputs: inputs.update(store_url="rediss://:hunter2@redis.internal:6379/0"),
        "so no secret is written into the config.",
    ),
}


@pytest.fixture(scope="module")
def check_root(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    return _root_module(tmp_path_factory.mktemp("checks"), {"config": _aws_inputs()})


def _aws_inputs() -> dict[str, Any]:
    # A copy: the parsed tfvars behind it are cached for every other test.
    return copy.deepcopy(config_module_inputs("aws", example_module_inputs("aws")))


@pytest.mark.parametrize("case", REFUSED)
def test_meshfed_config_refuses_a_bad_federation_at_plan(case: str, check_root: Terraform) -> None:
    change, message = REFUSED[case]
    inputs = _aws_inputs()
    change(inputs)
    (check_root.directory / "terraform.tfvars.json").write_text(
        json.dumps({"config": inputs}), encoding="utf-8"
    )
    planned = check_root.run("plan")
    assert planned.returncode == 1, planned.stdout
    assert message in " ".join(planned.stderr.split()), planned.stderr
