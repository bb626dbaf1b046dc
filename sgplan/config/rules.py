"""One `ingress`/`egress` block (evaluated) → canonical `model.Rule`s, with the per-rule checks
of DESIGN §2: one source, CIDR family, port syntax and protocol, ICMP family, service template."""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Callable

from sgplan.config.shared import resource_type
from sgplan.config.values import Unknown, has_unknown, type_name
from sgplan.diagnostics import Diagnostic, error, warning
from sgplan.hcl.nodes import Const, Ref
from sgplan.hcl.syntax import Attribute, Block
from sgplan.model import (
    PORTED,
    SERVICE_FIELDS,
    SOURCE_FIELDS,
    GroupRef,
    Rule,
    SourceRange,
    normalize_action,
    normalize_cidr,
    normalize_port,
    normalize_protocol,
)

GROUP_ID = re.compile(r"^sg-[0-9a-z]+$")
_LIST_SOURCES = {"cidr_blocks": ("cidr_block", 4), "ipv6_cidr_blocks": ("ipv6_cidr_block", 6)}
# The normalisers are pure, and large estates repeat the same few CIDRs and ports thousands of
# times: `ipaddress` parsing was ~30% of evaluate() at 2,000 groups × 50 rules. Errors are not
# cached (lru_cache does not cache exceptions), so every bad value is still reported.
_normalize_cidr = functools.lru_cache(maxsize=1 << 16, typed=True)(normalize_cidr)
_normalize_port = functools.lru_cache(maxsize=1 << 12, typed=True)(normalize_port)
_normalize_action = functools.lru_cache(maxsize=64, typed=True)(normalize_action)
_normalize_protocol = functools.lru_cache(maxsize=64, typed=True)(normalize_protocol)
_CIDR_VERSION = {"cidr_block": 4, "ipv6_cidr_block": 6}


# Characters a name or description never needs and a reviewer cannot see: C0/C1 controls
# (terminal escapes, newlines that end a markdown fence) and the bidi controls that reorder what
# is displayed. The API documents only lengths for these fields; sgplan is stricter on purpose
# (issue 11) and the renderers escape them when they come from the live side.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def invisible_character(text: str) -> str | None:
    """`None`, or a message naming the first control or bidi character in `text`.

    >>> invisible_character("web\\x1b[31m")
    'contains the control character U+001B at offset 3'
    """
    found = _INVISIBLE.search(text)
    if found is None:
        return None
    kind = "bidi control" if found.group() > "\x9f" else "control character"
    return f"contains the {kind} U+{ord(found.group()):04X} at offset {found.start()}"


_TEMPLATE_ATTRS = frozenset(
    {"address_template_id", "address_template_group_id", "service_template_id", "service_template_group_id"})


def literal_rule(
    block: Block, group_id_of: Callable[[Attribute], Any], address: str, diags: list[Diagnostic]
) -> Rule | None:
    """The straight path for the common rule: every attribute a literal string (the source may
    also be a plain reference, resolved by `group_id_of`), action, protocol and one source set,
    no service template, nothing to report but the 0.0.0.0/n and host-bits warnings. None when
    the block is anything else or anything is wrong: `build_rules` then takes it (and reports)."""
    action = protocol = port = description = source_name = None
    source_attr: Attribute | None = None
    for name, attr in block.attributes.items():
        expr = attr[1]  # an Attribute is a tuple (name, expr, file, line, column): no property call
        if type(expr) is Const:
            value = expr.value
            if type(value) is not str:
                return None
        elif name == "security_group_id" and type(expr) is Ref:
            value = None
        else:
            return None
        if name == "action":
            action = value
        elif name == "protocol":
            protocol = value
        elif name == "port":
            port = value
        elif name == "description":
            description = value
        elif name in SOURCE_FIELDS and source_name is None:
            source_name, source_attr = name, attr
        else:
            return None
    if action is None or protocol is None or source_attr is None:
        return None
    # isprintable() is False for every character _INVISIBLE finds (C0/C1 controls are Cc, the
    # bidi controls Cf): the regular expression runs only on the rare other descriptions.
    if description and not description.isprintable() and _INVISIBLE.search(description):
        return None  # build_rules reports it
    expr = source_attr[1]
    raw = expr.value if type(expr) is Const else None
    key = (action, protocol, port, source_name, raw if source_name in _CIDR_VERSION else None)
    straight = _STRAIGHT.get(key, _MISSING)
    if straight is _MISSING:
        if len(_STRAIGHT) >= _STRAIGHT_MAX:
            _STRAIGHT.clear()
        straight = _STRAIGHT[key] = _straight_fields(action, protocol, port, source_name, raw)
    if straight is None:
        return None
    head, message = straight
    description = description or ""
    if len(head) == 5:  # a CIDR block, canonical, in its field (positional arguments: no *head, faster)
        action, protocol, port, cidr, cidr6 = head
        if message is not None:
            diags.append(warning(message, source_attr.range, address))
        return Rule(action, protocol, port, cidr, cidr6, None, None, None, None, None, description, block.range)
    action, protocol, port = head
    if raw is None:  # `security_group_id = security_group.x.id` (or another plain reference)
        source = group_id_of(source_attr)
        if type(source) is Unknown and source.address is not None:
            source = GroupRef(source.address)
        elif type(source) is not str or not GROUP_ID.match(source):
            return None
        return Rule(action, protocol, port, None, None, source, None, None, None, None, description, block.range)
    if source_name == "security_group_id" and not GROUP_ID.match(raw):
        return None
    return Rule(action, protocol, port, description=description, origin=block.range, **{source_name: raw})


# The straight path's verdict on a rule's literal fields, by (action, protocol, port, source
# field, CIDR text or None): large estates repeat the same few combinations thousands of times,
# and each verdict is a pure function of those strings (issue 18). The value is None (not for the
# straight path) or (the Rule's leading fields, the warning the source gets or None); for a CIDR
# source the leading fields run to ipv6_cidr_block, else they stop after the port.
_STRAIGHT: dict[tuple[Any, ...], tuple[tuple[Any, ...], str | None] | None] = {}
_STRAIGHT_MAX = 1 << 16  # emptied when full: a bound on memory, never on correctness
_MISSING = object()


def _straight_fields(action: str, protocol: str, port: str | None, source_name: str, raw: str | None
                     ) -> tuple[tuple[Any, ...], str | None] | None:
    try:
        action = _normalize_action(action)
        protocol = _normalize_protocol(protocol)
        if protocol in PORTED and not (port or "").strip():
            return None  # build_rules reports the missing port
        port = _normalize_port(protocol, port)
    except ValueError:
        return None
    version = _CIDR_VERSION.get(source_name)
    if not version or raw is None:
        return (action, protocol, port), None
    try:
        source = _normalize_cidr(raw, version)
    except ValueError:
        return None
    if (protocol == "ICMP" and version == 6) or (protocol == "ICMPv6" and version == 4):
        return None
    message = None
    if source == "0.0.0.0/0":
        message = _zero_network_message(raw, source, source_name)
    elif "/" in raw and raw.partition("/")[0] != source.partition("/")[0]:
        message = _host_bits_message(raw, source, source_name)
    head = (action, protocol, port, source, None) if version == 4 else (action, protocol, port, None, source)
    return head, message


def build_rules(
    block: Block,
    get: Callable[[Attribute], Any],
    failed: Any,
    address: str,
    diags: list[Diagnostic],
    origin: SourceRange | None = None,
) -> list[Rule]:
    """The rules one rule block stands for (several with `cidr_blocks`, none on error).

    `get` evaluates an attribute (returning `failed` after reporting an error).
    """
    origin = origin or block.range
    values: dict[str, tuple[Any, SourceRange]] = {}
    ok = True
    for name, attr in block.attributes.items():
        value = get(attr)
        if value is failed:
            ok = False
        elif value is not None:  # null means "not set", as in Terraform
            values[name] = (value, attr.range)
    if not ok:
        return []
    problems = len(diags)

    def bad(name: str, message: str) -> None:
        where = values[name][1] if name in values else origin
        diags.append(error(f"{name}: {message}" if name in values else message, where, address))

    def text(name: str, allow_number: bool = False) -> Any:
        if name not in values:
            return None
        value = values[name][0]
        if isinstance(value, str):
            return value
        if allow_number and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, Unknown):
            if name in _TEMPLATE_ATTRS and value.address and resource_type(value.address) == name[:-3]:
                return GroupRef(value.address)  # a template of this configuration (issue 17)
            if name in _TEMPLATE_ATTRS and value.address:
                kind = resource_type(value.address)
                bad(name, f"{value.address}.id is the id of a {kind}, not of an {name[:-3]}"
                    if kind != "security_group" else f"{value.address}.id is a security group id")
                return None
            bad(name, "value is not known until apply (it depends on a group still to be created)")
        else:
            bad(name, f"a string is required, not a {type_name(value)}")
        return None

    action = text("action")
    protocol = text("protocol")
    port = text("port", allow_number=True)
    description = text("description") or ""
    problem = invisible_character(description)
    if problem:
        bad("description", problem)
    services = {name: text(name) for name in SERVICE_FIELDS}
    singles: dict[str, Any] = {}
    for name in SOURCE_FIELDS:
        if name == "security_group_id" and name in values:
            singles[name] = _group_id(values[name][0], bad)
        elif name in values:
            singles[name] = text(name)
    lists: dict[str, list[str]] = {}
    for name in _LIST_SOURCES:
        if name in values:
            lists[name] = _string_list(name, values[name][0], bad)
    if len(diags) > problems:
        return []

    # -- action / protocol / port / service template --------------------------------------------
    if action is None:
        diags.append(error('rule is missing the required attribute "action" (ACCEPT or DROP)', origin, address))
    else:
        try:
            action = normalize_action(action)
        except ValueError as exc:
            bad("action", str(exc))
    has_service = any(services.values())
    missing_port: Diagnostic | None = None
    if has_service:
        for name in ("protocol", "port"):
            if name in values:
                bad(name, "cannot be combined with a service template (service_template_id / service_template_group_id)")
        if all(services.values()):
            bad("service_template_group_id", "give either service_template_id or service_template_group_id, not both")
    elif protocol is None:
        diags.append(error('rule needs "protocol" (TCP, UDP, ICMP, ICMPv6, GRE, ALL) or a service template', origin, address))
    else:
        try:
            protocol = normalize_protocol(protocol)
        except ValueError as exc:
            bad("protocol", str(exc))
            protocol = None
        if protocol in PORTED and (port is None or not port.strip()):
            # A missing port never means "every port" (issue 11): the API would read it as ALL.
            # Reported after the source, so one run shows every problem of the block.
            port_attr = block.attributes.get("port")
            where = port_attr.range if port_attr is not None else origin
            missing_port = error(f'port: {protocol} needs a port ("22", "8000-8010", "80,443", or "ALL" '
                                 "for every port)", where, address)
        elif protocol is not None:
            try:
                port = _normalize_port(protocol, port)
            except ValueError as exc:
                bad("port", str(exc))

    # -- the source -----------------------------------------------------------------------------
    given = [n for n in SOURCE_FIELDS if n in values] + [n for n in _LIST_SOURCES if n in values]
    if not given:
        names = ", ".join(SOURCE_FIELDS + tuple(_LIST_SOURCES))
        diags.append(error(f"rule needs exactly one source: one of {names}", origin, address))
    elif len(given) > 1:
        bad(given[1], f"a rule has exactly one source; {given[0]} and {given[1]} are both set")
    if len(diags) > problems or (missing_port and not given):
        if missing_port:
            diags.append(missing_port)
        return []

    field = given[0]
    if field in _LIST_SOURCES:
        single, version = _LIST_SOURCES[field]
        sources = [(single, v, version) for v in lists[field]]
    else:
        version = 4 if field == "cidr_block" else 6 if field == "ipv6_cidr_block" else 0
        sources = [(field, singles[field], version)]

    rules: list[Rule] = []
    for name, value, version in sources:
        if version:
            try:
                canonical = _normalize_cidr(value, version)
            except ValueError as exc:
                bad(field, str(exc))
                continue
            _warn_zero_network(value, canonical, field, values[field][1], address, diags)
            if "/" in str(value) and str(value).partition("/")[0].strip() != canonical.partition("/")[0]:
                _warn_host_bits(value, canonical, field, values[field][1], address, diags)
            value = canonical
            if protocol == "ICMP" and version == 6:
                bad("protocol", "ICMP needs an IPv4 source (cidr_block); use ICMPv6 with ipv6_cidr_block")
            elif protocol == "ICMPv6" and version == 4:
                bad("protocol", "ICMPv6 needs an IPv6 source (ipv6_cidr_block); use ICMP with cidr_block")
        fields: dict[str, Any] = {name: value}
        rules.append(
            Rule(
                action=action or "",
                protocol=None if has_service else protocol,
                port=None if has_service else (port if protocol in PORTED else None),
                description=description,
                origin=origin,
                **fields,
                **{k: v for k, v in services.items() if v},
            )
        )
    if len(diags) > problems and any(d.severity.value == "error" for d in diags[problems:]):
        return []
    if missing_port:
        diags.append(missing_port)
        return []
    return rules


def _group_id(value: Any, bad: Callable[[str, str], None]) -> Any:
    if isinstance(value, Unknown):
        if value.address is not None:
            return GroupRef(value.address)
        bad("security_group_id", "value depends on a group id not known until apply; use security_group.<name>.id directly")
        return None
    if not isinstance(value, str):
        bad("security_group_id", f"a string is required, not a {type_name(value)}")
        return None
    if not GROUP_ID.match(value):
        bad("security_group_id", f'"{value}" does not look like a security group id (sg-…)')
        return None
    return value


def _string_list(name: str, value: Any, bad: Callable[[str, str], None]) -> list[str]:
    if not isinstance(value, list):
        bad(name, f"a list of strings is required, not a {type_name(value)}")
        return []
    if has_unknown(value):
        bad(name, "value is not known until apply")
        return []
    for item in value:
        if not isinstance(item, str):
            bad(name, f"every element must be a string, not a {type_name(item)}")
            return []
    return value


def _warn_host_bits(raw: str, canonical: str, field: str, where: SourceRange, address: str, diags: list[Diagnostic]) -> None:
    message = _host_bits_message(raw, canonical, field)
    if message is not None:
        diags.append(warning(message, where, address))


def _host_bits_message(raw: str, canonical: str, field: str) -> str | None:
    """`10.0.0.5/24` means the network 10.0.0.0/24, as the API reads it; say so, since the author
    may have meant the one address (issue 15)."""
    if canonical == "0.0.0.0/0":
        return None  # _zero_network_message says more
    try:
        ipaddress.ip_network(str(raw).strip(), strict=True)
        return None  # only a different spelling (e.g. IPv6 case), no host bits
    except ValueError:
        pass
    one = "/32" if ":" not in canonical else "/128"
    host = str(raw).strip().partition("/")[0]
    return f'{field}: "{raw}" has host bits set: it is the network {canonical} (write {host}{one} for the one address)'


def _warn_zero_network(raw: str, canonical: str, field: str, where: SourceRange, address: str, diags: list[Diagnostic]) -> None:
    message = _zero_network_message(raw, canonical, field)
    if message is not None:
        diags.append(warning(message, where, address))


def _zero_network_message(raw: str, canonical: str, field: str) -> str | None:
    """The API stores any `0.0.0.0/n` as `0.0.0.0/0` (reference/tencentcloud-sg-api.md §1.2)."""
    if canonical != "0.0.0.0/0":
        return None
    try:
        prefix = ipaddress.ip_network(str(raw).strip(), strict=False).prefixlen
    except ValueError:
        return None
    if prefix > 0:
        return f'{field}: "{raw}" is stored as 0.0.0.0/0 by the API (it opens to every address)'
    return None
