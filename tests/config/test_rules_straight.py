"""The straight path for literal rules (rules.literal_rule) and its memo of verdicts: the same
rules, warnings and positions as the general path (build_rules), whatever the memo holds."""

from __future__ import annotations

import pytest

from sgplan.config import rules
from sgplan.model import GroupRef, Rule
from tests.config.conftest import evaluate_dir

# Every rule twice, on other lines: the second of each pair is a memo hit.
REPEATED = """
security_group "a" {
  ingress {
    action      = "accept"
    protocol    = "tcp"
    port        = "443,80"
    cidr_block  = "0.1.2.3/8"
    description = "zero"
  }
  ingress {
    action      = "accept"
    protocol    = "tcp"
    port        = "443,80"
    cidr_block  = "0.1.2.3/8"
    description = "zero again"
  }
  egress {
    action          = "DROP"
    protocol        = "udp"
    port            = "53"
    ipv6_cidr_block = "2001:DB8::1/32"
  }
  egress {
    action          = "DROP"
    protocol        = "udp"
    port            = "53"
    ipv6_cidr_block = "2001:DB8::1/32"
    description     = "again"
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "ALL"
    security_group_id = security_group.b.id
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "ALL"
    security_group_id = security_group.b.id
    description       = "b again"
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "icmp"
    security_group_id = "sg-abc123"
  }
  ingress {
    action              = "ACCEPT"
    protocol            = "GRE"
    address_template_id = "ipm-1"
  }
  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "22"
    cidr_block  = "10.0.0.0/8"
    description = "no\u00a0break"
  }
}

security_group "b" {}
"""


def _expected_rules() -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
    ingress = (
        Rule("ACCEPT", "TCP", "80,443", cidr_block="0.0.0.0/0", description="zero"),
        Rule("ACCEPT", "TCP", "80,443", cidr_block="0.0.0.0/0", description="zero again"),
        Rule("ACCEPT", "ALL", security_group_id=GroupRef("security_group.b")),
        Rule("ACCEPT", "ALL", security_group_id=GroupRef("security_group.b"), description="b again"),
        Rule("ACCEPT", "ICMP", security_group_id="sg-abc123"),
        Rule("ACCEPT", "GRE", address_template_id="ipm-1"),
        Rule("ACCEPT", "TCP", "22", cidr_block="10.0.0.0/8", description="no\u00a0break"),
    )
    egress = (
        Rule("DROP", "UDP", "53", ipv6_cidr_block="2001:db8::/32"),
        Rule("DROP", "UDP", "53", ipv6_cidr_block="2001:db8::/32", description="again"),
    )
    return ingress, egress


def _check(config_dir) -> None:
    desired, messages = evaluate_dir(config_dir(REPEATED))
    assert desired is not None, messages
    group = desired.groups[0]
    assert (group.ingress, group.egress) == _expected_rules()
    # Each rule keeps its own position, memo hit or not.
    assert [r.origin.line for r in group.ingress] == [3, 10, 30, 35, 41, 46, 51]
    assert [r.origin.line for r in group.egress] == [17, 23]
    where = messages[0].split(":")[0]
    assert messages == [
        f'{where}:7: warning: cidr_block: "0.1.2.3/8" is stored as 0.0.0.0/0 by the API (it opens to every address)',
        f'{where}:14: warning: cidr_block: "0.1.2.3/8" is stored as 0.0.0.0/0 by the API (it opens to every address)',
        f'{where}:21: warning: ipv6_cidr_block: "2001:DB8::1/32" has host bits set: it is the network 2001:db8::/32 '
        "(write 2001:DB8::1/128 for the one address)",
        f'{where}:27: warning: ipv6_cidr_block: "2001:DB8::1/32" has host bits set: it is the network 2001:db8::/32 '
        "(write 2001:DB8::1/128 for the one address)",
    ]


def test_repeated_rules_keep_their_positions_and_warnings(config_dir) -> None:
    rules._STRAIGHT.clear()
    _check(config_dir)


def test_a_warm_memo_gives_the_same(config_dir) -> None:
    rules._STRAIGHT.clear()
    _check(config_dir)
    assert rules._STRAIGHT  # filled by the first evaluation
    _check(config_dir)


def test_a_full_memo_is_emptied_and_gives_the_same(config_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "_STRAIGHT_MAX", 2)
    rules._STRAIGHT.clear()
    _check(config_dir)
    assert len(rules._STRAIGHT) <= 2


@pytest.mark.parametrize("description", ["with\\u200ebidi", "tab\\there", "c1\\u0085"])
def test_invisible_descriptions_still_reported_after_a_memo_hit(config_dir, description: str) -> None:
    text = """
security_group "a" {
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "22"
    cidr_block = "10.0.0.0/8"
  }
  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "22"
    cidr_block  = "10.0.0.0/8"
    description = "%s"
  }
}
""" % description
    desired, messages = evaluate_dir(config_dir(text))
    assert desired is None
    assert len(messages) == 1 and ":14: description: contains the " in messages[0]


def test_a_declined_verdict_is_remembered_and_still_reported(config_dir) -> None:
    rules._STRAIGHT.clear()
    text = """
security_group "a" {
  ingress {
    action     = "ACCEPT"
    protocol   = "ICMP"
    ipv6_cidr_block = "::/0"
  }
  egress {
    action     = "ACCEPT"
    protocol   = "ICMP"
    ipv6_cidr_block = "::/0"
  }
}
"""
    desired, messages = evaluate_dir(config_dir(text))
    assert desired is None
    assert [m.split(":", 1)[1] for m in messages] == [
        "5: protocol: ICMP needs an IPv4 source (cidr_block); use ICMPv6 with ipv6_cidr_block",
        "10: protocol: ICMP needs an IPv4 source (cidr_block); use ICMPv6 with ipv6_cidr_block",
    ]
    assert None in rules._STRAIGHT.values()
