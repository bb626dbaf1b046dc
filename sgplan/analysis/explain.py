"""Which rule in which group decides one packet on an instance (`sgplan explain`, DESIGN §5).

Groups are scanned in binding order and rules top to bottom; the first match decides, and no
match means the default drop (API reference §5). Instance addresses are unknown to sgplan, so a
rule whose peer is a security group matches only when the peer is given as that `sg-…` id (or a
0.0.0.0/0 rule matches it, since members are reached on their private IPv4 addresses).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Sequence

from sgplan.analysis.access import NO_TEMPLATES, Packet, Templates, rule_matches
from sgplan.model import Direction, Rule, SecurityGroup, normalize_protocol


@dataclass(frozen=True, slots=True)
class MatchedRule:
    security_group_id: str
    address: str | None
    policy_index: int  # 0-based index in its group's direction, as the API's PolicyIndex
    rule: Rule


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: str  # "ACCEPT" | "DROP"
    direction: str
    matched: MatchedRule | None
    instance_id: str | None = None

    @property
    def reason(self) -> str:
        return "rule" if self.matched else "default-drop"

    def to_json(self) -> dict[str, Any]:
        matched = None
        if self.matched is not None:
            matched = {
                "security_group_id": self.matched.security_group_id,
                "address": self.matched.address,
                "policy_index": self.matched.policy_index,
                "rule": self.matched.rule.to_hcl(),
            }
        return {
            "decision": self.decision,
            "instance_id": self.instance_id,
            "direction": self.direction,
            "matched": matched,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        subject = f"{self.instance_id} " if self.instance_id else ""
        if self.matched is None:
            return f"{subject}{self.direction}: DROP (no rule matches: default drop)"
        m = self.matched
        where = m.address or m.security_group_id
        rule = m.rule
        peer = rule.peer
        detail = f"{rule.action} {rule.service} {'from' if self.direction == 'ingress' else 'to'} {peer}"
        if rule.description:
            detail += f" ({rule.description})"
        return f"{subject}{self.direction}: {self.decision} by {where} {self.direction}[{m.policy_index}]: {detail}"


def parse_packet(protocol: str, port: int | None, peer: str) -> Packet:
    """Validate the flags of `explain` into a Packet; raise ValueError with a user message."""
    text = protocol.strip()
    if text.lower().startswith("ppm-"):
        name = text
    else:
        name = normalize_protocol(text)
        if name == "ALL":
            raise ValueError("--protocol must name one protocol (TCP, UDP, ICMP, ICMPv6, GRE), not ALL")
    if name in ("TCP", "UDP"):
        if port is None:
            raise ValueError(f"--port is required with {name}")
        if not 1 <= port <= 65535:
            raise ValueError(f"--port {port} is outside 1-65535")
    peer = peer.strip()
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        if not peer.startswith(("sg-", "ipm-", "ipmg-", "(new)")) and "security_group." not in peer:
            raise ValueError(f"--peer {peer!r} is neither an IP address nor a security group id") from None
    else:
        if name == "ICMP" and address.version == 6:
            raise ValueError("ICMP is IPv4 only: use --protocol ICMPv6 for an IPv6 peer")
        if name == "ICMPv6" and address.version == 4:
            raise ValueError("ICMPv6 is IPv6 only: use --protocol ICMP for an IPv4 peer")
    return Packet(name, peer, port if name in ("TCP", "UDP") else None)


def explain(
    groups_in_order: Sequence[SecurityGroup],
    direction: Direction | str,
    protocol: str,
    port: int | None,
    peer: str,
    *,
    templates: Templates = NO_TEMPLATES,
    instance_id: str | None = None,
) -> Explanation:
    """The rule that decides the packet: the first match across the groups in binding order.

    >>> from sgplan.model import Rule, SecurityGroup
    >>> g = SecurityGroup("rdp", id="sg-1", ingress=(Rule("ACCEPT", "TCP", "3389", cidr_block="81.69.102.0/24"),))
    >>> explain([g], "ingress", "TCP", 3389, "81.69.102.7").decision
    'ACCEPT'
    >>> explain([g], "ingress", "TCP", 3389, "8.8.8.8").reason
    'default-drop'
    """
    direction = Direction(direction)
    packet = parse_packet(protocol, port, peer)
    for group in groups_in_order:
        for index, rule in enumerate(group.rules(direction)):
            if rule_matches(rule, packet, templates):
                key = group.id or (f"{group.address}.id" if group.address else group.name)
                matched = MatchedRule(key, group.address, index, rule)
                return Explanation(rule.action, direction.value, matched, instance_id)
    return Explanation("DROP", direction.value, None, instance_id)
