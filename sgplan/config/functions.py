"""The built-in function table (Terraform's names and semantics for the subset sgplan needs)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

from sgplan.config.values import (
    EvalError,
    Unknown,
    as_set,
    distinct,
    equal,
    has_unknown,
    number,
    to_bool,
    to_number,
    to_string,
    type_name,
)

Function = Callable[..., Any]


def _list(value: Any, fn: str, position: int = 1) -> list[Any]:
    if isinstance(value, list):
        return value
    raise EvalError(f"{fn}(): argument {position} must be a list, not {type_name(value)}")


def _map(value: Any, fn: str, position: int = 1) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise EvalError(f"{fn}(): argument {position} must be a map, not {type_name(value)}")


def _str(value: Any, fn: str, position: int = 1) -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise EvalError(f"{fn}(): argument {position} must be a string, not {type_name(value)}")
    return to_string(value)


def _int(value: Any, fn: str, position: int = 1) -> int:
    n = to_number(value, f"{fn}(): argument {position}")
    if isinstance(n, float):
        raise EvalError(f"{fn}(): argument {position} must be a whole number, not {n}")
    return n


def _concat(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for i, value in enumerate(lists, 1):
        out.extend(_list(value, "concat", i))
    return out


def _merge(*maps: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, value in enumerate(maps, 1):
        if value is None:
            continue
        out.update(_map(value, "merge", i))
    return out


def _lookup(mapping: Any, key: Any, *default: Any) -> Any:
    if len(default) > 1:
        raise EvalError("lookup(): takes 2 or 3 arguments")
    m, k = _map(mapping, "lookup"), _str(key, "lookup", 2)
    if k in m:
        return m[k]
    if default:
        return default[0]
    raise EvalError(f'lookup(): the map has no key "{k}" and no default was given')


_VERB = re.compile(r"%(?:(%)|(-?\d*)(?:\.(\d+))?([sdfvqtbox]))")


def _format(spec: Any, *args: Any) -> str:
    text = _str(spec, "format")
    values = list(args)

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "%"
        if not values:
            raise EvalError("format(): not enough arguments for the format string")
        value = values.pop(0)
        width, precision, verb = match.group(2) or "", match.group(3), match.group(4)
        if verb == "d":
            rendered = str(_int(value, "format"))
        elif verb == "f":
            rendered = f"{to_number(value, 'format(): %f argument'):.{int(precision) if precision else 6}f}"
        elif verb == "q":
            rendered = '"' + _str(value, "format").replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif verb == "t":
            rendered = "true" if to_bool(value, "format(): %t argument") else "false"
        elif verb in ("b", "o", "x"):
            rendered = format(_int(value, "format"), verb)
        elif verb == "v" and isinstance(value, (list, dict)):
            import json

            rendered = json.dumps(value, separators=(",", ":"))
        else:
            rendered = _str(value, "format")
        if width:
            w = int(width)
            if w < 0:
                rendered = rendered.ljust(-w)
            elif width.startswith("0"):
                rendered = rendered.zfill(w)
            else:
                rendered = rendered.rjust(w)
        return rendered

    out = _VERB.sub(one, text)
    if values:
        raise EvalError("format(): too many arguments for the format string")
    return out


def _join(sep: Any, *lists: Any) -> str:
    s = _str(sep, "join")
    items: list[str] = []
    for i, value in enumerate(lists, 2):
        for item in _list(value, "join", i):
            items.append(_str(item, "join", i))
    return s.join(items)


def _split(sep: Any, text: Any) -> list[str]:
    s, t = _str(sep, "split"), _str(text, "split", 2)
    if s == "":
        raise EvalError("split(): the separator must not be empty")
    return t.split(s)


def _length(value: Any) -> int:
    if isinstance(value, (list, dict)):
        return len(value)
    if isinstance(value, str):
        return len(value)
    raise EvalError(f"length(): argument must be a string, list or map, not {type_name(value)}")


def _flatten(value: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(value, "flatten"):
        if isinstance(item, list):
            out.extend(_flatten(item))
        else:
            out.append(item)
    return out


def _cidrsubnet(prefix: Any, newbits: Any, netnum: Any) -> str:
    try:
        network = ipaddress.ip_network(_str(prefix, "cidrsubnet"), strict=False)
    except ValueError:
        raise EvalError(f"cidrsubnet(): {prefix!r} is not a valid CIDR prefix") from None
    bits, num = _int(newbits, "cidrsubnet", 2), _int(netnum, "cidrsubnet", 3)
    new_prefix = network.prefixlen + bits
    if bits < 0 or new_prefix > network.max_prefixlen:
        raise EvalError(f"cidrsubnet(): cannot extend /{network.prefixlen} by {bits} bits")
    if not 0 <= num < 2**bits:
        raise EvalError(f"cidrsubnet(): netnum {num} does not fit in {bits} bits")
    base = int(network.network_address) + (num << (network.max_prefixlen - new_prefix))
    return str(ipaddress.ip_network((base, new_prefix)))


def _cidrhost(prefix: Any, hostnum: Any) -> str:
    try:
        network = ipaddress.ip_network(_str(prefix, "cidrhost"), strict=False)
    except ValueError:
        raise EvalError(f"cidrhost(): {prefix!r} is not a valid CIDR prefix") from None
    n = _int(hostnum, "cidrhost", 2)
    if n < 0:
        n += network.num_addresses
    if not 0 <= n < network.num_addresses:
        raise EvalError(f"cidrhost(): host number {hostnum} is outside {network}")
    return str(network.network_address + n)


def _element(value: Any, index: Any) -> Any:
    items, i = _list(value, "element"), _int(index, "element", 2)
    if not items:
        raise EvalError("element(): cannot use element() on an empty list")
    if i < 0:
        raise EvalError("element(): the index must not be negative")
    return items[i % len(items)]


def _coalesce(*values: Any) -> Any:
    for v in values:
        if isinstance(v, Unknown):
            return v
        if v is not None and v != "":
            return v
    raise EvalError("coalesce(): no non-null, non-empty argument")


def _range(*args: Any) -> list[int | float]:
    nums = [to_number(a, "range()") for a in args]
    if len(nums) == 1:
        start, stop, step = 0, nums[0], 1
    elif len(nums) == 2:
        start, stop, step = nums[0], nums[1], 1 if nums[1] >= nums[0] else -1
    elif len(nums) == 3:
        start, stop, step = nums
    else:
        raise EvalError("range(): takes 1 to 3 arguments")
    if step == 0:
        raise EvalError("range(): step must not be zero")
    out: list[int | float] = []
    value = start
    while (step > 0 and value < stop) or (step < 0 and value > stop):
        out.append(number(value))
        value += step
        if len(out) > 1024:
            raise EvalError("range(): more than 1024 elements")
    return out


def _tonumber(value: Any) -> Any:
    return None if value is None else to_number(value, "tonumber()")


def _tostring(value: Any) -> Any:
    return None if value is None else _str(value, "tostring")


def _tobool(value: Any) -> Any:
    return None if value is None else to_bool(value, "tobool()")


def _tolist(value: Any) -> list[Any]:
    return list(_list(value, "tolist"))


def _toset(value: Any) -> list[Any]:
    return as_set(_list(value, "toset"))


def _tomap(value: Any) -> dict[str, Any]:
    return dict(_map(value, "tomap"))


def _contains(value: Any, item: Any) -> bool:
    return any(equal(v, item) for v in _list(value, "contains"))


def _index(value: Any, item: Any) -> int:
    for i, element in enumerate(_list(value, "index")):
        if equal(element, item):
            return i
    raise EvalError("index(): the item is not in the list")


def _keys(value: Any) -> list[str]:
    return sorted(_map(value, "keys"))


def _values(value: Any) -> list[Any]:
    m = _map(value, "values")
    return [m[k] for k in sorted(m)]


def _formatlist(spec: Any, *args: Any) -> list[str]:
    lengths = {len(a) for a in args if isinstance(a, list)}
    if len(lengths) > 1:
        raise EvalError("formatlist(): all list arguments must have the same length")
    if not lengths:
        return [_format(spec, *args)]
    n = lengths.pop()
    return [_format(spec, *[a[i] if isinstance(a, list) else a for a in args]) for i in range(n)]


def _replace(text: Any, search: Any, replacement: Any) -> str:
    t, s, r = _str(text, "replace"), _str(search, "replace", 2), _str(replacement, "replace", 3)
    if len(s) > 1 and s.startswith("/") and s.endswith("/"):
        try:
            return re.sub(s[1:-1], re.sub(r"\$\{?(\d+)\}?", r"\\\1", r), t)
        except re.error as exc:
            raise EvalError(f"replace(): invalid regular expression: {exc}") from None
    return t.replace(s, r)


def _minmax(pick: Callable[..., Any], name: str) -> Function:
    def fn(*values: Any) -> Any:
        if not values:
            raise EvalError(f"{name}(): needs at least one argument")
        return pick(to_number(v, f"{name}()") for v in values)

    return fn


def _one_string(fn: Callable[[str], Any], name: str) -> Function:
    return lambda value: fn(_str(value, name))


def _zipmap(keys: Any, values: Any) -> dict[str, Any]:
    k, v = _list(keys, "zipmap"), _list(values, "zipmap", 2)
    if len(k) != len(v):
        raise EvalError("zipmap(): the two lists must have the same length")
    return {_str(key, "zipmap"): val for key, val in zip(k, v)}


def _slice(value: Any, start: Any, end: Any) -> list[Any]:
    items, s, e = _list(value, "slice"), _int(start, "slice", 2), _int(end, "slice", 3)
    if not 0 <= s <= e <= len(items):
        raise EvalError(f"slice(): indexes {s}..{e} are out of range for a list of {len(items)}")
    return items[s:e]


def _substr(text: Any, offset: Any, length: Any) -> str:
    t, o, n = _str(text, "substr"), _int(offset, "substr", 2), _int(length, "substr", 3)
    if o < 0:
        o += len(t)
    return t[o:] if n == -1 else t[o : o + n]


FUNCTIONS: dict[str, Function] = {
    "abs": lambda v: abs(to_number(v, "abs()")),
    "ceil": lambda v: number(float(-(-to_number(v, "ceil()") // 1))),
    "cidrhost": _cidrhost,
    "cidrsubnet": _cidrsubnet,
    "coalesce": _coalesce,
    "compact": lambda v: [x for x in _list(v, "compact") if x not in (None, "")],
    "concat": _concat,
    "contains": _contains,
    "distinct": lambda v: distinct(_list(v, "distinct")),
    "element": _element,
    "endswith": lambda s, x: _str(s, "endswith").endswith(_str(x, "endswith", 2)),
    "flatten": _flatten,
    "floor": lambda v: number(float(to_number(v, "floor()") // 1)),
    "format": _format,
    "formatlist": _formatlist,
    "index": _index,
    "join": _join,
    "jsonencode": lambda v: __import__("json").dumps(v, separators=(",", ":")),
    "keys": _keys,
    "length": _length,
    "lookup": _lookup,
    "lower": _one_string(str.lower, "lower"),
    "max": _minmax(max, "max"),
    "merge": _merge,
    "min": _minmax(min, "min"),
    "range": _range,
    "replace": _replace,
    "reverse": lambda v: list(reversed(_list(v, "reverse"))),
    "slice": _slice,
    "sort": lambda v: sorted(_str(x, "sort") for x in _list(v, "sort")),
    "split": _split,
    "startswith": lambda s, x: _str(s, "startswith").startswith(_str(x, "startswith", 2)),
    "substr": _substr,
    "title": _one_string(lambda s: re.sub(r"\b[a-z]", lambda m: m.group(0).upper(), s), "title"),
    "tobool": _tobool,
    "tolist": _tolist,
    "tomap": _tomap,
    "tonumber": _tonumber,
    "toset": _toset,
    "tostring": _tostring,
    "trimprefix": lambda s, p: (lambda t, q: t[len(q) :] if q and t.startswith(q) else t)(_str(s, "trimprefix"), _str(p, "trimprefix", 2)),
    "trimsuffix": lambda s, p: (lambda t, q: t[: -len(q)] if q and t.endswith(q) else t)(_str(s, "trimsuffix"), _str(p, "trimsuffix", 2)),
    "trimspace": _one_string(str.strip, "trimspace"),
    "upper": _one_string(str.upper, "upper"),
    "values": _values,
    "zipmap": _zipmap,
}

# Functions whose result does not depend on inspecting elements: Unknown elements pass through.
_STRUCTURAL = frozenset({"concat", "flatten", "length", "element", "tolist", "merge", "keys", "values", "coalesce", "reverse", "slice", "compact", "lookup", "zipmap"})


def call(name: str, args: list[Any]) -> Any:
    """Call a built-in; Unknown arguments make the result Unknown (except where elements pass through)."""
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise EvalError(f'unsupported function "{name}"')
    if any(isinstance(a, Unknown) for a in args) or (name not in _STRUCTURAL and any(has_unknown(a) for a in args)):
        if name == "coalesce":
            return fn(*args)
        return Unknown.of(*args)
    try:
        return fn(*args)
    except TypeError:
        raise EvalError(f"{name}(): wrong number of arguments ({len(args)} given)") from None
