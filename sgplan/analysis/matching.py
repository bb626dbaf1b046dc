"""What one rule matches, as boxes of the traffic space (before any first-match ordering).

Templates are flattened here; a template we cannot see into stays a symbolic peer or service.
The layer kernel (`layers.py`) and the packet scan (`access.py`) both read rules through this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping

from sgplan.analysis.space import (
    OTHERS,
    PORTED,
    PROTOCOL_ORDER,
    V4,
    V4_MAX,
    V6,
    Box,
    Key,
    network_interval,
    parse_ports,
    port_bounds,
)
from sgplan.model import CloudState, Rule, normalize_protocol

# A rule's matching traffic before first-match: (protocol, realm) → boxes.
RuleTraffic = list[tuple[Key, Box]]
Services = list[tuple[str, list[tuple[int, int]]]]


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


@lru_cache(maxsize=65536)
def _cidr(text: str) -> tuple[str, int, int]:
    # Estates repeat the same few CIDRs thousands of times; ipaddress parsing dominates otherwise.
    return network_interval(text)


@lru_cache(maxsize=4096)
def _ports(text: str | None) -> tuple[tuple[int, int], ...]:
    return tuple(parse_ports(text))


def services_of(rule: Rule, templates: Templates) -> Services:
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


def _protocol_ports(protocol: str, port: str | None) -> Services:
    if protocol == "ALL":
        # ALL covers every protocol and every port, and every service we cannot see into.
        return [(p, [port_bounds(p)]) for p in PROTOCOL_ORDER] + [(OTHERS, [(0, 0)])]
    if protocol in PORTED:
        return [(protocol, list(_ports(port)))]
    return [(protocol, [(0, 0)])]


def _parse_service(text: str) -> Services | None:
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


def peers_of(rule: Rule, templates: Templates) -> list[tuple[str, int, int]]:
    """(realm, lo, hi) intervals the rule's source/destination covers."""
    if rule.cidr_block is not None:
        return [_cidr(rule.cidr_block)]
    if rule.ipv6_cidr_block is not None:
        return [_cidr(rule.ipv6_cidr_block)]
    if rule.security_group_id is not None:
        return [(str(rule.security_group_id), 0, 0)]
    template = rule.address_template_id or rule.address_template_group_id
    if template:
        members = templates.addresses.get(template)
        if members is None:
            return [(template, 0, 0)]
        try:
            return [_cidr(a) for a in members]
        except ValueError:  # an entry we cannot read: keep the whole template symbolic
            return [(template, 0, 0)]
    return []


def _uses_templates(rule: Rule) -> bool:
    return bool(rule.address_template_id or rule.address_template_group_id
                or rule.service_template_id or rule.service_template_group_id)


def rule_symbols(rule: Rule, templates: Templates) -> set[str]:
    """Symbolic peers and services this rule names."""
    if not _uses_templates(rule):
        return {str(rule.security_group_id)} if rule.security_group_id is not None else set()
    names = {p for p, _ in services_of(rule, templates) if p not in PROTOCOL_ORDER and p != OTHERS}
    names.update(r for r, _, _ in peers_of(rule, templates) if r not in (V4, V6))
    return names


def symbols_of(rules: Iterable[Rule], templates: Templates) -> frozenset[str]:
    names: set[str] = set()
    for rule in rules:
        if rule.security_group_id is not None and not _uses_templates(rule):
            names.add(str(rule.security_group_id))
        elif _uses_templates(rule):
            names |= rule_symbols(rule, templates)
    return frozenset(names)


def _product(services: Services, peers: Iterable[tuple[str, int, int]]) -> RuleTraffic:
    out: RuleTraffic = []
    peers = list(peers)
    for protocol, ports in services:
        for realm, lo, hi in peers:
            # ICMP is IPv4-only and ICMPv6 IPv6-only (API reference §1.4 rule 4).
            if (protocol == "ICMP" and realm == V6) or (protocol == "ICMPv6" and realm == V4):
                continue
            for q_lo, q_hi in ports:
                out.append(((protocol, realm), (lo, hi, q_lo, q_hi)))
    return out


@lru_cache(maxsize=65536)
def _plain(protocol: str | None, port: str | None, cidr: str | None, cidr6: str | None,
           group: str | None) -> tuple[Services, tuple[tuple[str, int, int], ...], tuple[tuple[Key, Box], ...], bool]:
    """Services, peers, boxes and broadness of a rule without templates (estates repeat these)."""
    services = _protocol_ports(protocol or "ALL", port)
    if cidr is not None:
        peers: tuple[tuple[str, int, int], ...] = (_cidr(cidr),)
    elif cidr6 is not None:
        peers = (_cidr(cidr6),)
    elif group is not None:
        peers = ((group, 0, 0),)
    else:
        peers = ()
    broad = any(realm == V4 and lo == 0 and hi == V4_MAX for realm, lo, hi in peers)
    return services, peers, tuple(_product(services, peers)), broad


class RuleBoxes:
    """`rule_traffic` for the rules of one list (one set of symbols), with the expansion precomputed."""

    __slots__ = ("templates", "symbols", "realms_for_any", "services_for_all")

    def __init__(self, templates: Templates, symbols: Iterable[str]) -> None:
        self.templates = templates
        self.symbols = tuple(sorted(symbols))
        self.realms_for_any = [s for s in self.symbols if not s.startswith("ppm")] + [OTHERS]
        self.services_for_all = [(s, [(0, 0)]) for s in self.symbols if s.startswith("ppm")]

    def __call__(self, rule: Rule) -> RuleTraffic:
        all_services = rule.protocol == "ALL" and not (rule.service_template_id or rule.service_template_group_id)
        if _uses_templates(rule):
            services = services_of(rule, self.templates)
            peers = peers_of(rule, self.templates)
            broad = any(realm == V4 and lo == 0 and hi == V4_MAX for realm, lo, hi in peers)
        else:
            group = str(rule.security_group_id) if rule.security_group_id is not None else None
            services, peers_t, plain, broad = _plain(rule.protocol, rule.port, rule.cidr_block,
                                                     rule.ipv6_cidr_block, group)
            if not broad and not (all_services and self.services_for_all):
                return list(plain)
            peers = list(peers_t)
        if all_services and self.services_for_all:
            services = services + self.services_for_all
        if broad:
            expanded: list[tuple[str, int, int]] = []
            for realm, lo, hi in peers:
                expanded.append((realm, lo, hi))
                if realm == V4 and lo == 0 and hi == V4_MAX:
                    expanded.extend((r, 0, 0) for r in self.realms_for_any)
            peers = expanded
        return _product(services, peers)


def rule_traffic(rule: Rule, templates: Templates, symbols: Iterable[str] = ()) -> RuleTraffic:
    """The boxes a rule matches, before any first-match ordering.

    Symbolic peers (`sg-…`, unknown `ipm-…`) are matched by rules naming them and by rules
    covering all of IPv4 (0.0.0.0/0): group members are reached on their private IPv4 addresses
    (API reference §1.2). `symbols` lists the symbolic names of the whole rule list so that such
    broad rules cover them too; `*` stands for the ones not named.
    """
    return RuleBoxes(templates, symbols)(rule)
