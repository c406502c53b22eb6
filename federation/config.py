"""Load meshfed.yaml, validate it completely, and export its JSON Schema.

Validation never stops at the first problem: YAML syntax, environment interpolation, the
schema and the cross-references are all checked and every problem is reported with its path.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from federation.config_checks import cross_check
from federation.dns_names import DNS_LABEL_PATTERN
from federation.model import NAME_PATTERN, MeshfedConfig
from federation.problems import InvalidInputError, Problem, join_path

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> MeshfedConfig:
    """Read and validate a config file; raises InvalidInputError with every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            [Problem("", f"cannot read {source}: {exc.strerror}", "check the path")], source
        ) from exc
    return parse_config(text, source, env)


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> MeshfedConfig:
    config, problems = check_config_text(text, env)
    if config is None or problems:
        raise InvalidInputError(problems, source)
    return config


def check_config_text(
    text: str, env: Mapping[str, str] | None = None
) -> tuple[MeshfedConfig | None, list[Problem]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [Problem("", f"malformed YAML at {where}: {reason}", "fix the YAML syntax")]
    return check_config_data(data, env)


def check_config_data(
    data: Any, env: Mapping[str, str] | None = None
) -> tuple[MeshfedConfig | None, list[Problem]]:
    """Validate an already parsed document; returns the model only when there is no problem."""
    if not isinstance(data, dict):
        kind = "an empty document" if data is None else f"a {type(data).__name__}"
        return None, [Problem("", f"the config is {kind}", "it must be a mapping with sections")]
    data, problems = interpolate_env(data, os.environ if env is None else env)
    unset = {p.path for p in problems}
    config: MeshfedConfig | None = None
    later: list[Problem] = []
    try:
        config = MeshfedConfig.model_validate(data)
    except ValidationError as exc:
        later += validation_problems(exc, MeshfedConfig)
    later += cross_check(data)
    # A value whose variable is unset was replaced by "": its own complaints would only
    # repeat the one that matters.
    problems += [p for p in later if p.path not in unset]
    return (config if not problems else None), problems


def interpolate_env(data: Any, env: Mapping[str, str]) -> tuple[Any, list[Problem]]:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in string values (``$${`` is a literal ``${``)."""
    problems: list[Problem] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, dict):
            return {key: walk(value, (*path, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, (*path, i)) for i, value in enumerate(node)]
        if not isinstance(node, str) or "$" not in node:
            return node

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(
                Problem(
                    join_path(path),
                    f"environment variable {name} is not set",
                    f"export {name}, or write ${{{name}:-default}}",
                )
            )
            return ""

        return _ENV_REF.sub(substitute, node)

    return walk(data, ()), problems


def validation_problems(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """Turn pydantic's errors into problems whose paths read like the user's document."""
    problems = []
    for error in exc.errors():
        path, parent = _resolve(root, tuple(error["loc"]))
        problems.append(_problem(error, path, parent))
    return problems


def _problem(error: Any, path: tuple[str | int, ...], parent: Any) -> Problem:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        allowed = _field_names(parent)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return Problem(join_path(path), f"unknown key '{key}'", hint)
    if kind == "missing":
        missing = path[-1] if path else "?"
        return Problem(join_path(path), f"'{missing}' is required", f"add '{missing}'")
    if kind == "union_tag_invalid":
        tags = str(ctx.get("expected_tags", "")).replace("'", "")
        tag = str(ctx.get("tag", ""))
        close = difflib.get_close_matches(tag, [t.strip() for t in tags.split(",")], n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"use one of: {tags}"
        field = ctx.get("discriminator", "kind").strip("'")
        return Problem(join_path((*path, field)), f"unknown {field} '{tag}'", hint)
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "kind")).strip("'")
        return Problem(join_path(path), f"'{field}' is required", f"add '{field}'")
    if kind == "literal_error":
        return Problem(join_path(path), message, "use one of the values listed")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _NAMED_PATTERNS:
        what, hint = _NAMED_PATTERNS[ctx["pattern"]]
        return Problem(join_path(path), f"{error['input']!r} is not {what}", hint)
    return Problem(join_path(path), message, _HINTS.get(kind, ""))


# Patterns a reader knows by name: a mismatch says which rule, not the regex.
_NAMED_PATTERNS = {
    NAME_PATTERN: (
        "a valid name",
        "use lowercase letters, digits, '.' and '-', starting and ending alphanumeric",
    ),
    DNS_LABEL_PATTERN: (
        "a lower-case DNS label",
        "use lowercase letters, digits and '-' (at most 63, no dots), like v2",
    ),
}
_HINTS = {
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "list_type": "write a list (- item, or [a, b])",
    "dict_type": "write a mapping (key: value)",
    "model_type": "write a mapping (key: value)",
    "string_type": "write a string (quote it if it looks like a number)",
    "greater_than_equal": "raise the value",
    "less_than_equal": "lower the value",
    "too_short": "add at least one entry",
}


def _resolve(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[tuple[str | int, ...], Any]:
    """Walk pydantic's location through the model types, dropping the parts it adds itself
    (discriminator tags, validator names, '[key]'). Returns the display path and the type
    holding the last element, for did-you-mean hints."""
    current: Any = root
    parent: Any = None
    path: list[str | int] = []
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            path.append(part)
            parent, current = current, (_item_type(current) if current is not None else None)
            continue
        member = _tagged_member(current, part)
        if member is not None:
            current = member
            continue
        if part.startswith(("function-", "[")) or "[" in part:
            continue
        path.append(part)
        parent = current
        if inspect.isclass(current) and issubclass(current, BaseModel):
            field = _field(current, part)
            current = field.annotation if field is not None else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            current = None
    return tuple(path), parent


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _item_type(tp: Any) -> Any:
    return get_args(tp)[0] if get_origin(tp) in (list, tuple) and get_args(tp) else None


def _tagged_member(tp: Any, tag: str) -> type[BaseModel] | None:
    if get_origin(tp) not in (Union, UnionType):
        return None
    for member in get_args(tp):
        member = _unwrap(member)
        if inspect.isclass(member) and issubclass(member, BaseModel):
            kind = member.model_fields.get("kind")
            if kind is not None and tag in get_args(kind.annotation):
                return member
    return None


def _field(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _field_names(model: Any) -> list[str]:
    if inspect.isclass(model) and issubclass(model, BaseModel):
        return [field.alias or name for name, field in model.model_fields.items()]
    return []


def json_schema() -> dict[str, Any]:
    schema = MeshfedConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "meshfed configuration"
    return schema


def dump_json_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True)
