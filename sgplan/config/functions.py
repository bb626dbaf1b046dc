"""The built-in function table (Terraform's names and semantics for the subset sgplan needs).

Every function finishes in time linear in its arguments and result, and refuses to build a
result over the documented limits (values.py, docs/limits.md) before building it; regular
expressions run on RE2 (Go's regexp syntax, as Terraform's), which is linear by design.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from typing import Any, Callable, Iterable

from sgplan.config.values import (
    MAX_COLLECTION_LENGTH,
    MAX_STRING_LENGTH,
    MAX_VALUE_SIZE,
    STRING_UNIT,
    Budget,
    EvalError,
    Unknown,
    as_set,
    collection_limit_message,
    distinct,
    equal,
    number,
    number_limit_message,
    result_number,
    string_limit_message,
    to_bool,
    to_number,
    to_string,
    type_name,
    value_limit_message,
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


def _within_string_limit(length: int) -> None:
    if length > MAX_STRING_LENGTH:
        raise EvalError(string_limit_message(length))


def _within_collection_limit(length: int) -> None:
    if length > MAX_COLLECTION_LENGTH:
        raise EvalError(collection_limit_message(length))


def _concat(*lists: Any) -> list[Any]:
    parts = [_list(value, "concat", i) for i, value in enumerate(lists, 1)]
    _within_collection_limit(sum(len(p) for p in parts))
    out: list[Any] = []
    for part in parts:
        out.extend(part)
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
    used = 0  # arguments consumed (an index, not pop(0): that is quadratic in long lists)

    def one(match: re.Match[str]) -> str:
        nonlocal used
        if match.group(1):
            return "%"
        if used >= len(values):
            raise EvalError("format(): not enough arguments for the format string")
        value = values[used]
        used += 1
        width, precision, verb = match.group(2) or "", match.group(3), match.group(4)
        # Refuse widths and precisions that would build an over-long string (checked on the
        # digits, before int() meets Python's 4,300-digit limit).
        for digits in (width.lstrip("-"), precision or ""):
            if len(digits) > 7 or (digits and int(digits) > MAX_STRING_LENGTH):
                raise EvalError(f"format(): width or precision {digits[:20]} is over the string limit ({MAX_STRING_LENGTH:,})")
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
            rendered = encode_json(value)
        else:
            rendered = _str(value, "format")
        if width.lstrip("-"):  # "-" alone is a flag without a width
            w = int(width)
            if w < 0:
                rendered = rendered.ljust(-w)
            elif width.startswith("0"):
                rendered = rendered.zfill(w)
            else:
                rendered = rendered.rjust(w)
        return rendered

    pieces: list[str] = []
    length = 0
    last = 0
    for match in _VERB.finditer(text):
        for piece in (text[last : match.start()], one(match)):
            length += len(piece)
            _within_string_limit(length)  # many wide verbs: stop before joining them
            pieces.append(piece)
        last = match.end()
    pieces.append(text[last:])
    if used < len(values):
        raise EvalError("format(): too many arguments for the format string")
    return "".join(pieces)


def _join(sep: Any, *lists: Any) -> str:
    s = _str(sep, "join")
    items: list[str] = []
    length = 0
    for i, value in enumerate(lists, 2):
        for item in _list(value, "join", i):
            text = _str(item, "join", i)
            length += len(text) + len(s)
            _within_string_limit(length - len(s))  # checked before the join builds it
            items.append(text)
    return s.join(items)


def _split(sep: Any, text: Any) -> list[str]:
    s, t = _str(sep, "split"), _str(text, "split", 2)
    if s == "":
        raise EvalError("split(): the separator must not be empty")
    _within_collection_limit(t.count(s) + 1)
    return t.split(s)


def _length(value: Any) -> int:
    if isinstance(value, (list, dict)):
        return len(value)
    if isinstance(value, str):
        return len(value)
    raise EvalError(f"length(): argument must be a string, list or map, not {type_name(value)}")


def _flatten(value: Any) -> list[Any]:
    out: list[Any] = []
    _flatten_into(_list(value, "flatten"), out)
    return out


def _flatten_into(items: list[Any], out: list[Any]) -> None:
    for item in items:
        if isinstance(item, list):
            _flatten_into(item, out)
        else:
            out.append(item)
            if len(out) > MAX_COLLECTION_LENGTH:  # a shared list nested many times
                raise EvalError(collection_limit_message(len(out)))


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
    out: list[str] = []
    size = 1
    for i in range(n):
        text = _format(spec, *[a[i] if isinstance(a, list) else a for a in args])
        size += 1 + len(text) // STRING_UNIT
        if size > MAX_VALUE_SIZE:  # each string may be long: bound their sum as it grows
            raise EvalError(value_limit_message())
        out.append(text)
    return out


def _replace(text: Any, search: Any, replacement: Any, *, budget: Budget) -> str:
    t, s, r = _str(text, "replace"), _str(search, "replace", 2), _str(replacement, "replace", 3)
    if len(s) > 1 and s.startswith("/") and s.endswith("/"):
        return _regex_replace(_compile(s[1:-1], "replace"), t, r, budget)
    count = len(t) + 1 if s == "" else t.count(s)
    _within_string_limit(len(t) + count * (len(r) - len(s)))
    return t.replace(s, r)


# -- regular expressions (RE2: the syntax and linear-time matching of Go's regexp) --------------

@functools.lru_cache(maxsize=1)
def _re2() -> tuple[Any, Any]:
    """The RE2 module and its options, imported on first use (2.6 MB most runs do not need)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print parse errors to stderr itself
    return re2, options


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    module, options = _re2()
    return module.compile(pattern, options=options)


def _compile(pattern: str, fn: str) -> Any:
    try:
        return _compiled(pattern)
    except _re2()[0].error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise EvalError(f"{fn}(): invalid regular expression {_preview(pattern)}: {reason} (RE2 syntax)") from None


def _preview(text: str, limit: int = 60) -> str:
    return json.dumps(text if len(text) <= limit else text[:limit] + "…", ensure_ascii=False)


# Steps charged per match: each costs microseconds in the Python side of the RE2 binding, and
# a pattern that matches the empty string matches once per character.
MATCH_STEPS = 40


def _matches(regex: Any, text: str, budget: Budget) -> Iterable[Any]:
    """Go's successive non-overlapping matches: an empty match right after a match is skipped."""
    previous_end = -1
    for match in regex.finditer(text):
        budget.charge(MATCH_STEPS)
        start, end = match.span()
        if start == end == previous_end:
            continue
        previous_end = end
        yield match


def _regex_replace(regex: Any, text: str, template: str, budget: Budget) -> str:
    groups, names = regex.groups, regex.groupindex
    # Each piece: literal text, or a group number (-1: a group the pattern lacks, which Go
    # expands to nothing).
    pieces: list[str | int] = []
    for literal, group in _template_pieces(template):
        if group is None:
            pieces.append(literal)
        else:
            index = group if isinstance(group, int) else names.get(group, -1)
            pieces.append(index if 0 <= index <= groups else -1)
    out: list[str] = []
    length = 0
    last = 0
    for match in _matches(regex, text, budget):
        spans = _spans(match, groups)
        start, end = spans[0]
        out.append(text[last:start])
        length += start - last
        for piece in pieces:
            if type(piece) is str:
                part = piece
            elif piece < 0 or spans[piece][0] < 0:
                continue
            else:
                part = text[spans[piece][0] : spans[piece][1]]
            length += len(part)
            out.append(part)
        _within_string_limit(length)  # each replacement may be long: check as it grows
        last = end
    out.append(text[last:])
    _within_string_limit(length + len(text) - last)
    return "".join(out)


def _spans(match: Any, groups: int) -> list[tuple[int, int]]:
    """Every group's (start, end), (-1, -1) when it did not take part: read in one go, as the
    binding's per-group accessors cost microseconds each."""
    spans = getattr(match, "_spans", None)
    if spans is None or len(spans) != groups + 1:
        spans = [match.span(i) for i in range(groups + 1)]
    return spans


def _template_pieces(template: str) -> list[tuple[str, int | str | None]]:
    """A replacement template split as Go's Regexp.Expand reads it: `$1`, `${1}`, `$name`,
    `${name}` (longest name), `$$` for a dollar; a malformed `$` stays literal text.
    Pieces are (text, None) or ("", group number or name)."""
    pieces: list[tuple[str, int | str | None]] = []
    literal: list[str] = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c != "$":
            literal.append(c)
            i += 1
            continue
        if template.startswith("$$", i):
            literal.append("$")
            i += 2
            continue
        name, after = _template_name(template, i + 1)
        if name is None:
            literal.append("$")
            i += 1
            continue
        pieces.append(("".join(literal), None))
        literal = []
        pieces.append(("", _group_key(name)))
        i = after
    pieces.append(("".join(literal), None))
    return [p for p in pieces if p != ("", None)]


def _template_name(template: str, i: int) -> tuple[str | None, int]:
    braced = template.startswith("{", i)
    j = i + 1 if braced else i
    k = j
    while k < len(template) and (template[k].isalpha() or template[k].isdecimal() or template[k] == "_"):
        k += 1
    if k == j:
        return None, i
    if braced:
        if not template.startswith("}", k):
            return None, i
        return template[j:k], k + 1
    return template[j:k], k


def _group_key(name: str) -> int | str:
    """A group number (`1`, not `01`) or a group name, as Go's Expand decides."""
    if name.isdecimal() and name.isascii() and (name == "0" or not name.startswith("0")) and len(name) < 9:
        return int(name)
    return name


def _captures(regex: Any, match: Any, fn: str) -> Any:
    """A match as Terraform's regex() returns it: the text, a list, or a map of the groups."""
    if regex.groups == 0:
        return match.group(0)
    names = regex.groupindex
    if names and len(names) != regex.groups:
        raise EvalError(f"{fn}(): the pattern mixes named and unnamed capture groups")
    if names:
        return {name: match.group(index) for name, index in names.items()}
    return [match.group(i) for i in range(1, regex.groups + 1)]


def _regex(pattern: Any, text: Any, *, budget: Budget) -> Any:
    regex = _compile(_str(pattern, "regex"), "regex")
    for match in _matches(regex, _str(text, "regex", 2), budget):
        return _captures(regex, match, "regex")
    raise EvalError("regex(): the pattern did not match any part of the string")


def _regexall(pattern: Any, text: Any, *, budget: Budget) -> list[Any]:
    regex = _compile(_str(pattern, "regexall"), "regexall")
    out: list[Any] = []
    for match in _matches(regex, _str(text, "regexall", 2), budget):
        out.append(_captures(regex, match, "regexall"))
        _within_collection_limit(len(out))
    return out


# -- JSON ------------------------------------------------------------------------------------

_JSON = json.JSONEncoder(separators=(",", ":"))
_JSON_ONE_SHOT_SIZE = MAX_STRING_LENGTH // 64  # values this small cannot encode over the limit


def encode_json(value: Any, size: int | None = None) -> str:
    """Compact JSON of `value`, refused (while it is built) when it would pass the string limit."""
    if size is None:
        size = Budget(MAX_VALUE_SIZE * 4).size(value)
    if size <= _JSON_ONE_SHOT_SIZE:
        return _check_length(_JSON.encode(value))
    pieces: list[str] = []
    length = 0
    for piece in _JSON.iterencode(value):
        length += len(piece)
        _within_string_limit(length)
        pieces.append(piece)
    return "".join(pieces)


def _check_length(text: str) -> str:
    _within_string_limit(len(text))
    return text


def _rounded(name: str, to_whole: Callable[[float], int]) -> Function:
    def fn(value: Any) -> int | float:
        n = to_number(value, f"{name}()")
        return n if isinstance(n, int) else result_number(to_whole(n))

    return fn


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
    "abs": lambda v: result_number(abs(to_number(v, "abs()"))),
    "ceil": _rounded("ceil", math.ceil),
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
    "floor": _rounded("floor", math.floor),
    "format": _format,
    "formatlist": _formatlist,
    "index": _index,
    "join": _join,
    "jsonencode": encode_json,
    "keys": _keys,
    "length": _length,
    "lookup": _lookup,
    "lower": _one_string(str.lower, "lower"),
    "max": _minmax(max, "max"),
    "merge": _merge,
    "min": _minmax(min, "min"),
    "range": _range,
    "regex": _regex,
    "regexall": _regexall,
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
# Steps charged per size unit of the arguments (default 1): 0 for functions whose work does not
# grow with their arguments, more for those that compare or hash every element in Python.
_READ_STEPS = {
    **dict.fromkeys(("length", "element", "lookup", "coalesce", "slice", "substr", "startswith", "endswith"), 0),
    **dict.fromkeys(("contains", "index", "sort"), 3),
    **dict.fromkeys(("distinct", "toset"), 4),
}
# Functions that charge their own work as it happens (regular expression matches).
_BUDGETED = frozenset({"replace", "regex", "regexall"})


def call(name: str, args: list[Any], budget: Budget | None = None) -> Any:
    """Call a built-in; Unknown arguments make the result Unknown (except where elements pass through).

    The call is charged to `budget` (its arguments' size, for functions that read them whole,
    and the size of what it builds), and its result is checked against the limits.
    """
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise EvalError(f'unsupported function "{name}"')
    budget = budget if budget is not None else Budget()
    infos = [budget.info(a) for a in args]
    if any(isinstance(a, Unknown) for a in args) or (name not in _STRUCTURAL and any(refs for _, refs in infos)):
        if name == "coalesce":
            return fn(*args)
        return Unknown(frozenset().union(*(refs or () for _, refs in infos)))
    budget.charge(1 + _READ_STEPS.get(name, 1) * sum(size for size, _ in infos))
    try:
        if name in _BUDGETED:
            result = fn(*args, budget=budget)
        elif name == "jsonencode" and len(args) == 1:
            result = encode_json(args[0], infos[0][0])  # its size is known: no second walk
        else:
            result = fn(*args)
    except TypeError:
        raise EvalError(f"{name}(): wrong number of arguments ({len(args)} given)") from None
    except OverflowError:
        raise EvalError(f"{name}(): {number_limit_message()}") from None
    except UnicodeError:
        raise EvalError(f"{name}(): the string holds an invalid Unicode character") from None
    if type(result) is str:
        return budget.text(result)
    return budget.check(result)
