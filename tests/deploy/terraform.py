"""The Terraform under deploy/terraform, read with python-hcl2 (no terraform binary needed).

Strings come back without their quotes; an expression comes back as ``${…}``, blocks as
lists of dicts keyed by their labels.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from tests.deploy.layout import (
    CONFIG_MODULE,
    EXAMPLE,
    MODULES,
    REPO,
    TERRAFORM,
    TFVARS_EXAMPLE,
    module_dir,
    tf_files,
)

__all__ = [
    "CONFIG_MODULE",
    "EXAMPLE",
    "MODULES",
    "REPO",
    "TERRAFORM",
    "TFVARS_EXAMPLE",
    "module_dir",
    "tf_files",
]

_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


@functools.cache
def load_file(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(
        path.read_text(encoding="utf-8"), serialization_options=_OPTIONS
    )
    return parsed


def _blocks(directory: Path, kind: str) -> Iterator[dict[str, Any]]:
    for path in sorted(directory.glob("*.tf")):
        yield from load_file(path).get(kind, [])


def variables(directory: Path) -> dict[str, dict[str, Any]]:
    return {name: body for block in _blocks(directory, "variable") for name, body in block.items()}


def outputs(directory: Path) -> dict[str, dict[str, Any]]:
    return {name: body for block in _blocks(directory, "output") for name, body in block.items()}


def locals_of(directory: Path) -> dict[str, Any]:
    return {name: value for block in _blocks(directory, "locals") for name, value in block.items()}


def resources(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """``kind`` resources (``data.KIND`` for data sources) by name."""
    section, _, kind = kind.rpartition(".")
    found: dict[str, dict[str, Any]] = {}
    for block in _blocks(directory, section or "resource"):
        found.update(block.get(kind, {}))
    return found


def resource_kinds(directory: Path) -> set[str]:
    return {kind for block in _blocks(directory, "resource") for kind in block}


def module_calls(directory: Path) -> dict[str, dict[str, Any]]:
    return {name: body for block in _blocks(directory, "module") for name, body in block.items()}


def load_tfvars(path: Path = TFVARS_EXAMPLE) -> dict[str, Any]:
    return load_file(path)


def unwrap(value: Any) -> str:
    """The expression inside ``${…}``; a plain value as its text."""
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text
