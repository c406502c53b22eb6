"""The stand-ins for templatefile and for variable type conversion behave as Terraform's do
on the constructs the modules use, and refuse the rest instead of guessing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.hcl_types import TypeConversionError, convert, parse_type
from tests.deploy.hcl_values import Scope, UnsupportedExpressionError, evaluate
from tests.deploy.tftpl import TemplateError, jsonencode, render


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("a: ${x}\n", {"x": "b"}, "a: b\n"),
        (
            "a: ${jsonencode(x)}",
            {"x": {"z": 1, "a": [True, None, 1.0]}},
            'a: {"a":[true,null,1],"z":1}',
        ),
        ("p: ${jsonencode(o.k)}", {"o": {"k": "<&>"}}, 'p: "\\u003c\\u0026\\u003e"'),
        ("$${KEEP} %%{ KEEP }", {}, "${KEEP} %{ KEEP }"),
        ("[\n%{ for i in xs ~}\n  ${i},\n%{ endfor ~}\n]", {"xs": ["a", "b"]}, "[\n  a,\n  b,\n]"),
        ("[\n%{ for i in xs ~}\n  ${i},\n%{ endfor ~}\n]", {"xs": []}, "[\n]"),
        ("x  %{~ if f ~}  y  %{~ endif ~}  z", {"f": True}, "xyz"),
        ("a  \n%{~ if f }b%{ endif }", {"f": True}, "ab"),
        ("a\n  %{~ if f }b%{ endif }", {"f": True}, "a\nb"),
        ('%{ if v != "" }set%{ endif }', {"v": ""}, ""),
        ('%{ if v != "" }set%{ endif }', {"v": "1"}, "set"),
        ('%{ if v == "1" }one%{ endif }', {"v": "1"}, "one"),
    ],
)
def test_renderer_follows_terraform_template_semantics(
    template: str, values: dict[str, Any], expected: str
) -> None:
    assert render(template, values) == expected


@pytest.mark.parametrize(
    ("template", "values"),
    [
        ("${upper(x)}", {"x": "a"}),
        ("${missing}", {}),
        ("${x}", {"x": {"a": 1}}),
        ("%{ for k, v in m }%{ endfor }", {"m": {}}),
        ("%{ if x }", {"x": True}),
        ("%{ endif }", {}),
    ],
)
def test_renderer_refuses_what_it_does_not_implement(template: str, values: dict[str, Any]) -> None:
    with pytest.raises(TemplateError):
        render(template, values)


def test_jsonencode_sorts_keys_and_drops_whole_number_fractions() -> None:
    assert jsonencode({"b": 2.0, "a": 1.4}) == '{"a":1.4,"b":2}'


SERVICE = parse_type(
    'list(object({name = string, routing = optional(object({mode = optional(string, "geo"), '
    "weights = optional(map(number), {})}), {}), outlier = optional(object({n = number}))}))"
)


def test_conversion_fills_optional_attributes_with_nested_defaults_or_null() -> None:
    assert convert([{"name": "s"}], SERVICE) == [
        {"name": "s", "routing": {"mode": "geo", "weights": {}}, "outlier": None}
    ]
    assert convert([{"name": "s", "routing": {"weights": {"a": "2"}}}], SERVICE) == [
        {"name": "s", "routing": {"mode": "geo", "weights": {"a": 2}}, "outlier": None}
    ]


@pytest.mark.parametrize(
    "value",
    [[{}], [{"name": "s", "typo": 1}], [{"name": "s", "routing": {"weights": {"a": "x"}}}], "s"],
)
def test_conversion_refuses_values_terraform_would_refuse(value: Any) -> None:
    with pytest.raises(TypeConversionError):
        convert(value, SERVICE)


def test_evaluator_resolves_references_templates_and_escapes() -> None:
    scope = Scope(
        variables={"port": 8470, "o": {"a": ["x", "y"]}},
        local_exprs={"url": "rediss://:$${PW}@${aws_x.y.host}:${var.port}/0"},
        known={"aws_x.y.host": "h"},
    )
    assert evaluate("${local.url}", scope) == "rediss://:${PW}@h:8470/0"
    assert evaluate({"k": ["${var.o.a[1]}", 'say \\"hi\\"']}, scope) == {"k": ["y", 'say "hi"']}
    assert evaluate("${var.port}", scope) == 8470


def test_evaluator_merges_references_and_object_literals_later_keys_winning() -> None:
    scope = Scope(variables={"p": {"name": "aws", "kind": "aws"}, "every": "30s"})
    merged = evaluate('${merge(var.p, {refresh_interval = var.every, "name" = "x"})}', scope)
    assert merged == {"name": "x", "kind": "aws", "refresh_interval": "30s"}


@pytest.mark.parametrize(
    "expression",
    [
        "${concat(var.a, var.b)}",
        "${merge(var.a, {k = var.missing})}",
        "${var.missing}",
        "${aws_x.y.unknown}",
        "${a ? b : c}",
    ],
)
def test_evaluator_refuses_what_it_cannot_follow(expression: str) -> None:
    with pytest.raises(UnsupportedExpressionError):
        evaluate(expression, Scope(variables={"a": {}, "b": {}}))
