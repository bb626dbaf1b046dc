"""The evaluator against Terraform's semantics, one small expression at a time."""

from __future__ import annotations

import pytest

from sgplan.config.values import EvalError, Unknown
from tests.config.conftest import evaluate_expression as ev

CASES = [
    # literals
    ("1", 1),
    ("1.5", 1.5),
    ("1.0", 1),
    ("1.5e3", 1500),
    ("true", True),
    ("false", False),
    ("null", None),
    ('"plain"', "plain"),
    ('""', ""),
    ("[1, \"a\", true]", [1, "a", True]),
    ("[]", []),
    ('{ a = 1, "b-c" = 2 }', {"a": 1, "b-c": 2}),
    ('{ a: 1 }', {"a": 1}),
    ("{ (\"k\") = 1 }", {"k": 1}),
    # operators and precedence
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("-1 + 2", 1),
    ("10 - 2 - 3", 5),
    ("7 / 2", 3.5),
    ("6 / 2", 3),
    ("7 % 3", 1),
    ("2 * 3 % 4", 2),
    ("1 < 2 && 2 < 3", True),
    ("true || false && false", True),
    ("!true || true", True),
    ("!(1 == 1)", False),
    ("1 == 1.0", True),
    ('1 == "1"', False),
    ("true == 1", False),
    ('"a" != "b"', True),
    ("[1, 2] == [1, 2]", True),
    ('{a = 1} == {a = 1}', True),
    ("1 + 2 == 3 ? \"y\" : \"n\"", "y"),
    ('"5" + 1', 6),
    ("3 >= 3", True),
    ("2 <= 1", False),
    ("false ? 1 : true ? 2 : 3", 2),
    # templates
    ('"a${1 + 1}b"', "a2b"),
    ('"${[1, 2]}"', [1, 2]),
    ('"${1}"', 1),
    ('"v=${true}"', "v=true"),
    ('"x ${1.5}"', "x 1.5"),
    ('"%{ if true }yes%{ else }no%{ endif }"', "yes"),
    ('"%{ if false }yes%{ else }no%{ endif }"', "no"),
    ('"%{ if false }yes%{ endif }"', ""),
    ('"%{ for x in [1, 2] }<${x}>%{ endfor }"', "<1><2>"),
    ('"%{ for k, v in {b = 2, a = 1} }${k}${v};%{ endfor }"', "a1;b2;"),
    ('"%{ for x in [1, 2, 3] ~} ${x}, %{~ endfor }"', "1,2,3,"),
    ('"$${lit} %%{lit}"', "${lit} %{lit}"),
    ('"tab\\there\\n\\"q\\" \\\\ \\u00e9"', 'tab\there\n"q" \\ é'),
    # for expressions
    ("[for x in [1, 2, 3] : x * 2]", [2, 4, 6]),
    ("[for x in [1, 2, 3] : x if x != 2]", [1, 3]),
    ("[for i, x in [\"a\", \"b\"] : \"${i}${x}\"]", ["0a", "1b"]),
    ("[for k, v in {b = 1, a = 2} : k]", ["a", "b"]),
    ("{for x in [\"a\", \"b\"] : x => upper(x)}", {"a": "A", "b": "B"}),
    ("{for s in [\"a\", \"bb\", \"cc\"] : length(s) => s...}", {"1": ["a"], "2": ["bb", "cc"]}),
    ("{for k, v in {a = 1, b = 2} : v => k if v > 1}", {"2": "b"}),
    # traversal and splats
    ("obj.a", 1),
    ('obj["a"]', 1),
    ("items[1]", "y"),
    ("items.0", "x"),
    ("recs[*].id", [1, 2]),
    ("recs.*.id", [1, 2]),
    ("recs[0].tags.env", "prod"),
    ("nothing[*]", []),
    ("obj[*].a", [1]),
]

NAMES = {
    "obj": {"a": 1},
    "items": ["x", "y"],
    "recs": [{"id": 1, "tags": {"env": "prod"}}, {"id": 2, "tags": {}}],
    "nothing": None,
}


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_expression(source: str, expected: object) -> None:
    result = ev(source, **NAMES)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nosuch", 'unknown variable "nosuch"'),
        ("bogus(1)", 'unsupported function "bogus"'),
        ("1 / 0", "division by zero"),
        ('"a" + 1', "not a number"),
        ("items[5]", "out of range"),
        ('obj.b', 'no attribute "b"'),
        ('"${[1]} x"', "string is required"),
        ("{a = 1, a = 2}", 'duplicate key "a"'),
        ("{for x in [1, 1] : x => x}", 'duplicate key "1"'),
        ("1 ? 2 : 3", "bool is required"),
        ('"%{ if true }x"', "endif"),
        ('"\\q"', "invalid escape"),
        ("length(1)", "length()"),
        ("concat(1)", "must be a list"),
    ],
)
def test_errors(source: str, message: str) -> None:
    with pytest.raises(EvalError) as info:
        ev(source, **NAMES)
    assert message in info.value.message
    assert info.value.line == 1


def test_error_line_points_into_multiline_expression() -> None:
    with pytest.raises(EvalError) as info:
        ev("[\n  1,\n  nosuch,\n]")
    assert info.value.line == 3


def test_unknown_propagates() -> None:
    u = Unknown(["security_group.web"], "security_group.web")
    assert isinstance(ev("u", u=u), Unknown)
    assert ev("u", u=u).address == "security_group.web"
    derived = ev('"${u}-x"', u=u)
    assert isinstance(derived, Unknown) and derived.address is None
    assert derived.refs == {"security_group.web"}
    assert isinstance(ev("u == \"a\"", u=u), Unknown)
    assert isinstance(ev("u ? 1 : 2", u=u), Unknown)
    assert isinstance(ev("upper(u)", u=u), Unknown)
    assert ev("length([u, \"x\"])", u=u) == 2
    listed = ev("concat([u], [\"sg-1\"])", u=u)
    assert listed[0] is u and listed[1] == "sg-1"
    assert ev("\"${u}\"", u=u) is u  # a lone interpolation keeps the value itself


def test_short_circuit_and_or() -> None:
    # A deciding left operand hides errors found while evaluating the right one (HCL) ...
    assert ev("false && [][0]") is False
    assert ev("true || [][0]") is True
    # ... but not an undeclared name: Terraform rejects those before evaluating (issue 14).
    for source in ("false && nosuch", "true || nosuch"):
        with pytest.raises(EvalError, match="unknown variable"):
            ev(source)
