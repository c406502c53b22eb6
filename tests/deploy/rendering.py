"""What a cloud module's meshfed.yaml would be for the three-cloud example: the example's
tfvars go through the example's module calls into the cloud module's variables, through its
call of meshfed-config into that module's variables (converted to their types), then through
meshfed-config's ``config_values`` into its template."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.deploy.hcl_types import convert, parse_type
from tests.deploy.hcl_values import Scope, evaluate
from tests.deploy.terraform import (
    CONFIG_MODULE,
    EXAMPLE,
    load_tfvars,
    locals_of,
    module_calls,
    module_dir,
    variables,
)
from tests.deploy.tftpl import render

CONFIG_TEMPLATE = "templates/meshfed.yaml.tftpl"
TEMPLATEFILE_CALL = f'${{templatefile("${{path.module}}/{CONFIG_TEMPLATE}", local.config_values)}}'

# Stand-ins for what only exists after apply, shaped like the real values.
KNOWN_AFTER_APPLY: dict[str, dict[str, Any]] = {
    "aws": {
        "aws_elasticache_replication_group.store.primary_endpoint_address": (
            "master.meshfed-acme.x1y2z3.use1.cache.amazonaws.com"
        ),
    },
    "gcp": {
        "google_redis_instance.store.host": "10.20.0.3",
        "google_redis_instance.store.port": 6378,
    },
    "azure": {
        "azurerm_redis_cache.store.hostname": "meshfed-acme-x1y2z3.redis.cache.windows.net",
        "azurerm_redis_cache.store.ssl_port": 6380,
    },
}
EXAMPLE_KNOWN_AFTER_APPLY: dict[str, Any] = {
    "module.aws.bundle_endpoint": "https://meshfed-acme-0123.elb.us-east-1.amazonaws.com:8443",
    "module.gcp.bundle_endpoint": "https://10.20.0.10:8443",
    "module.azure.bundle_endpoint": "https://10.30.0.10:8443",
}


class MissingInputError(ValueError):
    pass


def variable_values(directory: Path, given: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of the configuration in ``directory`` as Terraform would hold them."""
    declared = variables(directory)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise MissingInputError(f"{directory.name} declares no variable {unknown}")
    values = {}
    for name, body in declared.items():
        if name in given:
            raw = given[name]
        elif "default" in body:
            raw = body["default"]
        else:
            raise MissingInputError(f"{directory.name}: variable {name!r} is required")
        values[name] = convert(raw, parse_type(body["type"]), f"var.{name}")
    return values


def _module_call_arguments(
    directory: Path, module: str, inputs: Mapping[str, Any], known: Mapping[str, Any]
) -> dict[str, Any]:
    """What the configuration in ``directory``, given ``inputs``, passes to ``module``."""
    scope = Scope(variable_values(directory, inputs), locals_of(directory), known)
    call = module_calls(directory)[module]
    return {name: evaluate(value, scope) for name, value in call.items() if name != "source"}


def example_module_inputs(cloud: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The arguments the three-cloud example passes to module ``cloud``."""
    given = {**load_tfvars(), **(overrides or {})}
    return _module_call_arguments(EXAMPLE, cloud, given, EXAMPLE_KNOWN_AFTER_APPLY)


def config_module_inputs(cloud: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments module ``cloud``, given ``inputs``, passes to meshfed-config."""
    return _module_call_arguments(module_dir(cloud), "config", inputs, KNOWN_AFTER_APPLY[cloud])


def config_values(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The map meshfed-config hands to templatefile for meshfed.yaml."""
    module_locals = locals_of(CONFIG_MODULE)
    scope = Scope(variable_values(CONFIG_MODULE, inputs), module_locals)
    values: dict[str, Any] = evaluate(module_locals["config_values"], scope)
    return values


def rendered_config(cloud: str, overrides: Mapping[str, Any] | None = None) -> str:
    """meshfed.yaml as module ``cloud`` renders it for the example's tfvars (plus overrides)."""
    template = (CONFIG_MODULE / CONFIG_TEMPLATE).read_text(encoding="utf-8")
    inputs = config_module_inputs(cloud, example_module_inputs(cloud, overrides))
    return render(template, config_values(inputs))
