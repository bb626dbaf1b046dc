"""The built-in function table: Terraform's names and semantics (go-cty's stdlib and Terraform's
internal/lang/funcs), checked against their own test cases in tests/config/test_upstream_*.py;
the later additions of issue 14 live in functions_more.py, `try`/`can` in the evaluator.

Every function finishes in time linear in its arguments and result, and refuses to build a
result over the documented limits (values.py, docs/limits.md) before building it; regular
expressions run on RE2 (Go's regexp syntax, as Terraform's), which is linear by design.
"""

from __future__ import annotations

import fractions
import functools
import ipaddress
import json
import math
import re
import secrets
from typing import Any, Callable, Iterable

from sgplan.config.functions_more import MORE_FUNCTIONS, _int, _str, go_title, go_trimspace, graphemes, legacy_ipv4, no_mapped, simple_case
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
    nfc,
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



_FORMAT_VERB = re.compile(r"%(?:(%)|([-+# 0]*)(?:\[(\d+)\])?(\d*)(?:\.(\d*))?(.?))", re.DOTALL)


def _format(spec: Any, *args: Any) -> str:
    text = _str(spec, "format")
    values = list(args)
    used = 0  # the next argument (an index, not pop(0): that is quadratic in long lists)
    explicit = False
    highest = 0
    pieces: list[str] = []
    length = 0
    last = 0
    for match in _FORMAT_VERB.finditer(text):
        if match.group(1):
            piece = "%"
        else:
            flags, index, width, precision, verb = match.group(2, 3, 4, 5, 6)
            if not verb:
                raise EvalError(f"format(): a format verb is missing at offset {match.start()}")
            if index is not None:
                explicit = True
                used = int(index[:7]) - 1
                if used < 0:
                    raise EvalError(f"format(): invalid argument index [{index}] at offset {match.start()}")
            if used >= len(values):
                raise EvalError("format(): not enough arguments for the format string")
            for digits in (width, precision or ""):
                if len(digits) > 7 or (digits and int(digits) > MAX_STRING_LENGTH):
                    raise EvalError(f"format(): width or precision {digits[:20]} is over the string limit ({MAX_STRING_LENGTH:,})")
            piece = _format_one(values[used], flags, int(width) if width else -1,
                                None if precision is None else int(precision or "0"), verb)
            used += 1
            highest = max(highest, used)
        for part in (text[last : match.start()], piece):
            length += len(part)
            _within_string_limit(length)  # many wide verbs: stop before joining them
            pieces.append(part)
        last = match.end()
    pieces.append(text[last:])
    if not explicit and highest < len(values):
        raise EvalError(f"format(): too many arguments; only {highest} used by format string")
    return "".join(pieces)


def _format_one(value: Any, flags: str, width: int, precision: int | None, verb: str) -> str:
    if verb != "v" and value is None:
        raise EvalError(f"format(): null value cannot be formatted with %{verb}")
    if verb == "v":
        if "#" not in flags and isinstance(value, str):
            return _pad(value, flags, width)
        if "#" not in flags and isinstance(value, (int, float)) and not isinstance(value, bool):
            return _pad(go_g(value), flags, width)
        return _pad(encode_json(value), flags, width)
    if verb == "t":
        return "true" if to_bool(value, "format(): %t argument") else "false"
    if verb in "bdoxXeEfgG":
        n = to_number(value, f"format(): %{verb} argument")
        if verb in "bdoxX":
            if isinstance(n, float):
                raise EvalError(f"format(): %{verb} needs a whole number, not {go_g(n)}")
            body = format(abs(n), verb)
            if "#" in flags and verb != "d":
                body = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}[verb] + body
            if precision is not None:
                body = body.zfill(precision)
        else:
            body = _go_float(abs(n), verb, precision, "#" in flags)
        sign = "-" if n < 0 else "+" if "+" in flags else " " if " " in flags else ""
        if "0" in flags and "-" not in flags and width > len(sign) + len(body) and (verb not in "bdoxX" or precision is None):
            body = body.zfill(width - len(sign))
        return _pad(sign + body, flags.replace("0", ""), width)
    if verb in "sq":
        if isinstance(value, (list, dict)):
            raise EvalError(f"format(): %{verb} needs a string, not {type_name(value)}")
        s = to_string(value)
        if precision:
            s = "".join(graphemes(s)[:precision])
        if verb == "q":
            s = json_string(s)
        return _pad(s, flags, width)
    raise EvalError(f"format(): unsupported format verb %{verb}")


def _pad(text: str, flags: str, width: int) -> str:
    if width < 0:
        return text
    count = len(text) if text.isascii() else len(graphemes(text))
    if count >= width:
        return text
    pad = ("0" if "0" in flags else " ") * (width - count)
    return text + pad if "-" in flags else pad + text


def _go_float(n: int | float, verb: str, precision: int | None, sharp: bool) -> str:
    """Go's %e/%E/%f/%g/%G of a non-negative number, rounded (half to even) from the value cty
    would hold: a whole number exactly, a fraction as its decimal text read into a 512-bit
    float (so `format("%.2f", 2.675)` is what Terraform prints, not float64's "2.67")."""
    if verb in "fF":
        p = 6 if precision is None else precision
        q = round(_cty_exact(n) * 10**p)
        digits = str(q).rjust(p + 1, "0")
        return digits if p == 0 else f"{digits[:-p]}.{digits[-p:]}"
    if verb in "eE":
        p = 6 if precision is None else precision
        mantissa, exp = _significant(_cty_exact(n), p + 1)
        out = mantissa[0] + ("." + mantissa[1:] if p > 0 else "") + f"e{'-' if exp < 0 else '+'}{abs(exp):02d}"
        return out.upper() if verb == "E" else out
    out = go_g(n) if precision is None else _go_g_precision(_cty_exact(n), precision)
    return out.upper() if verb == "G" else out


def _significant(exact: fractions.Fraction, digits: int) -> tuple[str, int]:
    """`exact` (not negative) rounded half to even to `digits` significant digits: the digit
    string and the decimal exponent of its first digit."""
    if exact == 0:
        return "0" * digits, 0
    exp = len(str(exact.numerator)) - len(str(exact.denominator))
    while exact >= fractions.Fraction(10) ** (exp + 1):
        exp += 1
    while exact < fractions.Fraction(10) ** exp:
        exp -= 1
    q = round(exact / fractions.Fraction(10) ** (exp - digits + 1))
    if q >= 10**digits:  # 9.99… rounded up to 10.0…
        q //= 10
        exp += 1
    return str(q), exp


def _cty_exact(n: int | float) -> fractions.Fraction:
    """The number cty would hold: whole numbers exact; a fraction is its shortest decimal text
    (what the configuration wrote) rounded to a 512-bit mantissa, as cty.ParseNumberVal does."""
    if isinstance(n, int):
        return fractions.Fraction(n)
    exact = fractions.Fraction(repr(n))
    if exact == 0:
        return exact
    top = abs(exact.numerator).bit_length() - exact.denominator.bit_length()  # 2**top ≈ |exact|
    if fractions.Fraction(2) ** top > abs(exact):
        top -= 1  # now 2**top <= |exact| < 2**(top + 1): the mantissa gets all 512 bits
    scale = fractions.Fraction(2) ** (511 - top)
    return fractions.Fraction(round(exact * scale)) / scale


def go_g(n: int | float) -> str:
    """Go's shortest %g (big.Float Text('g', -1), as cty's %v and %g): the %e form when the
    decimal exponent is below -4 or at least 6 (`1e+06`), else plain digits."""
    if n == 0:
        return "0"
    if isinstance(n, int):
        whole = str(abs(n))
        digits, exp = whole.rstrip("0"), len(whole)
    else:
        digits, exp = _shortest(abs(n))
    sign = "-" if n < 0 else ""
    x = exp - 1
    if x < -4 or x >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if exp <= 0:
        return f"{sign}0.{'0' * -exp}{digits}"
    if exp >= len(digits):
        return f"{sign}{digits}{'0' * (exp - len(digits))}"
    return f"{sign}{digits[:exp]}.{digits[exp:]}"


def _shortest(f: float) -> tuple[str, int]:
    """The shortest round-trip digits of `f` and its decimal point position."""
    mant, _, e = repr(f).partition("e")
    int_part, _, frac = mant.partition(".")
    if frac == "0":
        frac = ""
    digits = (int_part + frac).lstrip("0")
    point = len(int_part) + (int(e) if e else 0)
    lead = len(int_part + frac) - len((int_part + frac).lstrip("0"))
    digits = digits.rstrip("0") or "0"
    return digits, point - lead


def _go_g_precision(exact: fractions.Fraction, precision: int) -> str:
    """Go's %.Ng: N significant digits (at least 1), trailing zeros dropped, the %e form when
    the exponent is below -4 or at least N."""
    p = precision or 1
    digits, exp = _significant(exact, p)
    digits = digits.rstrip("0") or "0"
    if exp < -4 or exp >= p:
        return digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + f"e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return "0." + "0" * (-exp - 1) + digits
    if len(digits) <= exp + 1:
        return digits + "0" * (exp + 1 - len(digits))
    return digits[: exp + 1] + "." + digits[exp + 1 :]


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
    if s == "":  # Go's strings.Split: one element per character; none for ""
        _within_collection_limit(len(t))
        return list(t)
    _within_collection_limit(t.count(s) + 1)
    return t.split(s)


def _length(value: Any) -> int:
    if isinstance(value, (list, dict)):
        return len(value)
    if isinstance(value, str):
        return len(value) if value.isascii() and "\r" not in value else len(graphemes(value))
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
        network = no_mapped(ipaddress.ip_network(legacy_ipv4(_str(prefix, "cidrsubnet")), strict=False), "cidrsubnet")
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
        network = no_mapped(ipaddress.ip_network(legacy_ipv4(_str(prefix, "cidrhost")), strict=False), "cidrhost")
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
    return items[i % len(items)]  # Terraform ≥ 1.x: negative indexes count from the end


def _coalesce(*values: Any) -> Any:
    values = _unify_primitives(values, "coalesce")
    for v in values:
        if isinstance(v, Unknown):
            return v
        if v is not None and v != "":
            return v
    raise EvalError("coalesce(): no non-null, non-empty argument")


def _compact(value: Any) -> Any:
    items = _list(value, "compact")
    for x in items:
        if isinstance(x, Unknown) and x.address is None:
            return Unknown(x.refs)  # it may be null or "": the result's length is unknown
    # A group's id (an Unknown with an address) is never empty: it stays.
    return [x for x in items if x is not None and not (type(x) is str and x == "")]


def _unify_primitives(values: tuple[Any, ...] | list[Any], fn: str) -> Any:
    """cty's type unification of primitive arguments: when strings mix with numbers or bools,
    every one becomes a string (`coalesce(1, "x")` is "1"); numbers with bools do not unify."""
    kinds = {type_name(v) for v in values if v is not None and not isinstance(v, Unknown)}
    if len(kinds) <= 1:
        return values
    if kinds <= {"string", "number", "bool"} and "string" in kinds:
        return [v if v is None or isinstance(v, Unknown) else to_string(v) for v in values]
    if kinds & {"list", "object"} and kinds & {"string", "number", "bool"}:
        raise EvalError(f"{fn}(): all arguments must have the same type")
    if kinds == {"number", "bool"}:
        raise EvalError(f"{fn}(): all arguments must have the same type")
    return values


def _range(*args: Any) -> list[int | float]:
    nums = [to_number(a, "range()") for a in args]
    if len(nums) == 1:
        start, stop, step = 0, nums[0], 1 if nums[0] >= 0 else -1
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
    return list(_unify_primitives(_list(value, "tolist"), "tolist"))


def _toset(value: Any) -> list[Any]:
    return as_set(list(_unify_primitives(_list(value, "toset"), "toset")))


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

# cty's JSON: object keys sorted, Go's HTML-safe string escapes, numbers in plain decimal.
_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)
_JSON_ONE_SHOT_SIZE = MAX_STRING_LENGTH // 64  # values this small cannot encode over the limit
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def encode_json(value: Any, size: int | None = None) -> str:
    """Compact JSON of `value` as cty writes it, refused (while it is built) when it would pass
    the string limit."""
    if size is None:
        size = Budget(MAX_VALUE_SIZE * 4).size(value)
    if _has_exponent_float(value):
        marks: dict[str, str] = {}
        encoded = encode_json(_plain_floats(value, marks, f"\x00{secrets.token_hex(8)}:"), size)
        return _check_length(re.sub('"\\\\u0000[0-9a-f]{16}:[0-9]+\\\\u0000"', lambda m: marks.get(m.group(0), m.group(0)), encoded))
    if size <= _JSON_ONE_SHOT_SIZE:
        return _check_length(_go_escapes(_JSON.encode(value)))
    pieces: list[str] = []
    length = 0
    for piece in _JSON.iterencode(value):
        length += len(piece)
        _within_string_limit(length)
        pieces.append(piece)
    return _go_escapes("".join(pieces))


def json_string(text: str) -> str:
    """A string as cty's JSON (and `%q`) writes it."""
    return _go_escapes(_JSON.encode(text))


def _go_escapes(text: str) -> str:
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        return text.translate(_GO_ESCAPES)
    return text


def _plain(f: float) -> str:
    """A float in plain decimal (cty's Text('f', -1)), never `1e-07`."""
    digits, point = _shortest(abs(f))
    sign = "-" if f < 0 else ""
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _has_exponent_float(value: Any) -> bool:
    if type(value) is float:
        return "e" in repr(value)
    if type(value) is list:
        return any(_has_exponent_float(v) for v in value)
    if type(value) is dict:
        return any(_has_exponent_float(v) for v in value.values())
    return False


def _plain_floats(value: Any, marks: dict[str, str], nonce: str) -> Any:
    """`value` with each float replaced by a unique placeholder string (the encoder writes
    floats with exponents; the placeholders are swapped for plain decimals afterwards)."""
    if type(value) is float:
        mark = f"{nonce}{len(marks)}\x00"
        marks[json.dumps(mark)] = _plain(value)
        return mark
    if type(value) is list:
        return [_plain_floats(v, marks, nonce) for v in value]
    if type(value) is dict:
        return {k: _plain_floats(v, marks, nonce) for k, v in value.items()}
    return value


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
    chars: Any = t if t.isascii() and "\r" not in t else graphemes(t)
    if o < 0:
        o = max(o + len(chars), 0)
    if o > len(chars):
        return ""  # cty: an offset past the end is the empty string
    out = chars[o:] if n < 0 else chars[o : o + n]  # any negative length: to the end (cty)
    return out if isinstance(out, str) else "".join(out)


FUNCTIONS: dict[str, Function] = {
    **MORE_FUNCTIONS,
    "abs": lambda v: result_number(abs(to_number(v, "abs()"))),
    "ceil": _rounded("ceil", math.ceil),
    "cidrhost": _cidrhost,
    "cidrsubnet": _cidrsubnet,
    "coalesce": _coalesce,
    "compact": _compact,
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
    "lower": _one_string(lambda t: simple_case(t, False), "lower"),
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
    "title": _one_string(go_title, "title"),
    "tobool": _tobool,
    "tolist": _tolist,
    "tomap": _tomap,
    "tonumber": _tonumber,
    "toset": _toset,
    "tostring": _tostring,
    "trimprefix": lambda s, p: (lambda t, q: t[len(q) :] if q and t.startswith(q) else t)(_str(s, "trimprefix"), _str(p, "trimprefix", 2)),
    "trimsuffix": lambda s, p: (lambda t, q: t[: -len(q)] if q and t.endswith(q) else t)(_str(s, "trimsuffix"), _str(p, "trimsuffix", 2)),
    "trimspace": _one_string(go_trimspace, "trimspace"),
    "upper": _one_string(lambda t: simple_case(t, True), "upper"),
    "values": _values,
    "zipmap": _zipmap,
}

# Functions whose result does not depend on inspecting elements: Unknown elements pass through.
_STRUCTURAL = frozenset({"concat", "length", "element", "tolist", "merge", "keys", "values", "coalesce", "reverse", "slice", "compact", "lookup", "zipmap"})
# (not flatten: an unknown element may be a list to flatten; compact checks its unknowns)
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
        return budget.text(nfc(result))
    return budget.check(result)
