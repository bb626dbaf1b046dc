"""Layers: stacking per-group results equals scanning concatenated rules; exposure changes and
redundancy agree with brute force; the engine stays fast on thousands of distinct group lists."""

from __future__ import annotations

import ipaddress
import random
import time
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.analysis.access import Evaluator, Packet, evaluate, first_match, packet_key
from sgplan.analysis.checks import is_redundant, run_checks
from sgplan.analysis.exposure import AccessView, ExposureChange, compare, group_changes
from sgplan.analysis.layers import first_match as layer_of
from sgplan.analysis.layers import stack, stack_difference
from sgplan.analysis.space import parse_ports
from sgplan.model import Rule, SecurityGroup
from tests.analysis.test_access import allowed_by_scan, packets, rules

groups_of_rules = st.lists(st.lists(rules(), max_size=5), min_size=1, max_size=4)


@settings(max_examples=250, deadline=None)
@given(groups_of_rules, st.lists(packets, min_size=1, max_size=20))
def test_stacked_groups_equal_the_concatenated_scan(groups: list[list[Rule]], sample: list[Packet]) -> None:
    evaluator = Evaluator()
    stacked = stack([evaluator.layer(g) for g in groups])
    concatenated = [r for g in groups for r in g]
    assert stacked.same_as(evaluate(concatenated).allowed)
    for packet in sample:
        assert stacked.contains(*packet_key(packet)) == allowed_by_scan(concatenated, packet), packet


@settings(max_examples=250, deadline=None)
@given(st.lists(rules(), max_size=8))
def test_redundant_matches_the_suffix_definition(rule_list: list[Rule]) -> None:
    layer = layer_of(rule_list)
    per_rule = evaluate(rule_list, per_rule=True).decided
    actions = [r.action for r in rule_list]
    for i, decided in enumerate(per_rule):
        later = evaluate(rule_list[i + 1:])
        same = later.allowed if actions[i] == "ACCEPT" else later.denied
        expected = not decided.is_empty() and (decided - same).is_empty()
        assert is_redundant(layer, actions, i) == expected, i


def _covers(change: ExposureChange, packet: Packet) -> bool:
    """Does one readable exposure line speak about this (IP) packet?"""
    if change.protocol not in ("ALL", packet.protocol):
        return False
    if packet.protocol in ("TCP", "UDP") and change.ports != "ALL":
        if not any(lo <= (packet.port or 0) <= hi for lo, hi in parse_ports(change.ports)):
            return False
    if not change.peer[0].isdigit() and ":" not in change.peer:
        return False  # a symbolic peer (sg-…): not an address
    network = ipaddress.ip_network(change.peer)
    address = ipaddress.ip_address(packet.peer)
    return address.version == network.version and address in network


ip_packets = packets.filter(lambda p: p.peer[0].isdigit() or ":" in p.peer).filter(
    lambda p: not (p.protocol == "ICMP" and ":" in p.peer) and not (p.protocol == "ICMPv6" and ":" not in p.peer)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(rules(), max_size=5), st.lists(rules(), max_size=5), st.lists(rules(), max_size=5),
       st.booleans(), st.lists(ip_packets, min_size=1, max_size=15))
def test_exposure_changes_equal_the_brute_force_difference(a: list[Rule], b: list[Rule], a2: list[Rule],
                                                           swap: bool, sample: list[Packet]) -> None:
    old = {"sg-a": SecurityGroup("a", ingress=tuple(a)), "sg-b": SecurityGroup("b", ingress=tuple(b))}
    new = {"sg-a": SecurityGroup("a", ingress=tuple(a2)), "sg-b": old["sg-b"]}
    order = ("sg-b", "sg-a") if swap else ("sg-a", "sg-b")
    changes = compare(AccessView(old, {"ins-1": ("sg-a", "sg-b")}), AccessView(new, {"ins-1": order}))
    before_rules = a + b
    after_rules = [r for key in order for r in new[key].ingress]
    for packet in sample:
        was, now = allowed_by_scan(before_rules, packet), allowed_by_scan(after_rules, packet)
        opened = any(_covers(c, packet) for c in changes if c.instance_id == "ins-1" and c.effect == "opened")
        closed = any(_covers(c, packet) for c in changes if c.instance_id == "ins-1" and c.effect == "closed")
        assert (opened, closed) == (now and not was, was and not now), (packet, [str(c) for c in changes])


def test_first_match_scan_and_layer_agree_on_the_deciding_rule() -> None:
    rule_list = [Rule("DROP", "TCP", "22", cidr_block="0.0.0.0/0"), Rule("ACCEPT", "TCP", "20-30", cidr_block="0.0.0.0/0")]
    layer = layer_of(rule_list)
    assert first_match(rule_list, Packet("TCP", "8.8.8.8", 22)) == 0
    assert [len(d) for d in layer.decided] == [2, 4]  # v4 and `*`; the ACCEPT split around 22 in both
    assert layer.overlapped == (True, False)


def test_group_changes_merges_instances_with_the_same_change() -> None:
    ssh = ExposureChange("ins-a", "ingress", "TCP", "22", "0.0.0.0/0", "opened")
    web = ExposureChange("ins-a", "ingress", "TCP", "80", "0.0.0.0/0", "closed")
    merged = group_changes([ssh, web, replace(ssh, instance_id="ins-b"), replace(ssh, instance_id="ins-a")])
    assert [(ids, str(c)) for ids, c in merged] == [
        (("ins-a", "ins-b"), "TCP 22 from 0.0.0.0/0: opened"), (("ins-a",), "TCP 80 from 0.0.0.0/0: closed"),
    ]


def test_thousands_of_distinct_group_lists_stay_fast() -> None:
    # The previous engine re-scanned each instance's concatenated rules: minutes at this size.
    rng = random.Random(3)
    groups = {}
    for g in range(300):
        rules_ = [Rule("ACCEPT" if r % 7 else "DROP", "TCP", str(1000 + (r * 37 + g) % 2000),
                       cidr_block=f"10.{g % 250}.{r}.0/24") for r in range(20)]
        rules_.append(Rule("ACCEPT", "TCP", "80,443", cidr_block="0.0.0.0/0"))
        if g % 50 == 0:
            rules_.append(Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0"))
        groups[f"sg-{g:05d}"] = SecurityGroup(f"g{g}", ingress=tuple(rules_), egress=tuple(rules_[:5]))
    keys = list(groups)
    instances = {f"ins-{i:05d}": tuple(rng.sample(keys, rng.randint(1, 5))) for i in range(1500)}
    moved = {i: tuple(reversed(k)) if n % 10 == 0 else k for n, (i, k) in enumerate(instances.items())}
    start = time.perf_counter()
    changes = compare(AccessView(groups, instances), AccessView(groups, moved))
    findings = run_checks(AccessView(groups, moved))
    elapsed = time.perf_counter() - start
    assert any(f.rule == "ssh-open-to-internet" for f in findings)
    assert all(c.instance_id in moved for c in changes)
    assert elapsed < 20, elapsed  # about 1 s here; generous for loaded CI machines


templated_rules = st.one_of(
    rules(),
    st.builds(lambda action, service, peer: Rule(action, service_template_id=service, **peer),
              st.sampled_from(["ACCEPT", "DROP"]), st.sampled_from(["ppm-web00001", "ppm-db000001"]),
              st.sampled_from([{"cidr_block": "0.0.0.0/0"}, {"cidr_block": "10.0.0.0/8"},
                               {"security_group_id": "sg-aaaa1111"}, {"address_template_id": "ipm-office01"}])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(templated_rules, max_size=5), min_size=1, max_size=4),
       st.lists(templated_rules, max_size=5), st.integers(0, 3), st.booleans())
def test_stack_difference_equals_subtracting_whole_stacks(groups: list[list[Rule]], changed: list[Rule],
                                                          at: int, reverse: bool) -> None:
    # One group changed (or the list reordered), as an instance's groups are in a plan: only the
    # keys whose boxes differ layer by layer are stacked, and the sets are exactly the same.
    evaluator = Evaluator()
    old = [evaluator.layer(g) for g in groups]
    new = list(reversed(old)) if reverse else list(old)
    new[at % len(new)] = evaluator.layer(changed)
    opened, closed = stack_difference(old, new)
    whole_opened, whole_closed = stack(new) - stack(old), stack(old) - stack(new)
    assert (dict(opened.parts), opened.symbols) == (dict(whole_opened.parts), whole_opened.symbols)
    assert (dict(closed.parts), closed.symbols) == (dict(whole_closed.parts), whole_closed.symbols)
    assert stack_difference(old, old) == stack_difference(old, list(old))  # Traffic compares as sets
    assert stack_difference(old, old)[0].is_empty()
