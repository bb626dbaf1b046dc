"""HCL values in Python: the `Unknown` placeholder, `EvalError`, and the conversions and
comparisons every operator and function shares (strings, numbers, bools, null, lists, maps)."""

from __future__ import annotations

import math
from typing import Any, Iterable


class EvalError(Exception):
    """A user mistake found while evaluating; `line`/`column` are within the evaluated file.

    `reported` marks an error whose diagnostic was already recorded (e.g. inside a local that
    a caller referenced), so callers only stop and do not report it twice.
    """

    def __init__(self, message: str, line: int = 0, column: int = 0, *, reported: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.reported = reported


def attribute_message(name: str, message: str) -> str:
    """`name: message`, the one shape of every error found inside an attribute's value."""
    return message if message.startswith(f"{name}: ") else f"{name}: {message}"


class Unknown:
    """A value known only after apply. `address` is set when the value is exactly the id of the
    group at that address (so it can become a `model.GroupRef`); `refs` names every group it
    depends on."""

    __slots__ = ("address", "refs")

    def __init__(self, refs: Iterable[str], address: str | None = None) -> None:
        self.refs = frozenset(refs)
        self.address = address

    def __repr__(self) -> str:
        return f"(known after apply: {', '.join(sorted(self.refs))})"

    @staticmethod
    def of(*values: Any) -> "Unknown":
        """An Unknown depending on every Unknown found (deeply) in `values`."""
        refs: set[str] = set()
        for v in values:
            for u in iter_unknowns(v):
                refs |= u.refs
        return Unknown(refs)


def iter_unknowns(value: Any) -> Iterable[Unknown]:
    if isinstance(value, Unknown):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from iter_unknowns(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_unknowns(v)


def has_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    return False


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, Unknown):
        return "unknown"
    return type(value).__name__


def number(value: float) -> int | float:
    """Integral numbers as int (HCL has one number type; `6 / 2` is `3`)."""
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return int(value)
    return value


def format_number(value: int | float) -> str:
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def to_string(value: Any, what: str = "value") -> str:
    """String conversion as in templates and `tostring` (numbers, bools; not null or collections)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    if value is None:
        raise EvalError(f"{what} is null; a string is required")
    raise EvalError(f"{what} is a {type_name(value)}; a string is required")


def to_number(value: Any, what: str = "value") -> int | float:
    if isinstance(value, bool) or value is None:
        raise EvalError(f"{what} is {type_name(value) if value is not None else 'null'}; a number is required")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            parsed = float(text)
        except ValueError:
            raise EvalError(f"{what} {value!r} is not a number") from None
        if not math.isfinite(parsed):
            raise EvalError(f"{what} {value!r} is not a number")
        return number(parsed)
    raise EvalError(f"{what} is a {type_name(value)}; a number is required")


def to_bool(value: Any, what: str = "value") -> bool:
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    if value is None:
        raise EvalError(f"{what} is null; a bool is required")
    raise EvalError(f"{what} is a {type_name(value)}; a bool is required")


def equal(a: Any, b: Any) -> bool:
    """HCL equality: no implicit conversion (`1 == "1"` and `true == 1` are false)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return a == b


def distinct(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(equal(v, seen) for seen in out):
            out.append(v)
    return out


def as_set(values: list[Any]) -> list[Any]:
    """Sets are lists of distinct values in HCL's iteration order (lexical for strings)."""
    unique = distinct(values)
    if all(isinstance(v, str) for v in unique):
        return sorted(unique)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in unique):
        return sorted(unique)
    return unique


def iterate(value: Any, what: str = "value") -> list[tuple[Any, Any]]:
    """(key, value) pairs of a collection: list indexes, or map keys in lexical order."""
    if isinstance(value, list):
        return list(enumerate(value))
    if isinstance(value, dict):
        return [(k, value[k]) for k in sorted(value)]
    if value is None:
        raise EvalError(f"{what} is null; a collection is required")
    raise EvalError(f"{what} is a {type_name(value)}; a list, set or map is required")
