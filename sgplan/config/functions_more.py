"""Terraform built-ins beyond the original subset (issue 14): sets, numbers, strings, encoding,
hashing, CIDR helpers, collection helpers. Semantics follow go-cty's stdlib and Terraform's
internal/lang/funcs; tests/config/test_upstream_functions.py holds the upstream cases.

Every function here bounds its result against the limits of values.py before building it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import math
import unicodedata
import urllib.parse
import uuid
from typing import Any, Callable

from sgplan.config.values import (
    MAX_COLLECTION_LENGTH,
    MAX_VALUE_SIZE,
    EvalError,
    as_set,
    collection_limit_message,
    distinct,
    equality_key,
    result_number,
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
    raise EvalError(f"{fn}(): argument {position} must be a list or set, not {type_name(value)}")


def _str(value: Any, fn: str, position: int = 1) -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise EvalError(f"{fn}(): argument {position} must be a string, not {type_name(value)}")
    return to_string(value)


def _int(value: Any, fn: str, position: int = 1) -> int:
    n = to_number(value, f"{fn}(): argument {position}")
    if isinstance(n, float):
        raise EvalError(f"{fn}(): argument {position} must be a whole number, not {n}")
    return n


def graphemes(text: str) -> list[str]:
    """Extended grapheme clusters (what cty counts in length, substr, strrev, format widths)."""
    if text.isascii():
        return list(text) if "\r\n" not in text else _regex().findall(r"\X", text)
    return _regex().findall(r"\X", text)


def _regex() -> Any:
    import regex  # python-hcl2's dependency; imported on first non-ASCII use

    return regex


# -- sets ----------------------------------------------------------------------------------------

def _sets(values: tuple[Any, ...], fn: str) -> list[list[Any]]:
    if not values:
        raise EvalError(f"{fn}(): needs at least one set")
    return [_list(v, fn, i) for i, v in enumerate(values, 1)]


def _setunion(*values: Any) -> list[Any]:
    out: list[Any] = []
    for s in _sets(values, "setunion"):
        out.extend(s)
    return as_set(out)


def _setintersection(*values: Any) -> list[Any]:
    sets = _sets(values, "setintersection")
    keep = {equality_key(v) for v in sets[0]}
    for s in sets[1:]:
        keep &= {equality_key(v) for v in s}
    return as_set([v for v in sets[0] if equality_key(v) in keep])


def _setsubtract(a: Any, b: Any) -> list[Any]:
    drop = {equality_key(v) for v in _list(b, "setsubtract", 2)}
    return as_set([v for v in _list(a, "setsubtract") if equality_key(v) not in drop])


def _setsymmetricdifference(*values: Any) -> list[Any]:
    counts: dict[Any, int] = {}
    items: list[Any] = []
    for s in _sets(values, "setsymmetricdifference"):
        for v in distinct(s):
            k = equality_key(v)
            counts[k] = counts.get(k, 0) + 1
            items.append(v)
    return as_set([v for v in items if counts[equality_key(v)] % 2 == 1])


def _setproduct(*values: Any) -> list[Any]:
    if len(values) < 2:
        raise EvalError("setproduct(): at least two arguments are required")
    sets = [_list(v, "setproduct", i) for i, v in enumerate(values, 1)]
    total = 1
    for s in sets:
        total *= len(s)
        if total > MAX_COLLECTION_LENGTH:  # refuse before building: the product multiplies
            raise EvalError(collection_limit_message(total))
    if total * (1 + len(sets)) > MAX_VALUE_SIZE:
        raise EvalError(value_limit_message())
    out: list[list[Any]] = [[]]
    for s in sets:
        out = [prefix + [item] for prefix in out for item in s]
    return out


# -- numbers -------------------------------------------------------------------------------------

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parseint(text: Any, base: Any) -> int:
    """Go's big.Int SetString for bases 2..62: an optional sign, then digits only (no prefix,
    no underscores); letters are case-insensitive up to base 36."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise EvalError(f"parseint(): argument 1 must be a string, not {type_name(text)}")
    b = _int(base, "parseint", 2)
    if not 2 <= b <= 62:
        raise EvalError("parseint(): base must be a whole number between 2 and 62 inclusive")
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or len(digits) > 2000:
        raise EvalError(f"parseint(): cannot parse {json.dumps(text)} as a base {b} integer")
    value = 0
    for c in digits:
        d = _DIGITS.find(c.lower() if b <= 36 else c)
        if d < 0 or d >= b:
            raise EvalError(f"parseint(): cannot parse {json.dumps(text)} as a base {b} integer")
        value = value * b + d
    return result_number(-value if text.startswith("-") else value)


def _pow(a: Any, b: Any) -> int | float:
    x, y = to_number(a, "pow(): argument 1"), to_number(b, "pow(): argument 2")
    try:
        return result_number(math.pow(x, y))
    except (OverflowError, ValueError):
        raise EvalError("pow(): the result is not a finite number") from None


def _log(a: Any, b: Any) -> int | float:
    x, base = to_number(a, "log(): argument 1"), to_number(b, "log(): argument 2")
    if base == 0 and x > 0 and x != 1:
        return 0  # log(x) / log(0) is log(x) / -inf: zero, as in cty
    try:
        return result_number(math.log(x) / math.log(base))
    except (ValueError, ZeroDivisionError):
        raise EvalError("log(): the result is not a finite number") from None


def _signum(a: Any) -> int:
    n = to_number(a, "signum()")
    return 1 if n > 0 else -1 if n < 0 else 0


def _sum(value: Any) -> int | float:
    items = _list(value, "sum")
    if not items:
        raise EvalError("sum(): cannot sum an empty list")
    total: int | float = 0
    for item in items:
        if item is None:
            raise EvalError("sum(): argument must be list, set, or tuple of number values (an element is null)")
        total = result_number(total + to_number(item, "sum(): element"))
    return total


# -- strings -------------------------------------------------------------------------------------

def _strrev(value: Any) -> str:
    return "".join(reversed(graphemes(_str(value, "strrev"))))


def _trim(text: Any, cutset: Any) -> str:
    return _str(text, "trim").strip(_str(cutset, "trim", 2))


def _chomp(text: Any) -> str:
    t = _str(text, "chomp")
    while t.endswith(("\n", "\r")):
        t = t[:-1]
    return t


def _indent(spaces: Any, text: Any) -> str:
    n = _int(spaces, "indent")
    t = _str(text, "indent", 2)
    if n < 0 or n * (t.count("\n") + 1) > 1_048_576:
        raise EvalError("indent(): the indentation is out of range")
    return t.replace("\n", "\n" + " " * n)


def _strcontains(text: Any, sub: Any) -> bool:
    return _str(sub, "strcontains", 2) in _str(text, "strcontains")


def _urlencode(text: Any) -> str:
    # Go's url.QueryEscape: unreserved characters stay, spaces become "+".
    return urllib.parse.quote_plus(_str(text, "urlencode").encode("utf-8"), safe="-_.~")


def simple_case(text: str, upper: bool) -> str:
    """Go's strings.ToUpper/ToLower: each character mapped alone by its simple case mapping
    (`ﬄ` and `ß` stay, `İ` lowers to `i`, `Σ` lowers to `σ` even at a word's end), where
    Python's str.upper/lower use full, context-sensitive mappings."""
    if text.isascii():
        return text.upper() if upper else text.lower()
    return "".join(_simple_upper(c) if upper else _simple_lower(c) for c in text)


def _simple_upper(c: str) -> str:
    u = c.upper()
    if len(u) == 1:
        return u
    t = c.title()  # where the full mapping expands, the simple one (if any) is the titlecase
    return t if len(t) == 1 else c


def _simple_lower(c: str) -> str:
    if c == "\u0130":
        return "i"  # İ: the one character whose full lowercase mapping expands
    lowered = c.lower()
    return lowered if len(lowered) == 1 else c


def _simple_title(c: str) -> str:
    t = c.title()
    return t if len(t) == 1 else _simple_upper(c)


# Go's unicode.IsSpace beyond ASCII.
_GO_SPACE = frozenset("\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(chr(c) for c in range(0x2000, 0x200B)))


def _go_separator(c: str) -> bool:
    """strings.Title's word separator test."""
    if c.isascii():
        return not (c.isalnum() or c == "_")
    if unicodedata.category(c)[0] == "L" or unicodedata.category(c) == "Nd":
        return False
    return c in _GO_SPACE


_GO_TRIM = "\t\n\v\f\r " + "".join(sorted(_GO_SPACE))


def go_trimspace(text: str) -> str:
    """Go's strings.TrimSpace (cty's trimspace): Python's strip also removes \\x1c-\\x1f."""
    return text.strip(_GO_TRIM)


def go_title(text: str) -> str:
    """Go's strings.Title (cty's title): the first character after a separator in titlecase."""
    out: list[str] = []
    previous = " "
    for c in text:
        out.append(_simple_title(c) if _go_separator(previous) else c)
        previous = c
    return "".join(out)


# -- encoding and hashing ------------------------------------------------------------------------

def _base64decode(text: Any) -> str:
    t = _str(text, "base64decode")
    try:
        raw = base64.b64decode(t.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise EvalError("base64decode(): the string is not valid base64") from None
    try:
        return unicodedata.normalize("NFC", raw.decode("utf-8"))  # cty strings are NFC
    except UnicodeDecodeError:
        raise EvalError("base64decode(): the decoded bytes are not valid UTF-8") from None


def _hash(name: str, encode: Callable[[bytes], str]) -> Function:
    def fn(text: Any) -> str:
        return encode(hashlib.new(name, _str(text, name).encode("utf-8")).digest())

    return fn


_UUID_NAMESPACES = {"dns": uuid.NAMESPACE_DNS, "url": uuid.NAMESPACE_URL, "oid": uuid.NAMESPACE_OID, "x500": uuid.NAMESPACE_X500}


def _uuidv5(namespace: Any, name: Any) -> str:
    ns = _str(namespace, "uuidv5")
    space = _UUID_NAMESPACES.get(ns)
    if space is None:
        try:
            space = uuid.UUID(ns)
        except ValueError:
            raise EvalError(f"uuidv5(): {json.dumps(ns)} is not a valid namespace (dns, url, oid, x500 or a UUID)") from None
    return str(uuid.uuid5(space, _str(name, "uuidv5", 2)))


def _jsondecode(text: Any) -> Any:
    t = _str(text, "jsondecode")

    def constant(word: str) -> Any:
        raise ValueError(word)

    try:
        value = json.loads(t, parse_constant=constant)
    except (ValueError, RecursionError) as exc:
        raise EvalError(f"jsondecode(): the string is not valid JSON ({str(exc).split(':')[0]})") from None
    return _json_numbers(value)


def _json_numbers(value: Any) -> Any:
    """Decoded JSON as sgplan values: numbers within range, strings NFC-normalized (as cty's)."""
    if isinstance(value, str):
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, float):
        return result_number(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return result_number(value)
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    if isinstance(value, dict):
        return {_json_numbers(k): _json_numbers(v) for k, v in value.items()}
    return value


# -- collections ---------------------------------------------------------------------------------

def _chunklist(value: Any, size: Any) -> list[Any]:
    items, n = _list(value, "chunklist"), _int(size, "chunklist", 2)
    if n < 0:
        raise EvalError("chunklist(): the size argument must be positive")
    if n == 0:
        return [list(items)]
    return [items[i : i + n] for i in range(0, len(items), n)]


def _coalescelist(*values: Any) -> list[Any]:
    if not values:
        raise EvalError("coalescelist(): no arguments provided")
    for i, v in enumerate(values, 1):
        if _list(v, "coalescelist", i):
            return v
    raise EvalError("coalescelist(): no non-null arguments")


def _one(value: Any) -> Any:
    items = _list(value, "one")
    if len(items) > 1:
        raise EvalError(f"one(): must be a list, set, or tuple value with either zero or one elements (it has {len(items)})")
    return items[0] if items else None


def _alltrue(value: Any) -> bool:
    for item in _list(value, "alltrue"):
        if item is None or not to_bool(item, "alltrue(): element"):
            return False
    return True


def _anytrue(value: Any) -> bool:
    for item in _list(value, "anytrue"):
        if item is not None and to_bool(item, "anytrue(): element"):
            return True
    return False


def _transpose(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise EvalError(f"transpose(): argument must be a map of lists of strings, not {type_name(value)}")
    out: dict[str, list[str]] = {}
    for key in sorted(value):
        items = value[key]
        if not isinstance(items, list):
            raise EvalError("transpose(): argument must be a map of lists of strings")
        for item in items:
            if item is None:
                raise EvalError("transpose(): lists must not contain null values")
            out.setdefault(_str(item, "transpose"), []).append(key)
    return {k: out[k] for k in sorted(out)}


def _matchkeys(values: Any, keys: Any, searchset: Any) -> list[Any]:
    v, k, s = _list(values, "matchkeys"), _list(keys, "matchkeys", 2), _list(searchset, "matchkeys", 3)
    if len(v) != len(k):
        raise EvalError("matchkeys(): length of keys and values should be equal")
    # cty unifies keys and searchset to one type: numbers and strings compare as strings.
    unified = _as_strings_if_mixed(k + s)
    keys, search = unified[: len(k)], unified[len(k) :]
    wanted = {equality_key(x) for x in search}
    return [value for value, key in zip(v, keys) if equality_key(key) in wanted]


def _as_strings_if_mixed(items: list[Any]) -> list[Any]:
    kinds = {type_name(x) for x in items if x is not None}
    if "string" in kinds and len(kinds) > 1 and kinds <= {"string", "number", "bool"}:
        return [x if x is None else to_string(x) for x in items]
    return items


# -- CIDR ----------------------------------------------------------------------------------------

def _network(prefix: Any, fn: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    text = legacy_ipv4(_str(prefix, fn))
    try:
        return no_mapped(ipaddress.ip_network(text, strict=False), fn)
    except ValueError:
        raise EvalError(f"{fn}(): invalid CIDR expression {json.dumps(text)}") from None


def no_mapped(network: Any, fn: str) -> Any:
    """`network`, unless it is an IPv4-mapped IPv6 prefix (`::ffff:10.0.0.0/104`): Go treats
    those as IPv4 in ways Python's ipaddress does not, so sgplan refuses rather than differ."""
    if network.version == 6 and network.network_address.ipv4_mapped is not None and network.prefixlen >= 96:
        raise EvalError(f"{fn}(): IPv4-mapped IPv6 prefixes ({network}) are not supported; write the IPv4 prefix")
    return network


def legacy_ipv4(text: str) -> str:
    """Terraform parses IPv4 octets with leading zeros as decimal (`010.0.0.0/8` is 10.0.0.0/8,
    its legacy ParseCIDR); Python refuses them. Octets are rewritten without the zeros."""
    address, slash, bits = text.partition("/")
    parts = address.split(".")
    if len(parts) == 4 and all(p.isdigit() and p.isascii() and len(p) <= 3 for p in parts):
        address = ".".join(str(int(p)) for p in parts)
    return address + slash + bits


def _cidrnetmask(prefix: Any) -> str:
    network = _network(prefix, "cidrnetmask")
    if network.version != 4:
        raise EvalError("cidrnetmask(): only IPv4 networks have a netmask")
    return str(network.netmask)


def _cidrsubnets(prefix: Any, *newbits: Any) -> list[str]:
    network = _network(prefix, "cidrsubnets")
    if len(newbits) > 65536:
        raise EvalError(collection_limit_message(len(newbits)))
    width = network.max_prefixlen
    base = int(network.network_address)
    end = base + network.num_addresses
    current = base
    out: list[str] = []
    for i, bits_value in enumerate(newbits, 2):
        bits = _int(bits_value, "cidrsubnets", i)
        if bits < 1:
            raise EvalError("cidrsubnets(): must extend prefix by at least one bit")
        if bits > 32:  # Terraform's portability limit
            raise EvalError("cidrsubnets(): may not extend prefix by more than 32 bits")
        length = network.prefixlen + bits
        if length > width:
            raise EvalError(f"cidrsubnets(): would extend prefix to {length} bits, which is too long for an IPv{network.version} address")
        size = 1 << (width - length)
        start = (current + size - 1) // size * size  # the next boundary of this size
        if start + size > end:
            raise EvalError(f"cidrsubnets(): not enough remaining address space for a subnet with a prefix of {length} bits after {out[-1] if out else network}")
        out.append(str(ipaddress.ip_network((start, length))))
        current = start + size
    return out


MORE_FUNCTIONS: dict[str, Function] = {
    "alltrue": _alltrue,
    "anytrue": _anytrue,
    "base64decode": _base64decode,
    "base64encode": lambda t: base64.b64encode(_str(t, "base64encode").encode("utf-8")).decode("ascii"),
    "base64sha256": _hash("sha256", lambda d: base64.b64encode(d).decode("ascii")),
    "base64sha512": _hash("sha512", lambda d: base64.b64encode(d).decode("ascii")),
    "chomp": _chomp,
    "chunklist": _chunklist,
    "cidrnetmask": _cidrnetmask,
    "cidrsubnets": _cidrsubnets,
    "coalescelist": _coalescelist,
    "indent": _indent,
    "jsondecode": _jsondecode,
    "log": _log,
    "matchkeys": _matchkeys,
    "md5": _hash("md5", bytes.hex),
    "one": _one,
    "parseint": _parseint,
    "pow": _pow,
    "setintersection": _setintersection,
    "setproduct": _setproduct,
    "setsubtract": _setsubtract,
    "setsymmetricdifference": _setsymmetricdifference,
    "setunion": _setunion,
    "sha1": _hash("sha1", bytes.hex),
    "sha256": _hash("sha256", bytes.hex),
    "sha512": _hash("sha512", bytes.hex),
    "signum": _signum,
    "strcontains": _strcontains,
    "strrev": _strrev,
    "sum": _sum,
    "transpose": _transpose,
    "trim": _trim,
    "urlencode": _urlencode,
    "uuidv5": _uuidv5,
}
