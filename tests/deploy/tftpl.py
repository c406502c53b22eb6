"""A renderer for the part of Terraform's template language that meshfed.yaml.tftpl uses:
``${NAME}``, ``${jsonencode(NAME)}`` (NAME may be a dotted path), ``%{ for X in NAME }`` …
``%{ endfor }``, ``%{ if NAME }`` / ``%{ if NAME != "…" }`` … ``%{ endif }``, the ``~`` strip
markers and the ``$${`` / ``%%{`` escapes. Anything else is an error, not a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\$\$\{|%%\{|\$\{(?P<interp>[^}]*)\}|%\{(?P<directive>[^}]*)\}")
_PATH = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_FOR = re.compile(rf"^for\s+(?P<name>[A-Za-z_]\w*)\s+in\s+(?P<seq>{_PATH})$")
_IF = re.compile(rf'^if\s+(?P<path>{_PATH})(?:\s*(?P<op>==|!=)\s*"(?P<literal>[^"]*)")?$')
_JSONENCODE = re.compile(rf"^jsonencode\((?P<path>{_PATH})\)$")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


@dataclass(frozen=True, slots=True)
class _Interp:
    expr: str


@dataclass(frozen=True, slots=True)
class _For:
    name: str
    seq: str
    body: list[_Node]


@dataclass(frozen=True, slots=True)
class _If:
    path: str
    op: str | None
    literal: str
    body: list[_Node]


_Node = _Text | _Interp | _For | _If


def render(template: str, values: Mapping[str, Any]) -> str:
    """``template`` rendered as ``templatefile(path, values)`` would."""
    nodes, _ = _parse(_tokens(template), 0, None)
    return "".join(_render(nodes, dict(values)))


def jsonencode(value: Any) -> str:
    """Terraform's jsonencode: compact, keys sorted, whole numbers without a fraction, and
    '<', '>', '&' escaped."""
    text = json.dumps(_whole_numbers(value), sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _tokens(template: str) -> list[str | _Interp | tuple[str, bool, bool]]:
    """Text, interpolations and directives (text, strip before, strip after), with the
    strip markers already applied to the neighbouring text."""
    raw: list[str | _Interp | tuple[str, bool, bool]] = []
    position = 0
    for match in _TOKEN.finditer(template):
        raw.append(template[position : match.start()])
        token = match.group(0)
        if token in ("$${", "%%{"):
            raw.append(token[1:])
        elif match.group("interp") is not None:
            inner = match.group("interp")
            raw.append(("$" + inner, inner.startswith("~"), inner.endswith("~")))
        else:
            inner = match.group("directive")
            raw.append((inner, inner.startswith("~"), inner.endswith("~")))
        position = match.end()
    raw.append(template[position:])
    for i, item in enumerate(raw):
        if isinstance(item, tuple):
            _, strip_before, strip_after = item
            if strip_before and isinstance(raw[i - 1], str):
                raw[i - 1] = _strip_line_before(str(raw[i - 1]))
            if strip_after and isinstance(raw[i + 1], str):
                raw[i + 1] = _strip_line_after(str(raw[i + 1]))
    tokens: list[str | _Interp | tuple[str, bool, bool]] = []
    for item in raw:
        if isinstance(item, tuple) and item[0].startswith("$"):
            tokens.append(_Interp(item[0][1:].strip("~ ")))
        else:
            tokens.append(item)
    return tokens


# HCL scans a template's text one line at a time (each piece ending with its newline) and a
# strip marker trims only the adjacent piece: "~}" eats the rest of its line and the newline,
# never the next line's indentation; "%{~" eats back to the previous line break, or the
# previous line's own newline when the directive starts a line.
def _strip_line_after(text: str) -> str:
    end = text.find("\n") + 1 or len(text)
    return text[:end].lstrip() + text[end:]


def _strip_line_before(text: str) -> str:
    start = text.rfind("\n", 0, len(text) - 1) + 1 if text.endswith("\n") else text.rfind("\n") + 1
    return text[:start] + text[start:].rstrip()


def _parse(
    tokens: list[str | _Interp | tuple[str, bool, bool]], index: int, closing: str | None
) -> tuple[list[_Node], int | None]:
    nodes: list[_Node] = []
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if isinstance(token, str):
            nodes.append(_Text(token))
        elif isinstance(token, _Interp):
            nodes.append(token)
        else:
            directive = token[0].strip("~ ")
            if directive in ("endfor", "endif"):
                if directive != closing:
                    raise TemplateError(f"%{{ {directive} }} without its opening directive")
                return nodes, index
            if match := _FOR.match(directive):
                body, after = _parse(tokens, index, "endfor")
                if after is None:
                    raise TemplateError(f"%{{ {directive} }} has no %{{ endfor }}")
                nodes.append(_For(match["name"], match["seq"], body))
                index = after
            elif match := _IF.match(directive):
                body, after = _parse(tokens, index, "endif")
                if after is None:
                    raise TemplateError(f"%{{ {directive} }} has no %{{ endif }}")
                nodes.append(_If(match["path"], match["op"], match["literal"] or "", body))
                index = after
            else:
                raise TemplateError(f"directive %{{ {directive} }} is not supported")
    return nodes, None


def _lookup(path: str, values: Mapping[str, Any]) -> Any:
    head, *rest = path.split(".")
    if head not in values:
        raise TemplateError(f"the template uses {head!r}, which templatefile is not given")
    value = values[head]
    for step in rest:
        if not isinstance(value, dict) or step not in value:
            raise TemplateError(f"{path}: no attribute {step!r}")
        value = value[step]
    return value


def _render(nodes: list[_Node], values: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Interp):
            out.append(_interpolate(node.expr, values))
        elif isinstance(node, _For):
            sequence = _lookup(node.seq, values)
            if not isinstance(sequence, list):
                raise TemplateError(f"%{{ for }} over {node.seq}, which is not a list")
            for item in sequence:
                out += _render(node.body, {**values, node.name: item})
        else:
            subject = _lookup(node.path, values)
            if node.op is None:
                if not isinstance(subject, bool):
                    raise TemplateError(f"%{{ if {node.path} }} needs a bool")
                holds = subject
            else:
                holds = (subject == node.literal) == (node.op == "==")
            if holds:
                out += _render(node.body, values)
    return out


def _interpolate(expr: str, values: Mapping[str, Any]) -> str:
    if match := _JSONENCODE.match(expr):
        return jsonencode(_lookup(match["path"], values))
    if re.fullmatch(_PATH, expr):
        value = _lookup(expr, values)
        if isinstance(value, dict | list) or value is None:
            raise TemplateError(f"${{{expr}}} is not a string: use jsonencode")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    raise TemplateError(f"${{{expr}}} is not supported: use ${{NAME}} or ${{jsonencode(NAME)}}")
