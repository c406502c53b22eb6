"""Evaluating the small part of Terraform's expression language that the modules use to
build their config: references to variables, locals and (stand-ins for) values known only
after apply, string templates, lists and objects, and merge() of those. Anything else is
refused, so the modules must keep the config's inputs that simple for these checks to follow
them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_REFERENCE = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\[\d+\])+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_ESCAPES = {'\\"': '"', "\\\\": "\\", "\\n": "\n", "\\t": "\t"}


class UnsupportedExpressionError(ValueError):
    pass


@dataclass(slots=True)
class Scope:
    """What ``var.``, ``local.`` and other references resolve to.

    ``known`` maps a whole reference (``module.gcp.bundle_endpoint``,
    ``google_redis_instance.store.port``) to the value a test stands in for it.
    """

    variables: Mapping[str, Any]
    local_exprs: Mapping[str, Any] = field(default_factory=dict)
    known: Mapping[str, Any] = field(default_factory=dict)
    _locals: dict[str, Any] = field(default_factory=dict)

    def local(self, name: str) -> Any:
        if name not in self._locals:
            if name not in self.local_exprs:
                raise UnsupportedExpressionError(f"local.{name} is not defined")
            self._locals[name] = evaluate(self.local_exprs[name], self)
        return self._locals[name]


def evaluate(value: Any, scope: Scope) -> Any:
    """``value`` as python-hcl2 gave it, evaluated."""
    if isinstance(value, dict):
        return {key: evaluate(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate(item, scope) for item in value]
    if not isinstance(value, str):
        return value
    parts = _split_template(value)
    if len(parts) == 1 and isinstance(parts[0], _Interpolation):
        return _expression(parts[0].text, scope)
    rendered = []
    for part in parts:
        if isinstance(part, _Interpolation):
            result = _expression(part.text, scope)
            if isinstance(result, dict | list) or result is None:
                raise UnsupportedExpressionError(f"cannot put {result!r} into the string {value!r}")
            rendered.append(_to_string(result))
        else:
            rendered.append(part)
    return "".join(rendered)


@dataclass(frozen=True, slots=True)
class _Interpolation:
    text: str


def _split_template(text: str) -> list[str | _Interpolation]:
    parts: list[str | _Interpolation] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if literal:
                parts.append(_unescape("".join(literal)))
                literal = []
            parts.append(_Interpolation(text[i + 2 : end].strip()))
            i = end + 1
        elif text.startswith("%{", i):
            raise UnsupportedExpressionError(f"template directives are not supported in {text!r}")
        else:
            literal.append(text[i])
            i += 1
    if literal or not parts:
        parts.append(_unescape("".join(literal)))
    return parts


def _closing_brace(text: str, start: int) -> int:
    depth, i, quoted = 0, start, False
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise UnsupportedExpressionError(f"unbalanced interpolation in {text!r}")


def _unescape(text: str) -> str:
    return re.sub(r'\\["\\nt]', lambda m: _ESCAPES[m.group(0)], text)


def _expression(text: str, scope: Scope) -> Any:
    if text.startswith("merge(") and text.endswith(")"):
        merged: dict[str, Any] = {}
        for argument in _split_top_level(text[len("merge(") : -1], ","):
            literal = argument.startswith("{")
            merged.update(
                _object_literal(argument, scope) if literal else _expression(argument, scope)
            )
        return merged
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return evaluate(text[1:-1], scope)
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if not _REFERENCE.match(text):
        raise UnsupportedExpressionError(
            f"${{{text}}} is beyond what these checks evaluate: keep the config's inputs to "
            "references, string templates, lists and objects"
        )
    if text in scope.known:
        return scope.known[text]
    head, *path = re.findall(r"[\w-]+|\[\d+\]", text)
    if head == "var":
        if path[0] not in scope.variables:
            raise UnsupportedExpressionError(f"var.{path[0]} is not defined")
        return _walk(scope.variables[path[0]], path[1:], text)
    if head == "local":
        return _walk(scope.local(path[0]), path[1:], text)
    raise UnsupportedExpressionError(f"{text} is known only after apply: give the test a stand-in")


def _object_literal(text: str, scope: Scope) -> dict[str, Any]:
    """``{key = expression, …}`` as python-hcl2 leaves it inside an expression."""
    if not text.endswith("}"):
        raise UnsupportedExpressionError(f"unbalanced object {text!r}")
    found = {}
    for item in _split_top_level(text[1:-1], ",\n"):
        key, equals, expression = item.partition("=")
        if not equals:
            raise UnsupportedExpressionError(f"{item!r} in {text!r} is not key = value")
        found[key.strip().strip('"')] = _expression(expression.strip(), scope)
    return found


def _split_top_level(text: str, separators: str) -> list[str]:
    """``text`` cut at ``separators`` outside brackets and strings, empty pieces dropped."""
    pieces: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        if not quoted and depth == 0 and char in separators:
            pieces.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    pieces.append("".join(current).strip())
    return [piece for piece in pieces if piece]


def _walk(value: Any, path: list[str], text: str) -> Any:
    for step in path:
        if step.startswith("["):
            value = value[int(step[1:-1])]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            raise UnsupportedExpressionError(f"{text}: no attribute {step!r}")
    return value


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
