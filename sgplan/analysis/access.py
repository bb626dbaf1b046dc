"""First-match evaluation of ordered rules (API reference §5) as exact traffic sets.

An instance's policy is its groups' rules concatenated in binding order; the first rule that
matches decides and unmatched traffic is dropped. `evaluate` turns a rule list into the set it
accepts (and the set it explicitly drops); `first_match` scans for one packet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Sequence

from sgplan.collector import gc_paused
from sgplan.analysis import layers as _layers
from sgplan.analysis.layers import Layer, stack
from sgplan.analysis.matching import (
    NO_TEMPLATES,
    RuleTraffic,
    Templates,
    peers_of,
    rule_symbols,
    rule_traffic,
    services_of,
    symbols_of,
)
from sgplan.analysis.space import OTHERS, PORTED, PROTOCOL_ORDER, V4, V4_MAX, V6, Traffic
from sgplan.model import Direction, Rule, SecurityGroup

__all__ = [
    "NO_TEMPLATES",
    "Evaluation",
    "Evaluator",
    "Packet",
    "RuleKeys",
    "RuleTraffic",
    "Templates",
    "access_key",
    "evaluate",
    "first_match",
    "gc_paused",
    "packet_key",
    "policy",
    "rule_matches",
    "rule_symbols",
    "rule_traffic",
    "symbols_of",
]


def policy(groups: Sequence[SecurityGroup], direction: Direction) -> tuple[Rule, ...]:
    """The effective rule list of an instance: its groups' rules in binding order."""
    return tuple(rule for group in groups for rule in group.rules(direction))


def access_key(rules: Sequence[Rule]) -> tuple:
    """What decides access in a rule list: each rule less its description and source position."""
    return tuple(rule.key() for rule in rules)


class RuleKeys:
    """`access_key` with each rule's key computed once per rule object.

    Live groups share rule objects (cloud/reader.py): 200,000 rules are some 10,000 objects, so
    most keys are a lookup by id. The memo keeps every rule it keyed alive, so an id it holds is
    never another rule's.
    """

    __slots__ = ("_keys", "_rules")

    def __init__(self) -> None:
        self._keys: dict[int, tuple] = {}
        self._rules: list[Rule] = []

    def __call__(self, rules: Sequence[Rule]) -> tuple:
        keys = self._keys
        parts = []
        for rule in rules:
            key = keys.get(id(rule))
            if key is None:
                key = keys[id(rule)] = rule.key()
                self._rules.append(rule)
            parts.append(key)
        return tuple(parts)


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


def _evaluation(layer: Layer, per_rule: bool) -> Evaluation:
    decided = tuple(Traffic({k: tuple(v) for k, v in layer.decided_parts(i).items()}, layer.symbols)
                    for i in range(len(layer.decided))) if per_rule else ()
    return Evaluation(layer.allowed_traffic(), layer.denied_traffic(), decided)


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
    return _evaluation(_layers.first_match(rules, templates), per_rule)


class Evaluator:
    """Evaluation with caches: one layer per distinct group rule list, one result per stack.

    Many instances share groups, so `layer` evaluates each group's rules once and `allowed`
    stacks cached layers instead of re-scanning concatenated rules. Rule lists that differ only
    in descriptions share their results.
    """

    def __init__(self, templates: Templates = NO_TEMPLATES) -> None:
        self.templates = templates
        self._lists: dict[tuple, Evaluation] = {}
        self._ids: dict[tuple, int] = {}
        self._rules: list[tuple[Rule, ...]] = []
        self._layers: dict[int, Layer] = {}
        self._stacks: dict[tuple[Layer, ...], Traffic] = {}

    def __call__(self, rules: Sequence[Rule]) -> Evaluation:
        """The evaluation of one concatenated rule list."""
        key = access_key(rules)
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = _evaluation(self.layer(rules), False)
        return found

    def signature(self, rules: Sequence[Rule], key: tuple | None = None) -> int:
        """A small number per distinct rule list (by access): equal numbers, equal access.

        `key` is the list's `access_key` when the caller has it already.
        """
        key = access_key(rules) if key is None else key
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._rules)
            self._rules.append(tuple(rules))
        return found

    def layer_of(self, signature: int) -> Layer:
        """The layer of a rule list by its signature; evaluated on first use."""
        found = self._layers.get(signature)
        if found is None:
            found = self._layers[signature] = _layers.first_match(self._rules[signature], self.templates)
        return found

    def layer(self, rules: Sequence[Rule]) -> Layer:
        """The (shared) layer of one group's rules in one direction."""
        return self.layer_of(self.signature(rules))

    def allowed(self, layers: Sequence[Layer]) -> Traffic:
        """What stacked layers (an instance's groups in binding order) allow."""
        key = tuple(layers)
        found = self._stacks.get(key)
        if found is None:
            found = self._stacks[key] = stack(key)
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
    for service, ports in services_of(rule, templates):
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
        for realm, lo, hi in peers_of(rule, templates):
            if realm == (V4 if address.version == 4 else V6) and lo <= int(address) <= hi:
                return True
        return False
    return any(
        realm == peer or (realm == V4 and lo == 0 and hi == V4_MAX) for realm, lo, hi in peers_of(rule, templates)
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
