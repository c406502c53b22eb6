"""Terraform's conversion of a value to a variable's type constraint, for the types the
modules use: primitives, list/set/map, object with optional(TYPE, DEFAULT) attributes.

Terraform fills an absent optional attribute with its default (converted, so nested defaults
apply too) or with null; the rendered config depends on exactly that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>\w+)|(?P<sym>[(){}\[\],=]))'
)


class TypeConversionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Primitive:
    name: str  # string, number, bool, any


@dataclass(frozen=True, slots=True)
class Collection:
    kind: str  # list, set, map
    element: TypeExpr


@dataclass(frozen=True, slots=True)
class Attribute:
    type: TypeExpr
    optional: bool
    default: Any


@dataclass(frozen=True, slots=True)
class Object:
    attributes: dict[str, Attribute]


TypeExpr = Primitive | Collection | Object


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise TypeConversionError(f"cannot read type constraint at {text[position:]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> str:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.index]
        if expected is not None and token[1] != expected:
            raise TypeConversionError(f"expected {expected!r}, found {token[1]!r}")
        self.index += 1
        return token

    def type_expr(self) -> TypeExpr:
        _, word = self.take()
        if word in ("string", "number", "bool", "any"):
            return Primitive(word)
        if word in ("list", "set", "map"):
            self.take("(")
            element = self.type_expr()
            self.take(")")
            return Collection(word, element)
        if word == "object":
            self.take("(")
            self.take("{")
            attributes: dict[str, Attribute] = {}
            while self.peek() != "}":
                _, name = self.take()
                self.take("=")
                attributes[name] = self.attribute()
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
            self.take(")")
            return Object(attributes)
        raise TypeConversionError(f"type {word!r} is not one this reader knows")

    def attribute(self) -> Attribute:
        if self.peek() != "optional":
            return Attribute(self.type_expr(), optional=False, default=None)
        self.take("optional")
        self.take("(")
        attribute_type = self.type_expr()
        default = None
        if self.peek() == ",":
            self.take(",")
            default = self.literal()
        self.take(")")
        return Attribute(attribute_type, optional=True, default=default)

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.literal())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            return items
        if text == "{":
            mapping = {}
            while self.peek() != "}":
                key = self.literal()
                self.take("=")
                mapping[str(key)] = self.literal()
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
            return mapping
        raise TypeConversionError(f"unexpected {text!r} in a default value")


def parse_type(text: str) -> TypeExpr:
    """Parse a type constraint such as ``list(object({name = string}))`` (``${…}`` allowed)."""
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    parser = _Parser(text)
    parsed = parser.type_expr()
    if parser.index != len(parser.tokens):
        raise TypeConversionError(f"trailing text in type constraint {text!r}")
    return parsed


def convert(value: Any, target: TypeExpr, path: str = "value") -> Any:
    """``value`` as Terraform would hold it after conversion to ``target``."""
    if value is None:
        return None
    if isinstance(target, Primitive):
        return _primitive(value, target.name, path)
    if isinstance(target, Collection):
        if target.kind == "map":
            if not isinstance(value, dict):
                raise TypeConversionError(f"{path}: a map is required, got {value!r}")
            return {k: convert(v, target.element, f"{path}[{k!r}]") for k, v in value.items()}
        if not isinstance(value, list):
            raise TypeConversionError(f"{path}: a {target.kind} is required, got {value!r}")
        return [convert(item, target.element, f"{path}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise TypeConversionError(f"{path}: an object is required, got {value!r}")
    unknown = set(value) - set(target.attributes)
    if unknown:
        raise TypeConversionError(f"{path}: unexpected attributes {sorted(unknown)}")
    converted = {}
    for name, attribute in target.attributes.items():
        given = value.get(name)
        if given is None and not attribute.optional:
            raise TypeConversionError(f"{path}: attribute {name!r} is required")
        if given is None:
            given = attribute.default
        converted[name] = convert(given, attribute.type, f"{path}.{name}")
    return converted


def _primitive(value: Any, name: str, path: str) -> Any:
    if name == "any":
        return value
    if name == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
    elif name == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
            return float(value) if "." in value else int(value)
    elif name == "bool":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
    raise TypeConversionError(f"{path}: a {name} is required, got {value!r}")
