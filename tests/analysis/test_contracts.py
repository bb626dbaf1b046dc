"""Contract verdicts (issue 16): examples, and a property test against a brute-force first-match scan."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.analysis.access import Packet, rule_matches
from sgplan.analysis.contracts import FAIL, PASS, check_contracts, contract_space
from sgplan.analysis.exposure import AccessView
from sgplan.analysis.space import PORTED, V4, V4_MAX, V6, V6_MAX
from sgplan.model import Direction, Expect, Rule, SecurityGroup, SourceRange


def _expect(peers=("0.0.0.0/0",), protocol="TCP", ports="22", decision="deny", instances=None,
            direction=Direction.INGRESS) -> Expect:
    return Expect("expect.c", direction, tuple(peers), protocol, ports if protocol in PORTED else None,
                  decision, instances)


def _view(*groups: SecurityGroup, instances: dict[str, tuple[str, ...]]) -> AccessView:
    return AccessView({g.id: g for g in groups}, instances)


def test_moving_an_accept_above_a_drop_violates_and_names_the_moved_rule() -> None:
    drop = Rule("DROP", "TCP", "22", cidr_block="0.0.0.0/0", origin=SourceRange("main.sg.hcl", 10))
    accept = Rule("ACCEPT", "TCP", "ALL", cidr_block="0.0.0.0/0", origin=SourceRange("main.sg.hcl", 16))
    before = SecurityGroup("web", id="sg-1", address="security_group.web", ingress=(drop, accept))
    after = SecurityGroup("web", id="sg-1", address="security_group.web", ingress=(accept, drop))
    contract = _expect(peers=("internet",))
    [held] = check_contracts(_view(before, instances={"ins-1": ("sg-1",)}), [contract], ["ins-1"])
    [broken] = check_contracts(_view(after, instances={"ins-1": ("sg-1",)}), [contract], ["ins-1"])
    assert held.status == PASS
    assert broken.status == FAIL
    cx = broken.counterexample
    assert (cx.instance_id, cx.address, cx.policy_index, cx.ports) == ("ins-1", "security_group.web", 0, "22")
    assert cx.origin == SourceRange("main.sg.hcl", 16)
    assert "security_group.web ingress[0]" in broken.message()


def test_deny_with_exactly_one_slash_32_accepted_reports_that_address_and_port() -> None:
    group = SecurityGroup("db", id="sg-2", address="security_group.db", ingress=(
        Rule("ACCEPT", "TCP", "5432", cidr_block="10.0.0.0/8"),  # private: outside the space
        Rule("ACCEPT", "TCP", "5432", cidr_block="8.8.4.4/32"),
        Rule("DROP", "ALL", cidr_block="0.0.0.0/0"),
    ))
    view = _view(group, instances={"ins-1": ("sg-2",)})
    [result] = check_contracts(view, [_expect(peers=("internet",), protocol="ALL", ports=None)], ["ins-1"])
    assert result.status == FAIL
    cx = result.counterexample
    assert (cx.peer, cx.protocol, cx.ports, cx.policy_index, cx.accepted) == ("8.8.4.4/32", "TCP", "5432", 1, True)
    assert (cx.sample_peer, cx.sample_port) == ("8.8.4.4", 5432)


def test_allow_contract_reports_the_default_drop_and_the_blocking_rule() -> None:
    group = SecurityGroup("web", id="sg-3", address="security_group.web", ingress=(
        Rule("DROP", "TCP", "443", cidr_block="1.2.3.0/24"),
        Rule("ACCEPT", "TCP", "80,443", cidr_block="0.0.0.0/0"),
    ))
    view = _view(group, instances={"ins-1": ("sg-3",)})
    [https] = check_contracts(view, [_expect(ports="80,443", decision="allow")], ["ins-1"])
    assert https.counterexample.peer == "1.2.3.0/24" and https.counterexample.policy_index == 0
    assert https.counterexample.ports == "443" and not https.counterexample.accepted
    [udp] = check_contracts(view, [_expect(protocol="UDP", ports="53", decision="allow")], ["ins-1"])
    assert udp.counterexample.policy_index is None and "default drop" in udp.message()


def test_binding_order_decides_and_more_instances_are_counted() -> None:
    deny = SecurityGroup("deny", id="sg-d", ingress=(Rule("DROP", "ALL", cidr_block="0.0.0.0/0"),))
    ssh = SecurityGroup("ssh", id="sg-s", ingress=(Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0"),))
    view = _view(deny, ssh, instances={"ins-a": ("sg-d", "sg-s"), "ins-b": ("sg-s", "sg-d"), "ins-c": ("sg-s",)})
    [result] = check_contracts(view, [_expect()], ["ins-a", "ins-b", "ins-c"])
    assert result.counterexample.instance_id == "ins-b" and result.counterexample.more_instances == 1
    [only_a] = check_contracts(view, [_expect(instances=("ins-a",))], [])
    assert only_a.status == PASS and only_a.missing == ()
    [typo] = check_contracts(view, [_expect(instances=("ins-a", "ins-zz"))], [])
    assert typo.status == PASS and typo.missing == ("ins-zz",) and "not in the cloud: ins-zz" in typo.message()


def test_icmp_space_keeps_to_its_address_family() -> None:
    space = contract_space(_expect(peers=("0.0.0.0/0", "::/0"), protocol="ALL", ports=None))
    assert ("ICMP", V6) not in space and ("ICMPv6", V4) not in space
    assert ("ICMP", V4) in space and ("GRE", V6) in space


def test_egress_contracts_read_egress_rules() -> None:
    group = SecurityGroup("out", id="sg-e", egress=(Rule("DROP", "ALL", cidr_block="10.0.0.0/8"),
                                                     Rule("ACCEPT", "ALL", cidr_block="0.0.0.0/0")))
    view = _view(group, instances={"ins-1": ("sg-e",)})
    contract = _expect(peers=("10.1.0.0/16",), protocol="ALL", ports=None, direction=Direction.EGRESS)
    assert check_contracts(view, [contract], ["ins-1"])[0].status == PASS
    open_contract = _expect(peers=("8.8.8.8",), protocol="UDP", ports="53", decision="allow", direction=Direction.EGRESS)
    assert check_contracts(view, [open_contract], ["ins-1"])[0].status == PASS


# ---------------------------------------------------------------------------------------------
# Property: the verdict equals a scan of one packet per region of the space

_CIDRS = ["0.0.0.0/0", "8.0.0.0/8", "8.8.8.0/24", "8.8.8.8/32", "10.0.0.0/8", "203.0.113.0/24",
          "::/0", "2400::/16", "2400:cd00::/32", "fd00::/8"]
_PORTS = ["22", "20-25", "80,443", "ALL", "1-1024"]
_PROTOCOLS = ["TCP", "UDP", "ICMP", "ICMPv6", "ALL"]


@st.composite
def _rules(draw) -> Rule:
    cidr = draw(st.sampled_from(_CIDRS))
    protocol = draw(st.sampled_from(_PROTOCOLS))
    v6 = ":" in cidr
    if (protocol == "ICMP" and v6) or (protocol == "ICMPv6" and not v6):
        protocol = "ALL"
    port = draw(st.sampled_from(_PORTS)) if protocol in PORTED else None
    action = draw(st.sampled_from(["ACCEPT", "DROP"]))
    if draw(st.integers(0, 9)) == 0:  # a group peer: symbolic, never one of the contract's addresses
        protocol = "ALL" if protocol in ("ICMP", "ICMPv6") else protocol
        return Rule(action, protocol, port, security_group_id=draw(st.sampled_from(["sg-0", "sg-peer"])))
    return Rule(action, protocol, port, **({"ipv6_cidr_block": cidr} if v6 else {"cidr_block": cidr}))


@st.composite
def _worlds(draw):
    n_groups = draw(st.integers(1, 3))
    groups = [SecurityGroup(f"g{i}", id=f"sg-{i}", address=f"security_group.g{i}",
                            ingress=tuple(draw(st.lists(_rules(), max_size=5))),
                            egress=tuple(draw(st.lists(_rules(), max_size=3))))
              for i in range(n_groups)]
    keys = [g.id for g in groups]
    instances = {f"ins-{k}": tuple(draw(st.permutations(keys))[: draw(st.integers(0, n_groups))]) for k in range(3)}
    protocol = draw(st.sampled_from(["TCP", "UDP", "ICMP", "ALL"]))
    peers = tuple(draw(st.lists(st.sampled_from(_CIDRS + ["internet"]), min_size=1, max_size=3)))
    contract = Expect("expect.p", draw(st.sampled_from(list(Direction))), peers, protocol,
                      draw(st.sampled_from(_PORTS)) if protocol in PORTED else None,
                      draw(st.sampled_from(["allow", "deny"])))
    return groups, instances, contract


def _points(bounds: set[int], top: int) -> list[int]:
    cuts = sorted(b for b in bounds if 0 <= b <= top)
    return cuts  # each cut is the first point of one elementary interval


def _scan(groups: list[SecurityGroup], keys: tuple[str, ...], direction: Direction, packet: Packet):
    by_id = {g.id: g for g in groups}
    for key in keys:
        for index, rule in enumerate(by_id[key].rules(direction)):
            if rule_matches(rule, packet):
                return rule.action == "ACCEPT", key, index
    return False, None, None


def _address(realm: str, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if realm == V4 else ipaddress.IPv6Address(value))


def _brute_force(groups, keys, contract: Expect) -> bool:
    space = contract_space(contract)
    rules = [r for g in groups for r in g.rules(contract.direction)]
    from sgplan.analysis.matching import NO_TEMPLATES, rule_traffic

    for (protocol, realm), boxes in space.items():
        peer_cuts: set[int] = {0}
        port_cuts: set[int] = {boxes[0][2]}
        for b in boxes:
            peer_cuts.update((b[0], b[1] + 1))
            port_cuts.update((b[2], b[3] + 1))
        for rule in rules:
            for (p, r), b in rule_traffic(rule, NO_TEMPLATES):
                if (p, r) == (protocol, realm):
                    peer_cuts.update((b[0], b[1] + 1))
                    port_cuts.update((b[2], b[3] + 1))
        top = V4_MAX if realm == V4 else V6_MAX
        for peer in _points(peer_cuts, top):
            for port in _points(port_cuts, 65535 if protocol in PORTED else 0):
                if not any(b[0] <= peer <= b[1] and b[2] <= port <= b[3] for b in boxes):
                    continue
                packet = Packet(protocol, _address(realm, peer), port if protocol in PORTED else None)
                accepted = _scan(groups, keys, contract.direction, packet)[0]
                if accepted != (contract.decision == "allow"):
                    return False
    return True


@settings(max_examples=300, deadline=None)
@given(_worlds())
def test_verdict_equals_brute_force_and_counterexamples_are_real(world) -> None:
    groups, instances, contract = world
    view = AccessView({g.id: g for g in groups}, instances)
    # All instances at once (shared caches): violated exactly when one instance violates it.
    [together] = check_contracts(view, [contract], list(instances))
    assert (together.status == PASS) == all(_brute_force(groups, keys, contract) for keys in instances.values())
    for instance_id, keys in instances.items():
        [result] = check_contracts(view, [contract], [instance_id])
        assert (result.status == PASS) == _brute_force(groups, keys, contract)
        cx = result.counterexample
        if cx is None:
            continue
        realm = V6 if ":" in cx.sample_peer else V4
        lo, _, hi = cx.peer.partition("-")
        if hi:
            corners = [lo, hi]
        else:
            net = ipaddress.ip_network(cx.peer)
            corners = [str(net.network_address), str(net.broadcast_address)]
        ports = [cx.sample_port] if cx.sample_port is None else [int(x) for x in cx.ports.replace("ALL", "1-65535").split("-")]
        for peer in corners + [cx.sample_peer]:
            for port in ports:
                packet = Packet(cx.protocol, peer, port)
                accepted, key, index = _scan(groups, keys, contract.direction, packet)
                # Every corner of the reported box is really accepted (deny) / not accepted (allow),
                # and decided by the rule the counterexample names.
                assert accepted == cx.accepted
                assert (key, index) == (cx.group_id, cx.policy_index)
        assert realm in (V4, V6)


def test_security_groups_selector_picks_the_instances_carrying_a_group() -> None:
    web = SecurityGroup("web", id="sg-w", address="security_group.web",
                        ingress=(Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0"),))
    other = SecurityGroup("other", id="sg-o")
    view = _view(web, other, instances={"ins-1": ("sg-o", "sg-w"), "ins-2": ("sg-o",), "ins-3": ("sg-w",)})
    for selector in ("sg-w", "security_group.web"):
        contract = Expect("expect.c", Direction.INGRESS, ("internet",), "TCP", "22", "deny",
                          security_groups=(selector,))
        [result] = check_contracts(view, [contract], [])
        assert result.instances == 2 and result.counterexample.instance_id == "ins-1"
        assert result.counterexample.more_instances == 1
