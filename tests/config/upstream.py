"""Helpers for the upstream-derived conformance tables (test_upstream_*.py).

Each case is a fact copied from an upstream test suite (hashicorp/hcl, zclconf/go-cty,
hashicorp/terraform): an HCL expression, the variables it sees, and the value the upstream
implementation produces. Values are written as Python values, with three markers:

- `UNK`: an unknown value (sgplan's `Unknown`), whatever its type;
- `SET([...])`: a cty set, compared as sgplan orders sets (`values.as_set`);
- `ERR`: upstream reports an error; sgplan must refuse too (one-line error, no value).

A case sgplan deliberately answers differently is listed in the test module's DIFFERENCES
table with the reason; such a case must still never produce a wrong value: the test asserts
that sgplan refuses it. A reason's first word says the kind of difference:

- "refuses:" sgplan errors where upstream answers (the test asserts the refusal);
- "unknown:" sgplan answers "known after apply" where upstream knows more (or the same);
- "typed:" the upstream test passes typed Go values (a `cty.List(cty.String)`, a typed empty
  set, a number beyond float64) that no HCL literal can express; the HCL transcription is a
  different question, so only "no traceback, one line" is asserted;
- "accepts:" sgplan answers where upstream errors: a known gap, listed so it is not hidden.
"""

from __future__ import annotations

import math
from typing import Any

from sgplan.config.evaluate import Evaluator, Scope
from sgplan.config.values import EvalError, Unknown, as_set
from sgplan.hcl.load import parse_source


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


UNK = _Marker("UNK")
ERR = _Marker("ERR")


class SET(list):
    """A cty set value (sgplan represents sets as ordered lists)."""


class Refused(Exception):
    """sgplan refused the case at parse time (conformance refusal or syntax error)."""


def variables(values: dict[str, Any]) -> dict[str, Any]:
    """The case's variables as sgplan values (`UNK` → an Unknown named after the variable)."""
    return {name: _value(v, name) for name, v in values.items()}


def _value(v: Any, name: str) -> Any:
    if v is UNK:
        return Unknown([f"var.{name}"])
    if isinstance(v, SET):
        return as_set([_value(x, name) for x in v])
    if isinstance(v, list):
        return [_value(x, name) for x in v]
    if isinstance(v, dict):
        return {k: _value(x, name) for k, x in v.items()}
    return v


def evaluate(source: str, names: dict[str, Any] | None = None) -> Any:
    """The value of `source` as an attribute value, read by sgplan's full parse path
    (conformance checks included); raises Refused or EvalError."""
    text = f"x = {source.strip()}\n"  # upstream inputs may start or end with a newline
    file, diags = parse_source(text.encode("utf-8"), "case.hcl")
    if file.body is None or diags:
        raise Refused("; ".join(str(d) for d in diags) or "not parsed")
    attribute = file.body.attributes.get("x")
    if attribute is None or len(file.body.attributes) != 1 or file.body.blocks:
        raise Refused("not one attribute")
    return Evaluator().evaluate(attribute.expr, Scope(variables(names or {})))


def same(actual: Any, want: Any) -> bool:
    """Strict equality: types matter (True is not 1, "1" is not 1), UNK matches any Unknown."""
    if want is UNK:
        return isinstance(actual, Unknown)
    if isinstance(actual, Unknown):
        return False
    if isinstance(want, SET):
        if not isinstance(actual, list) or len(actual) != len(want):
            return False
        if all(isinstance(w, (str, int, float)) for w in want):
            want = as_set(list(want))
        else:  # cty orders sets of collections by hash: compare without order
            rest = list(actual)
            for w in want:
                hit = next((i for i, a in enumerate(rest) if same(a, w)), None)
                if hit is None:
                    return False
                rest.pop(hit)
            return True
    if isinstance(want, bool) or isinstance(actual, bool):
        return type(want) is type(actual) and want == actual
    if isinstance(want, (int, float)):
        if not isinstance(actual, (int, float)):
            return False
        if isinstance(want, float) or isinstance(actual, float):
            return math.isclose(actual, want, rel_tol=1e-12, abs_tol=0)
        return actual == want
    if isinstance(want, list):
        return isinstance(actual, list) and len(actual) == len(want) and all(same(a, w) for a, w in zip(actual, want))
    if isinstance(want, dict):
        return isinstance(actual, dict) and actual.keys() == want.keys() and all(same(actual[k], want[k]) for k in want)
    return type(actual) is type(want) and actual == want


def check(source: str, names: dict[str, Any], want: Any, difference: str | None = None) -> None:
    """Assert sgplan's answer for one upstream case (see the module docstring)."""
    kind = difference.split(":", 1)[0] if difference is not None else None
    assert kind in (None, "refuses", "unknown", "typed", "accepts"), difference
    try:
        actual = evaluate(source, names)
    except (EvalError, Refused) as exc:
        message = str(exc)
        assert "Traceback" not in message and "\n" not in message.strip(), message
        if want is ERR or kind in ("refuses", "typed"):
            return
        raise AssertionError(f"sgplan refused {source!r}: {message}; upstream: {want!r}") from None
    if kind == "unknown":
        assert isinstance(actual, Unknown) or same(actual, want), f"{source!r} gave {actual!r}"
        return
    if kind in ("typed", "accepts"):
        return
    assert want is not ERR, f"{source!r} gave {actual!r}; upstream reports an error"
    assert difference is None, f"{source!r} gave {actual!r}: listed as a difference, sgplan must refuse it"
    assert same(actual, want), f"{source!r} gave {actual!r}; upstream: {want!r}"
