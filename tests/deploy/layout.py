"""Where the Terraform lives; plain paths, so any test can use them without python-hcl2."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "deploy" / "terraform"
MODULES = ("aws", "gcp", "azure")
# What every cloud module renders meshfed.yaml with.
CONFIG_MODULE = TERRAFORM / "modules" / "meshfed-config"
EXAMPLE = TERRAFORM / "examples" / "three-cloud"
TFVARS_EXAMPLE = EXAMPLE / "terraform.tfvars.example"


def module_dir(cloud: str) -> Path:
    return TERRAFORM / "modules" / cloud


def tf_files(directory: Path = TERRAFORM) -> list[Path]:
    return sorted(directory.rglob("*.tf"))
