"""explain: the deciding rule across groups in binding order, the default drop, sg peers."""

from __future__ import annotations

import pytest

from sgplan.analysis.explain import explain, parse_packet
from sgplan.model import Rule, SecurityGroup

PROXIES = ("81.69.102.0/24", "106.55.203.0/24", "101.33.121.0/24", "101.32.250.0/24")
RDP = SecurityGroup("rdp", id="sg-rdp", address="module.rdp.security_group.this",
                    ingress=tuple(Rule("ACCEPT", "TCP", "3389", cidr_block=c) for c in PROXIES))
DENY = SecurityGroup("deny", id="sg-deny", ingress=(Rule("DROP", "TCP", "3389", cidr_block="106.55.203.0/24"),))
EGRESS = SecurityGroup("egress", id="sg-out", egress=(
    Rule("ACCEPT", "TCP", "443", cidr_block="203.0.113.50/32"), Rule("DROP", "ALL", None, cidr_block="0.0.0.0/0")))
BASTION = SecurityGroup("app", id="sg-app", ingress=(Rule("ACCEPT", "TCP", "22", security_group_id="sg-bastion"),))


def test_rdp_from_proxy_and_not_from_elsewhere() -> None:
    result = explain([RDP], "ingress", "tcp", 3389, "81.69.102.7", instance_id="ins-1")
    assert result.to_json() == {
        "decision": "ACCEPT", "instance_id": "ins-1", "direction": "ingress", "reason": "rule",
        "matched": {"security_group_id": "sg-rdp", "address": "module.rdp.security_group.this", "policy_index": 0,
                    "rule": {"action": "ACCEPT", "protocol": "TCP", "port": "3389", "cidr_block": "81.69.102.0/24", "description": ""}},
    }
    denied = explain([RDP], "ingress", "TCP", 3389, "8.8.8.8")
    assert (denied.decision, denied.reason, denied.matched) == ("DROP", "default-drop", None)


def test_binding_order_decides() -> None:
    assert explain([DENY, RDP], "ingress", "TCP", 3389, "106.55.203.9").matched.security_group_id == "sg-deny"
    first = explain([RDP, DENY], "ingress", "TCP", 3389, "106.55.203.9")
    assert (first.decision, first.matched.policy_index) == ("ACCEPT", 1)


def test_egress_allow_list() -> None:
    assert explain([EGRESS], "egress", "TCP", 443, "203.0.113.50").decision == "ACCEPT"
    blocked = explain([EGRESS], "egress", "UDP", 53, "8.8.8.8")
    assert (blocked.decision, blocked.matched.policy_index) == ("DROP", 1)


def test_group_peers_match_only_by_id() -> None:
    assert explain([BASTION], "ingress", "TCP", 22, "sg-bastion").decision == "ACCEPT"
    assert explain([BASTION], "ingress", "TCP", 22, "10.0.0.5").reason == "default-drop"


@pytest.mark.parametrize(
    "protocol,port,peer",
    [("TCP", None, "1.2.3.4"), ("TCP", 70000, "1.2.3.4"), ("ICMP", None, "::1"), ("ALL", None, "1.2.3.4"),
     ("TCP", 22, "not-an-ip"), ("FOO", 1, "1.2.3.4")],
)
def test_bad_flags_are_user_errors(protocol: str, port: int | None, peer: str) -> None:
    with pytest.raises(ValueError):
        parse_packet(protocol, port, peer)
