"""First-match evaluation of ordered rules (API reference §5) as exact traffic sets.

An instance's policy is its groups' rules concatenated in binding order; the first rule that
matches decides and unmatched traffic is dropped. `evaluate` turns a rule list into the set it
accepts (and the set it explicitly drops); `first_match` scans for one packet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from sgplan.analysis.space import (
    OTHERS,
    PORTED,
    PROTOCOL_ORDER,
    V4,
    V4_MAX,
    V6,
    Box,
    Key,
    Traffic,
    clip,
    compact,
    cut_out,
    full_box,
    network_interval,
    parse_ports,
    port_bounds,
)
from sgplan.model import CloudState, Direction, Rule, SecurityGroup, normalize_protocol

# A rule's matching traffic before first-match: (protocol, realm) → boxes.
RuleTraffic = list[tuple[Key, Box]]


@dataclass(frozen=True, slots=True)
class Templates:
    """Address and service templates, flattened: template or template-group id → members."""

    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    services: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_state(cls, state: CloudState | None) -> "Templates":
        if state is None:
            return cls()
        addresses: dict[str, tuple[str, ...]] = {t.id: tuple(t.addresses) for t in state.address_templates}
        for group in state.address_template_groups:
            if all(t in addresses for t in group.template_ids):
                addresses[group.id] = tuple(a for t in group.template_ids for a in addresses[t])
        services: dict[str, tuple[str, ...]] = {t.id: tuple(t.services) for t in state.service_templates}
        for group in state.service_template_groups:
            if all(t in services for t in group.template_ids):
                services[group.id] = tuple(s for t in group.template_ids for s in services[t])
        return cls(addresses, services)


NO_TEMPLATES = Templates()


def policy(groups: Sequence[SecurityGroup], direction: Direction) -> tuple[Rule, ...]:
    """The effective rule list of an instance: its groups' rules in binding order."""
    return tuple(rule for group in groups for rule in group.rules(direction))


# ---------------------------------------------------------------------------------------------
# One rule → the traffic it matches


def _services(rule: Rule, templates: Templates) -> list[tuple[str, list[tuple[int, int]]]]:
    """(protocol, port intervals) pairs the rule covers; an unknown template stays symbolic."""
    template = rule.service_template_id or rule.service_template_group_id
    if template:
        members = templates.services.get(template)
        if members is None:
            return [(template, [(0, 0)])]
        out = []
        for member in members:
            parsed = _parse_service(member)
            if parsed is None:  # an entry we cannot read: keep the whole template symbolic
                return [(template, [(0, 0)])]
            out.extend(parsed)
        return out
    return _protocol_ports(rule.protocol or "ALL", rule.port)


def _protocol_ports(protocol: str, port: str | None) -> list[tuple[str, list[tuple[int, int]]]]:
    if protocol == "ALL":
        # ALL covers every protocol and every port, and every service we cannot see into.
        return [(p, [port_bounds(p)]) for p in PROTOCOL_ORDER] + [(OTHERS, [(0, 0)])]
    if protocol in PORTED:
        return [(protocol, parse_ports(port))]
    return [(protocol, [(0, 0)])]


def _parse_service(text: str) -> list[tuple[str, list[tuple[int, int]]]] | None:
    """`tcp:80`, `udp:53-60`, `tcp:80,443`, `icmp`, `all` → protocol and ports."""
    name, _, ports = text.strip().partition(":")
    try:
        protocol = normalize_protocol(name)
        if protocol not in PORTED and protocol != "ALL":
            return [(protocol, [(0, 0)])]
        if protocol == "ALL":
            return _protocol_ports("ALL", None)
        return [(protocol, parse_ports(ports or "ALL"))]
    except ValueError:
        return None


def _peers(rule: Rule, templates: Templates) -> list[tuple[str, int, int]]:
    """(realm, lo, hi) intervals the rule's source/destination covers."""
    if rule.cidr_block is not None:
        return [network_interval(rule.cidr_block)]
    if rule.ipv6_cidr_block is not None:
        return [network_interval(rule.ipv6_cidr_block)]
    if rule.security_group_id is not None:
        return [(str(rule.security_group_id), 0, 0)]
    template = rule.address_template_id or rule.address_template_group_id
    if template:
        members = templates.addresses.get(template)
        if members is None:
            return [(template, 0, 0)]
        try:
            return [network_interval(a) for a in members]
        except ValueError:  # an entry we cannot read: keep the whole template symbolic
            return [(template, 0, 0)]
    return []


def rule_symbols(rule: Rule, templates: Templates) -> set[str]:
    """Symbolic peers and services this rule names."""
    names = {p for p, _ in _services(rule, templates) if p not in PROTOCOL_ORDER and p != OTHERS}
    names.update(r for r, _, _ in _peers(rule, templates) if r not in (V4, V6))
    return names


def rule_traffic(rule: Rule, templates: Templates, symbols: Iterable[str] = ()) -> RuleTraffic:
    """The boxes a rule matches, before any first-match ordering.

    Symbolic peers (`sg-…`, unknown `ipm-…`) are matched by rules naming them and by rules
    covering all of IPv4 (0.0.0.0/0): group members are reached on their private IPv4 addresses
    (API reference §1.2). `symbols` lists the symbolic names of the whole rule list so that such
    broad rules cover them too; `*` stands for the ones not named.
    """
    symbols = set(symbols)
    realms_for_any = sorted(s for s in symbols if not s.startswith("ppm")) + [OTHERS]
    services_for_all = sorted(s for s in symbols if s.startswith("ppm"))
    services = _services(rule, templates)
    if rule.protocol == "ALL" and not (rule.service_template_id or rule.service_template_group_id):
        services = services + [(s, [(0, 0)]) for s in services_for_all]
    peers = _peers(rule, templates)
    expanded: list[tuple[str, int, int]] = []
    for realm, lo, hi in peers:
        expanded.append((realm, lo, hi))
        if realm == V4 and lo == 0 and hi == V4_MAX:
            expanded.extend((r, 0, 0) for r in realms_for_any)
    out: RuleTraffic = []
    for protocol, ports in services:
        for realm, lo, hi in expanded:
            # ICMP is IPv4-only and ICMPv6 IPv6-only (API reference §1.4 rule 4).
            if (protocol == "ICMP" and realm == V6) or (protocol == "ICMPv6" and realm == V4):
                continue
            for q_lo, q_hi in ports:
                out.append(((protocol, realm), (lo, hi, q_lo, q_hi)))
    return out


# ---------------------------------------------------------------------------------------------
# A rule list → what it accepts


@dataclass(frozen=True, slots=True, eq=False)
class Evaluation:
    """What an ordered rule list decides: accepted, explicitly dropped, and per rule what it decides.

    Traffic in neither `allowed` nor `denied` falls through (dropped by default on an instance;
    passed to the next group when the list is one group of several).
    """

    allowed: Traffic
    denied: Traffic
    decided: tuple[Traffic, ...] = ()  # per rule index; empty when not asked for


def symbols_of(rules: Iterable[Rule], templates: Templates) -> frozenset[str]:
    names: set[str] = set()
    for rule in rules:
        names |= rule_symbols(rule, templates)
    return frozenset(names)


def evaluate(
    rules: Sequence[Rule], templates: Templates = NO_TEMPLATES, *, per_rule: bool = False
) -> Evaluation:
    """First match wins over `rules`: allowed = each ACCEPT's traffic minus all matched before it.

    >>> from sgplan.model import Rule
    >>> ev = evaluate([Rule("DROP", "TCP", "22", cidr_block="0.0.0.0/0"),
    ...                Rule("ACCEPT", "TCP", "ALL", cidr_block="0.0.0.0/0")])
    >>> ev.allowed.contains("TCP", "v4", 0x08080808, 22), ev.allowed.contains("TCP", "v4", 0x08080808, 80)
    (False, True)
    """
    symbols = symbols_of(rules, templates)
    remaining: dict[Key, list[Box]] = {}
    allowed: dict[Key, list[Box]] = {}
    denied: dict[Key, list[Box]] = {}
    limits: dict[Key, int] = {}
    decided: list[Traffic] = []
    for rule in rules:
        target = allowed if rule.action == "ACCEPT" else denied
        this_rule: dict[Key, list[Box]] = {}
        for key, box in rule_traffic(rule, templates, symbols):
            left = remaining.get(key)
            if left is None:
                left = [full_box(*key)]
                limits[key] = 64
            matched = clip(left, box)
            if not matched:
                remaining[key] = left
                continue
            target.setdefault(key, []).extend(matched)
            if per_rule:
                this_rule.setdefault(key, []).extend(matched)
            left = cut_out(left, box)
            if len(left) > limits[key]:
                # Splitting fragments the unmatched set; re-merging keeps long lists fast.
                left = compact(left)
                limits[key] = max(64, 2 * len(left))
            remaining[key] = left
        if per_rule:
            decided.append(Traffic({k: tuple(v) for k, v in this_rule.items()}, symbols))
    return Evaluation(
        allowed=Traffic({k: tuple(compact(v)) for k, v in allowed.items()}, symbols),
        denied=Traffic({k: tuple(compact(v)) for k, v in denied.items()}, symbols),
        decided=tuple(decided),
    )


class Evaluator:
    """`evaluate` with a cache per distinct rule list: many instances share the same groups."""

    def __init__(self, templates: Templates = NO_TEMPLATES) -> None:
        self.templates = templates
        self._cache: dict[tuple[Rule, ...], Evaluation] = {}

    def __call__(self, rules: Sequence[Rule]) -> Evaluation:
        key = tuple(rules)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = evaluate(key, self.templates)
        return found


# ---------------------------------------------------------------------------------------------
# One packet


@dataclass(frozen=True, slots=True)
class Packet:
    """One flow to decide: `peer` is an IP address, or `sg-…`/`ipm-…` for a symbolic peer."""

    protocol: str
    peer: str
    port: int | None = None


def rule_matches(rule: Rule, packet: Packet, templates: Templates = NO_TEMPLATES) -> bool:
    """Does this one rule match the packet? (A direct test, independent of the set algebra.)

    A symbolic peer matches rules that name it and rules with 0.0.0.0/0, as in `rule_traffic`.
    """
    return _service_matches(rule, packet, templates) and _peer_matches(rule, packet, templates)


def _service_matches(rule: Rule, packet: Packet, templates: Templates) -> bool:
    protocol = packet.protocol
    for service, ports in _services(rule, templates):
        if service == OTHERS:
            if protocol not in PROTOCOL_ORDER:
                return True
            continue
        if service != protocol:
            continue
        if protocol not in PORTED:
            return True
        port = packet.port
        if port is not None and any(lo <= port <= hi for lo, hi in ports):
            return True
    return False


def _peer_matches(rule: Rule, packet: Packet, templates: Templates) -> bool:
    peer = packet.peer.strip()
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        address = None
    if address is not None:
        if packet.protocol == "ICMP" and address.version == 6:
            return False
        if packet.protocol == "ICMPv6" and address.version == 4:
            return False
        for realm, lo, hi in _peers(rule, templates):
            if realm == (V4 if address.version == 4 else V6) and lo <= int(address) <= hi:
                return True
        return False
    return any(
        realm == peer or (realm == V4 and lo == 0 and hi == V4_MAX) for realm, lo, hi in _peers(rule, templates)
    )


def first_match(rules: Sequence[Rule], packet: Packet, templates: Templates = NO_TEMPLATES) -> int | None:
    """Index of the rule that decides the packet, or None when none matches (default drop)."""
    for index, rule in enumerate(rules):
        if rule_matches(rule, packet, templates):
            return index
    return None


def packet_key(packet: Packet) -> tuple[str, str, int, int]:
    """The packet as a point of the traffic space: (protocol, realm, peer, port)."""
    port = packet.port if packet.protocol in PORTED else 0
    try:
        address = ipaddress.ip_address(packet.peer.strip())
    except ValueError:
        return packet.protocol, packet.peer.strip(), 0, port or 0
    return packet.protocol, (V4 if address.version == 4 else V6), int(address), port or 0
