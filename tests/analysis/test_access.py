"""The access engine: set algebra against a brute-force first-match scan, and the scenarios."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.analysis.access import (
    Evaluator,
    Packet,
    RuleKeys,
    Templates,
    access_key,
    evaluate,
    first_match,
    packet_key,
    policy,
)
from sgplan.model import (
    AddressTemplate,
    CloudState,
    Direction,
    Rule,
    SecurityGroup,
    ServiceTemplate,
    normalize_port,
)

V4_NETS = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "8.8.8.0/24", "128.0.0.0/1"]
V6_NETS = ["::/0", "2001:db8::/32", "2001:db8::1/128", "fe80::/10"]
V4_ADDRS = ["10.1.2.3", "10.1.2.4", "10.200.0.1", "8.8.8.8", "8.8.9.8", "200.1.1.1", "0.0.0.0", "255.255.255.255"]
V6_ADDRS = ["2001:db8::1", "2001:db8::2", "fe80::1", "2400::1"]
SGS = ["sg-aaaa1111", "sg-bbbb2222"]
PORT_TEXTS = ["ALL", "22", "20-25", "80,443", "1-100", "443"]


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    protocol = draw(st.sampled_from(["TCP", "TCP", "TCP", "UDP", "ICMP", "ICMPv6", "GRE", "ALL"]))
    port_text = draw(
        st.one_of(
            st.sampled_from(PORT_TEXTS),
            st.tuples(st.integers(18, 30), st.integers(0, 4)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
        )
    )
    port = normalize_port(protocol, port_text) if protocol in ("TCP", "UDP") else None
    kind = draw(st.sampled_from(["v4", "v6", "sg"]))
    if protocol == "ICMP":
        kind = draw(st.sampled_from(["v4", "sg"]))
    if protocol == "ICMPv6":
        kind = draw(st.sampled_from(["v6", "sg"]))
    peer: dict = {}
    if kind == "v4":
        peer["cidr_block"] = draw(st.sampled_from(V4_NETS))
    elif kind == "v6":
        peer["ipv6_cidr_block"] = draw(st.sampled_from(V6_NETS))
    else:
        peer["security_group_id"] = draw(st.sampled_from(SGS))
    return Rule(draw(st.sampled_from(["ACCEPT", "DROP"])), protocol, port, **peer)


packets = st.builds(
    Packet,
    protocol=st.sampled_from(["TCP", "UDP", "ICMP", "ICMPv6", "GRE"]),
    peer=st.sampled_from(V4_ADDRS + V6_ADDRS + SGS + ["sg-other999"]),
    port=st.one_of(
        st.sampled_from([1, 19, 20, 21, 22, 23, 24, 25, 26, 79, 80, 81, 100, 101, 442, 443, 444, 65535]),
        st.integers(15, 35),
        st.integers(1, 65535),
    ),
)


def allowed_by_scan(rule_list: list[Rule], packet: Packet) -> bool:
    index = first_match(rule_list, packet)
    return index is not None and rule_list[index].action == "ACCEPT"


@settings(max_examples=300, deadline=None)
@given(st.lists(rules(), max_size=8), st.lists(packets, min_size=1, max_size=20))
def test_set_algebra_equals_first_match_scan(rule_list: list[Rule], sample: list[Packet]) -> None:
    ev = evaluate(rule_list, per_rule=True)
    for packet in sample:
        key = packet_key(packet)
        assert ev.allowed.contains(*key) == allowed_by_scan(rule_list, packet), packet
        index = first_match(rule_list, packet)
        denied = index is not None and rule_list[index].action == "DROP"
        assert ev.denied.contains(*key) == denied
        for i, decided in enumerate(ev.decided):
            assert decided.contains(*key) == (i == index)


@settings(max_examples=200, deadline=None)
@given(st.lists(rules(), max_size=6), st.lists(rules(), max_size=6), st.lists(packets, min_size=1, max_size=15))
def test_difference_is_exact(a: list[Rule], b: list[Rule], sample: list[Packet]) -> None:
    ea, eb = evaluate(a).allowed, evaluate(b).allowed
    opened, both, union = eb - ea, ea & eb, ea | eb
    for packet in sample:
        key = packet_key(packet)
        in_a, in_b = allowed_by_scan(a, packet), allowed_by_scan(b, packet)
        assert opened.contains(*key) == (in_b and not in_a)
        assert both.contains(*key) == (in_a and in_b)
        assert union.contains(*key) == (in_a or in_b)
    assert (ea - eb).is_empty() and (eb - ea).is_empty() or not ea.same_as(eb)


@given(st.lists(rules(), max_size=8))
def test_same_rules_in_any_order_of_disjoint_accepts_is_same_set(rule_list: list[Rule]) -> None:
    accepts = [r for r in rule_list if r.action == "ACCEPT"]
    assert evaluate(accepts).allowed.same_as(evaluate(list(reversed(accepts))).allowed)


def _in(protocol: str, port: str | None, action: str = "ACCEPT", **peer: str) -> Rule:
    return Rule(action, protocol, port, **peer)


RDP_PROXIES = ["81.69.102.0/24", "106.55.203.0/24", "101.33.121.0/24", "101.32.250.0/24"]


def test_rdp_admits_proxies_only() -> None:
    ev = evaluate([_in("TCP", "3389", cidr_block=c) for c in RDP_PROXIES])
    assert ev.allowed.contains(*packet_key(Packet("TCP", "81.69.102.7", 3389)))
    assert not ev.allowed.contains(*packet_key(Packet("TCP", "8.8.8.8", 3389)))
    assert not ev.allowed.contains(*packet_key(Packet("TCP", "81.69.102.7", 3390)))


def test_drop_above_accept_wins_and_scenario_7() -> None:
    rules_ = [_in("TCP", "1102", "DROP", cidr_block="0.0.0.0/0"), _in("TCP", "ALL", cidr_block="0.0.0.0/0")]
    ev = evaluate(rules_)
    assert not ev.allowed.contains(*packet_key(Packet("TCP", "1.2.3.4", 1102)))
    assert ev.allowed.contains(*packet_key(Packet("TCP", "1.2.3.4", 1101)))


def test_egress_allow_list_scenario_8() -> None:
    rules_ = [_in("TCP", "443", cidr_block="203.0.113.10/32"), _in("ALL", None, "DROP", cidr_block="0.0.0.0/0")]
    ev = evaluate(rules_)
    assert ev.allowed.contains(*packet_key(Packet("TCP", "203.0.113.10", 443)))
    assert not ev.allowed.contains(*packet_key(Packet("TCP", "203.0.113.11", 443)))
    assert not ev.allowed.contains(*packet_key(Packet("UDP", "203.0.113.10", 443)))
    # Members of a group are reached on private IPv4 addresses: the DROP 0.0.0.0/0 covers them.
    assert ev.denied.contains(*packet_key(Packet("TCP", "sg-anything1", 22)))


def test_icmp_is_v4_only_and_all_covers_every_protocol() -> None:
    ev = evaluate([_in("ALL", None, ipv6_cidr_block="::/0")])
    assert ev.allowed.contains(*packet_key(Packet("ICMPv6", "2001:db8::1")))
    assert ev.allowed.contains(*packet_key(Packet("GRE", "2001:db8::1")))
    assert ev.allowed.contains(*packet_key(Packet("UDP", "2001:db8::1", 53)))
    assert not ev.allowed.contains(*packet_key(Packet("ICMP", "2001:db8::1")))
    assert not ev.allowed.contains(*packet_key(Packet("TCP", "1.1.1.1", 22)))


def test_several_groups_concatenate_in_binding_order() -> None:
    deny = SecurityGroup("deny", ingress=(_in("TCP", "22", "DROP", cidr_block="0.0.0.0/0"),))
    ssh = SecurityGroup("ssh", ingress=(_in("TCP", "22", cidr_block="0.0.0.0/0"),))
    packet = packet_key(Packet("TCP", "8.8.8.8", 22))
    assert not evaluate(policy([deny, ssh], Direction.INGRESS)).allowed.contains(*packet)
    assert evaluate(policy([ssh, deny], Direction.INGRESS)).allowed.contains(*packet)


def test_templates_resolve_when_known_and_stay_symbolic_otherwise() -> None:
    state = CloudState(
        address_templates=(AddressTemplate("ipm-office01", addresses=("203.0.113.0/24", "198.51.100.1-198.51.100.9")),),
        service_templates=(ServiceTemplate("ppm-web00001", services=("tcp:80", "tcp:443", "udp:53-60")),),
    )
    templates = Templates.from_state(state)
    rule = Rule("ACCEPT", address_template_id="ipm-office01", service_template_id="ppm-web00001")
    ev = evaluate([rule], templates)
    assert ev.allowed.contains(*packet_key(Packet("TCP", "203.0.113.5", 443)))
    assert ev.allowed.contains(*packet_key(Packet("UDP", "198.51.100.9", 55)))
    assert not ev.allowed.contains(*packet_key(Packet("UDP", "198.51.100.10", 55)))
    assert not ev.allowed.contains(*packet_key(Packet("TCP", "203.0.113.5", 22)))
    unknown = evaluate([Rule("ACCEPT", "TCP", "22", address_template_id="ipm-unknown1")])
    assert unknown.allowed.contains(*packet_key(Packet("TCP", "ipm-unknown1", 22)))
    assert not unknown.allowed.contains(*packet_key(Packet("TCP", "203.0.113.5", 22)))


def test_evaluator_caches_and_is_fast_for_500_rules() -> None:
    import random
    import time

    rng = random.Random(7)
    rule_list = []
    for _ in range(500):
        net = ipaddress.IPv4Network((rng.getrandbits(32), rng.randint(8, 32)), strict=False)
        low = rng.randint(1, 65000)
        rule_list.append(
            Rule(rng.choice(["ACCEPT", "DROP"]), "TCP", f"{low}-{low + rng.randint(0, 500)}", cidr_block=str(net))
        )
    evaluator = Evaluator()
    start = time.perf_counter()
    first = evaluator(rule_list)
    elapsed = time.perf_counter() - start
    assert evaluator(list(rule_list)) is first
    assert elapsed < 5, elapsed


def test_rule_keys_are_access_keys_computed_once_per_rule_object() -> None:
    ssh = Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0", description="ssh")
    web = Rule("ACCEPT", "TCP", "80", cidr_block="0.0.0.0/0")
    keys = RuleKeys()
    assert keys((ssh, web, ssh)) == access_key((ssh, web, ssh))
    assert keys(()) == ()
    # An equal rule under another description has the same key; a new object is keyed on sight.
    assert keys((Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0", description="other"),)) == (ssh.key(),)
