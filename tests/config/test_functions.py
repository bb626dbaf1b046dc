"""Every built-in function, Terraform's results."""

from __future__ import annotations

import pytest

from sgplan.config.values import EvalError
from tests.config.conftest import evaluate_expression as ev

CASES = [
    ("concat([1], [2, 3], [])", [1, 2, 3]),
    ("merge({a = 1, b = 1}, {b = 2}, {c = 3})", {"a": 1, "b": 2, "c": 3}),
    ('lookup({a = 1}, "a")', 1),
    ('lookup({a = 1}, "b", 9)', 9),
    ('format("%s-%d", "web", 3)', "web-3"),
    ('format("%03d|%-4s|%5s|%%", 7, "ab", "cd")', "007|ab  |   cd|%"),
    ('format("%q %t %.2f", "x", true, 1.5)', '"x" true 1.50'),
    ('join(",", ["a", "b"])', "a,b"),
    ('join("-", ["a"], ["b", "c"])', "a-b-c"),
    ('split(",", "a,b,,c")', ["a", "b", "", "c"]),
    ("length([1, 2])", 2),
    ('length({a = 1})', 1),
    ('length("héllo")', 5),
    ("distinct([1, 2, 1, 3, 2])", [1, 2, 3]),
    ("flatten([[1, [2]], [], 3])", [1, 2, 3]),
    ('cidrsubnet("10.0.0.0/16", 8, 2)', "10.0.2.0/24"),
    ('cidrsubnet("172.16.0.0/12", 4, 15)', "172.31.0.0/16"),
    ('cidrsubnet("fd00::/56", 8, 1)', "fd00:0:0:1::/64"),
    ('cidrhost("10.0.0.0/24", 5)', "10.0.0.5"),
    ('tolist(["a"])', ["a"]),
    ('toset(["b", "a", "b"])', ["a", "b"]),
    ('upper("ab")', "AB"),
    ('lower("AB")', "ab"),
    ("tostring(5)", "5"),
    ('tonumber("5")', 5),
    ('tonumber("2.5")', 2.5),
    ('tobool("true")', True),
    ('contains(["a"], "a")', True),
    ('contains(["a"], "b")', False),
    ("keys({b = 1, a = 2})", ["a", "b"]),
    ("values({b = 1, a = 2})", [2, 1]),
    ('element(["a", "b"], 3)', "b"),
    ('coalesce("", null, "x")', "x"),
    ('formatlist("tcp:%s", ["22", "80"])', ["tcp:22", "tcp:80"]),
    ('replace("a-b-c", "-", "_")', "a_b_c"),
    ('replace("a1b22", "/[0-9]+/", "#")', "a#b#"),
    ('replace("sg-web-01", "/^sg-(\\\\w+)-(\\\\d+)$/", "$2-$1")', "01-web"),
    ('regex("^sg-([a-z]+)", "sg-web-01")', ["web"]),
    ('regexall("\\\\d+", "80,443")', ["80", "443"]),
    ('trimspace("  x \\n")', "x"),
    ("range(3)", [0, 1, 2]),
    ("range(1, 7, 2)", [1, 3, 5]),
    ("min(3, 1, 2)", 1),
    ("max(3, 1, 2)", 3),
    ("abs(-4)", 4),
    ("reverse([1, 2])", [2, 1]),
    ('compact(["a", "", null, "b"])', ["a", "b"]),
    ('zipmap(["a", "b"], [1, 2])', {"a": 1, "b": 2}),
    ('slice(["a", "b", "c"], 1, 3)', ["b", "c"]),
    ('substr("hello", 1, 3)', "ell"),
    ('index(["a", "b"], "b")', 1),
    ("sort([\"b\", \"a\"])", ["a", "b"]),
    ('jsonencode({a = [1, true]})', '{"a":[1,true]}'),
    ('startswith("sg-1", "sg-")', True),
    ('trimprefix("sg-1", "sg-")', "1"),
    ("concat([[\"a\"], [\"b\"]]...)", ["a", "b"]),
    ("max([3, 9]...)", 9),
    ("floor(2.7)", 2),
    ("ceil(2.1)", 3),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_function(source: str, expected: object) -> None:
    assert ev(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('lookup({a = 1}, "b")', 'no key "b"'),
        ('cidrsubnet("10.0.0.0/30", 8, 1)', "cannot extend"),
        ('cidrsubnet("10.0.0.0/16", 2, 4)', "does not fit"),
        ('cidrsubnet("nope", 8, 1)', "not a valid CIDR"),
        ('format("%s %s", "a")', "not enough arguments"),
        ('tonumber("x")', "not a number"),
        ('join(",", "a")', "must be a list"),
        ("upper([1])", "must be a string"),
        ("length()", "wrong number of arguments"),
        ('merge({a = 1}, ["x"])', "must be a map"),
        ('replace("a", "/(?=a)/", "")', "invalid regular expression"),
        ('regex("x", "a")', "did not match"),
        ('format("%1000000000d", 1)', "string limit"),
    ],
)
def test_function_errors(source: str, message: str) -> None:
    with pytest.raises(EvalError) as info:
        ev(source)
    assert message in info.value.message
