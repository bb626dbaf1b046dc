"""HCL values in Python: the `Unknown` placeholder and the conversions and
comparisons every operator and function shares (strings, numbers, bools, null, lists, maps);
also the evaluation limits (`Budget`), which docs/limits.md documents value by value."""

from __future__ import annotations

import decimal
import math
import unicodedata
from typing import Any, Iterable

from sgplan.hcl.errors import EvalError
from sgplan.hcl.numbers import MAX_NUMBER_BITS, number

# -- limits (docs/limits.md) -------------------------------------------------------------------
# Each is far above what a real configuration needs (the 2,000-group benchmark estate uses a
# small fraction of each) and low enough that a hostile one fails in seconds, not hours.

MAX_STRING_LENGTH = 1_048_576  # characters in one string value
MAX_COLLECTION_LENGTH = 1_000_000  # elements of one list or map
MAX_VALUE_SIZE = 4_000_000  # size units of one value: each element 1, each string 1 + len // 16
MAX_EVALUATION_STEPS = 60_000_000  # work units of one evaluation (see `Budget`)
STRING_UNIT = 16  # characters per size unit of a string
_MEMO_MIN_SIZE = 64  # values this size or larger have their size remembered (see Budget.info)
_MEMO_MAX_ENTRIES = 200_000  # and at most this many: the memo keeps those values alive




class Budget:
    """The work one evaluation may do, and the size accounting of the values it builds.

    Steps are charged where work can multiply: each `for` iteration (by the size of its body),
    each element a function or a size walk visits, each character a template or function
    builds. Shared sub-values are counted every time they appear (`[l, l]` is twice `l`), so a
    value's size is the size of its JSON form, not of its memory: doubling locals fail after a
    few dozen steps instead of building a structure nothing can print.
    """

    __slots__ = ("left", "limit", "_memo", "_spent")

    def __init__(self, steps: int = MAX_EVALUATION_STEPS) -> None:
        self.left = steps
        self.limit = steps
        self._memo: dict[int, tuple[Any, int, frozenset[str] | None]] = {}
        self._spent = False

    def charge(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            self._exhausted()

    def _exhausted(self) -> None:
        if self._spent:
            raise EvalError("", reported=True)  # said once; everything after just stops
        self._spent = True
        raise EvalError(
            f"evaluation limit: the configuration needs more than {self.limit:,} evaluation steps "
            "(see docs/limits.md)"
        )

    def text(self, value: str) -> str:
        """A string just built: within the length limit, its characters charged."""
        if len(value) > MAX_STRING_LENGTH:
            raise EvalError(string_limit_message(len(value)))
        self.charge(1 + len(value) // STRING_UNIT)
        return value

    def check(self, value: Any) -> Any:
        """`value` (just built) if it is within the limits; its new elements are charged."""
        if type(value) is list or type(value) is dict:
            self.info(value)
        elif type(value) is str and len(value) > MAX_STRING_LENGTH:
            raise EvalError(string_limit_message(len(value)))
        return value

    def size(self, value: Any) -> int:
        return self.info(value)[0]

    def unknown_refs(self, value: Any) -> frozenset[str] | None:
        """The groups the unknowns inside `value` depend on; None when it holds no unknown."""
        return self.info(value)[1]

    def info(self, value: Any) -> tuple[int, frozenset[str] | None]:
        """(size, unknown refs) of `value`, checked against the limits.

        Walks charge one step per element; large values are remembered by identity (and
        kept alive by the memo, so the identity stays theirs), so a value referenced many
        times is walked once.
        """
        t = type(value)
        if t is str:
            n = len(value)
            if n > MAX_STRING_LENGTH:
                raise EvalError(string_limit_message(n))
            return 1 + n // STRING_UNIT, None
        if t is Unknown:
            return 1, value.refs
        if t is not list and t is not dict:
            if isinstance(value, (list, dict)):  # a subclass: walk it as the plain type
                return self.info(list(value) if isinstance(value, list) else dict(value))
            return 1, None
        hit = self._memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1], hit[2]
        n = len(value)
        if n > MAX_COLLECTION_LENGTH:
            raise EvalError(collection_limit_message(n))
        self.charge(1 + n)
        size = 1
        refs: set[str] | None = None
        for item in value if t is list else value.values():
            item_size, item_refs = self.info(item)
            size += item_size
            if size > MAX_VALUE_SIZE:
                raise EvalError(value_limit_message())
            if item_refs:
                if refs is None:
                    refs = set(item_refs)
                else:
                    refs |= item_refs
        frozen = frozenset(refs) if refs else None
        if size >= _MEMO_MIN_SIZE and len(self._memo) < _MEMO_MAX_ENTRIES:
            self._memo[id(value)] = (value, size, frozen)
        return size, frozen


def nfc(text: str) -> str:
    """`text` in Unicode NFC, as every cty string is: joining NFC pieces can make a sequence
    NFC composes (`"e"` then a lone combining accent), so built strings are normalized."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def string_limit_message(length: int) -> str:
    return f"string limit: a string of {length:,} characters; at most {MAX_STRING_LENGTH:,} are allowed (see docs/limits.md)"


def collection_limit_message(length: int) -> str:
    return (f"collection limit: a list or map of {length:,} elements; at most {MAX_COLLECTION_LENGTH:,} are allowed "
            "(see docs/limits.md)")


def value_limit_message() -> str:
    return (f"value size limit: the value has more than {MAX_VALUE_SIZE:,} elements (counting nested ones, "
            "and each repetition of a shared one; see docs/limits.md)")


def check_number(value: int | float) -> int | float:
    """`value` if it is a finite number within the documented range, else a clear error."""
    if type(value) is int:
        if value.bit_length() > MAX_NUMBER_BITS:
            raise EvalError(number_limit_message())
    elif type(value) is float and not math.isfinite(value):
        raise EvalError(number_limit_message())
    return value


def number_limit_message() -> str:
    return "number limit: the number is out of range (numbers must be smaller than 2^1024 in magnitude, about 1.8e308)"


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


# has_unknown's answers for large collections, by identity: the same large value (a local, a
# module input) is asked about once per output, rule or module that uses it, and a walk of a
# value at the size limit takes a good fraction of a second. Entries keep their value alive, so
# an identity cannot be reused while it is cached; the oldest go first.
_UNKNOWN_MEMO: dict[int, tuple[Any, bool]] = {}
_UNKNOWN_MEMO_MIN_LENGTH = 256
_UNKNOWN_MEMO_ENTRIES = 256


def has_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, list):
        items: Iterable[Any] = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        return False
    if len(value) < _UNKNOWN_MEMO_MIN_LENGTH:
        return any(has_unknown(v) for v in items)
    hit = _UNKNOWN_MEMO.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    result = any(has_unknown(v) for v in items)
    if len(_UNKNOWN_MEMO) >= _UNKNOWN_MEMO_ENTRIES:
        del _UNKNOWN_MEMO[next(iter(_UNKNOWN_MEMO))]
    _UNKNOWN_MEMO[id(value)] = (value, result)
    return result


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




def result_number(value: int | float) -> int | float:
    """An arithmetic result: `number(value)` within the documented range, else a clear error."""
    return check_number(number(value))


def format_number(value: int | float) -> str:
    """A number as cty's tostring and templates write it (big.Float Text('f', -1)): plain
    decimal digits, never an exponent (`0.0000001`, not `1e-07`)."""
    if isinstance(value, float):
        if value.is_integer():
            return str(number(value))
        text = repr(value)
        return format(decimal.Decimal(text), "f") if "e" in text else text
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
            return check_number(int(text))
        except ValueError:  # not an integer, or over Python's 4,300-digit conversion limit
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
    if a is b:
        return True  # the same value (no NaN can exist: see check_number)
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
    """The values in first-seen order without repeats (by `equal`); linear, not quadratic."""
    seen: set[Any] = set()
    out: list[Any] = []
    for v in values:
        key = equality_key(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def equality_key(value: Any) -> Any:
    """A hashable key with `equality_key(a) == equality_key(b)` exactly when `equal(a, b)`."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)  # 1 and 1.0 hash and compare equal, as HCL numbers do
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("list", tuple(equality_key(v) for v in value))
    if isinstance(value, dict):
        return ("map", tuple((k, equality_key(value[k])) for k in sorted(value)))
    return ("object", id(value))  # Unknown: equal only to itself


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
