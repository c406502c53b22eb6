"""The meshfed.yaml each module renders for the three-cloud example is one meshfed accepts,
stores state in the module's own Redis over TLS, and keeps every secret out of the file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation.store.url import RedisLocation, parse_store_url
from tests.deploy.rendering import (
    CONFIG_TEMPLATE,
    EXAMPLE_KNOWN_AFTER_APPLY,
    KNOWN_AFTER_APPLY,
    TEMPLATEFILE_CALL,
    rendered_config,
)
from tests.deploy.terraform import (
    CONFIG_MODULE,
    MODULES,
    load_tfvars,
    locals_of,
    module_calls,
    module_dir,
    resources,
)

STORE_PASSWORD = "stand-in-auth-token"
PEER_BUNDLES = {cloud: '{"keys": []}' for cloud in MODULES}
REDIS_HOST_REFERENCE = {
    "aws": "aws_elasticache_replication_group.store.primary_endpoint_address",
    "gcp": "google_redis_instance.store.host",
    "azure": "azurerm_redis_cache.store.hostname",
}


def validate(configs: dict[str, str], directory: Path, env: dict[str, str]) -> dict[str, str]:
    """Run ``meshfed validate`` once over several configs; each config's lines by name."""
    paths = {}
    for name, config in configs.items():
        paths[name] = directory / f"{name}.yaml"
        paths[name].write_text(config, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "federation.cli", "validate", *map(str, paths.values())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=directory,
        env=env,
    )
    assert not result.stderr.strip(), result.stderr
    return {
        name: "\n".join(line for line in result.stdout.splitlines() if line.startswith(f"{path}:"))
        for name, path in paths.items()
    }


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHFED_")}
    return {**env, **extra}


def parsed(cloud: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(rendered_config(cloud, overrides))
    return document


BUNDLE_STATES = {"first-apply": {}, "with-peer-bundles": PEER_BUNDLES}


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """``meshfed validate`` output for every module and bundle state, with and without the
    store password in the environment (two runs in all: the CLI is slow to start)."""
    configs = {
        f"{cloud}-{state}": rendered_config(cloud, {"bootstrap_bundles": bundles})
        for cloud in MODULES
        for state, bundles in BUNDLE_STATES.items()
    }
    return {
        "with-password": validate(
            configs, tmp_path_factory.mktemp("with"), clean_env(MESHFED_REDIS_AUTH=STORE_PASSWORD)
        ),
        "without-password": validate(configs, tmp_path_factory.mktemp("without"), clean_env()),
    }


@pytest.mark.parametrize("cloud", MODULES)
@pytest.mark.parametrize("state", BUNDLE_STATES)
def test_rendered_config_passes_meshfed_validate(
    cloud: str, state: str, validation: dict[str, dict[str, str]]
) -> None:
    output = validation["with-password"][f"{cloud}-{state}"]
    assert re.search(r"\.yaml: ok( \(\d+ warning\(s\)\))?$", output), output
    assert ": error:" not in output


@pytest.mark.parametrize("cloud", MODULES)
def test_store_password_is_read_from_the_environment_not_written(
    cloud: str, validation: dict[str, dict[str, str]]
) -> None:
    assert STORE_PASSWORD not in rendered_config(cloud)
    output = validation["without-password"][f"{cloud}-first-apply"]
    assert "error: store: environment variable MESHFED_REDIS_AUTH is not set" in output
    assert ": ok" not in output


@pytest.mark.parametrize("cloud", MODULES)
def test_store_is_the_modules_own_redis_over_tls_with_auth(cloud: str) -> None:
    store = parsed(cloud)["store"]
    location = parse_store_url(store.replace("${MESHFED_REDIS_AUTH}", STORE_PASSWORD))
    assert isinstance(location, RedisLocation)
    assert store.startswith("rediss://:${MESHFED_REDIS_AUTH}@")
    host = KNOWN_AFTER_APPLY[cloud][REDIS_HOST_REFERENCE[cloud]]
    assert location.where.startswith(f"{host}:")


def test_memorystore_store_url_trusts_the_instances_own_ca() -> None:
    store = parsed("gcp")["store"]
    assert store.endswith(":6378/0?ssl_ca_certs=/etc/meshfed/redis-ca.pem")
    startup = resources(module_dir("gcp"), "google_compute_instance_template")["meshfed"]
    script_args = str(startup["metadata"]["startup-script"])
    assert "redis_ca = google_redis_instance.store.server_ca_certs[0].cert" in script_args


@pytest.mark.parametrize("cloud", MODULES)
def test_rendered_config_names_no_kek_file(cloud: str) -> None:
    trust = parsed(cloud)["trust"]
    assert "kek_file" not in trust
    assert "MESHFED_KEK" not in re.sub(r"(?m)^#.*$", "", rendered_config(cloud))


@pytest.mark.parametrize("cloud", MODULES)
def test_each_deployment_discovers_its_own_cloud(cloud: str) -> None:
    providers = parsed(cloud)["providers"]
    assert [p["kind"] for p in providers] == [cloud]


@pytest.mark.parametrize("cloud", MODULES)
def test_every_deployment_serves_the_examples_clusters_services_and_policies(cloud: str) -> None:
    document, tfvars = parsed(cloud), load_tfvars()
    for section in ("clusters", "services", "policies"):
        assert [item["name"] for item in document[section]] == [
            item["name"] for item in tfvars["federation"][section]
        ], section
    assert document["federation"]["trust_domain"] == f"{cloud}.{tfvars['trust_domain']}"


@pytest.mark.parametrize("cloud", MODULES)
def test_peer_is_federated_only_once_its_bundle_is_known(cloud: str) -> None:
    assert parsed(cloud)["trust"]["federates_with"] == []
    peers = parsed(cloud, {"bootstrap_bundles": PEER_BUNDLES})["trust"]["federates_with"]
    others = [other for other in MODULES if other != cloud]
    domain = load_tfvars()["trust_domain"]
    assert [p["trust_domain"] for p in peers] == [f"{o}.{domain}" for o in others]
    for peer, other in zip(peers, others, strict=True):
        assert peer["profile"] == "https_spiffe"
        assert (
            peer["bundle_endpoint"] == EXAMPLE_KNOWN_AFTER_APPLY[f"module.{other}.bundle_endpoint"]
        )
        assert peer["endpoint_spiffe_id"].startswith(f"spiffe://{other}.{domain}/")
        assert peer["bundle_file"] == f"/etc/meshfed/bundles/{other}.{domain}.json"
    only_gcp = parsed(cloud, {"bootstrap_bundles": {"gcp": '{"keys": []}'}})
    expected = [] if cloud == "gcp" else [f"gcp.{domain}"]
    assert [p["trust_domain"] for p in only_gcp["trust"]["federates_with"]] == expected


def test_config_module_renders_from_its_template_and_every_value_is_used() -> None:
    module_locals = locals_of(CONFIG_MODULE)
    assert module_locals["meshfed_config"] == TEMPLATEFILE_CALL
    template = (CONFIG_MODULE / CONFIG_TEMPLATE).read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(?:jsonencode\()?(\w+)", template))
    used |= set(re.findall(r"%\{ for \w+ in (\w+)", template))
    used -= set(re.findall(r"%\{ for (\w+) in", template))
    assert used == set(module_locals["config_values"]), "template and config_values disagree"


@pytest.mark.parametrize("cloud", MODULES)
def test_cloud_module_renders_its_config_only_through_meshfed_config(cloud: str) -> None:
    directory = module_dir(cloud)
    assert module_calls(directory)["config"]["source"] == "../meshfed-config"
    assert not list(directory.rglob("meshfed.yaml.tftpl")), f"{cloud} keeps a template copy"
    assert "config_values" not in locals_of(directory)


BOOT_SCRIPTS = {
    "aws": ("aws_launch_template", "meshfed", ("user_data",)),
    "gcp": ("google_compute_instance_template", "meshfed", ("metadata", "startup-script")),
    "azure": ("azurerm_linux_virtual_machine_scale_set", "meshfed", ("custom_data",)),
}
SECRET_VALUES = re.compile(
    r"random_(password|bytes)|auth_token|auth_string|primary_access_key|secret_string|"
    r"secret_data|\.value\b"
)


def _boot_script_call(cloud: str) -> str:
    kind, name, path = BOOT_SCRIPTS[cloud]
    value: Any = resources(module_dir(cloud), kind)[name]
    for step in path:
        value = value[step]
    return str(value)


@pytest.mark.parametrize("cloud", MODULES)
def test_boot_script_installs_the_pinned_release_and_serves_the_rendered_config(
    cloud: str,
) -> None:
    call = _boot_script_call(cloud)
    assert "meshfed_version = module.config.meshfed_version" in call
    assert "meshfed_config = module.config.meshfed_config" in call
    assert "bootstrap_bundles = module.config.bootstrap_bundles" in call
    script_name = re.search(r"templates/([\w.-]+\.tftpl)", call)
    assert script_name, call
    script = (module_dir(cloud) / "templates" / script_name[1]).read_text(encoding="utf-8")
    assert '/opt/meshfed/bin/pip install --no-cache-dir "meshfed==${meshfed_version}"' in script
    assert "${meshfed_config}\nMESHFED_CONFIG" in script
    assert "ExecStartPre=+/usr/local/libexec/meshfed-secrets" in script
    assert (
        "ExecStart=/usr/local/libexec/meshfed-run serve --config /run/meshfed/meshfed.yaml"
        in script
    )
    assert "/opt/meshfed/bin/meshfed trust init --config /run/meshfed/meshfed.yaml" in script
    assert 'exec /opt/meshfed/bin/meshfed "$@"' in script
    assert 'env.write("MESHFED_KEK=" + secret(' in script


@pytest.mark.parametrize("cloud", MODULES)
def test_boot_script_is_given_no_secret_value(cloud: str) -> None:
    call = _boot_script_call(cloud)
    found = SECRET_VALUES.findall(call)
    assert not found, f"the {cloud} boot script is handed secret values: {found}"
