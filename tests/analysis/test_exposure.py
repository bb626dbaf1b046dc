"""Exposure changes: opened/closed in readable ranges, nothing for reorders and renames, transients."""

from __future__ import annotations

from dataclasses import replace

from sgplan.analysis.exposure import AccessView, Comparison, changed_subjects, compare, compare_states, transient_exposure
from sgplan.model import CloudState, Direction, GroupRef, Instance, Rule, SecurityGroup

SSH = Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0")
WEB = Rule("ACCEPT", "TCP", "80,443", cidr_block="0.0.0.0/0")
DROP_22 = Rule("DROP", "TCP", "22", cidr_block="0.0.0.0/0")


def view(groups: dict[str, SecurityGroup], instances: dict[str, tuple[str, ...]]) -> AccessView:
    return AccessView(groups, instances)


def lines(changes) -> list[str]:
    return [f"{c.instance_id} {c}" for c in changes]


def test_opened_and_closed() -> None:
    before = view({"sg-1": SecurityGroup("web", ingress=(WEB,))}, {"ins-1": ("sg-1",)})
    after = view({"sg-1": SecurityGroup("web", ingress=(SSH, Rule("ACCEPT", "TCP", "443", cidr_block="0.0.0.0/0")))}, {"ins-1": ("sg-1",)})
    assert lines(compare(before, after)) == ["ins-1 TCP 22 from 0.0.0.0/0: opened", "ins-1 TCP 80 from 0.0.0.0/0: closed"]
    assert compare(before, after)[0].to_json() == {
        "instance_id": "ins-1", "direction": "ingress", "protocol": "TCP", "ports": "22", "peer": "0.0.0.0/0", "effect": "opened",
    }


def test_reorder_and_rename_without_access_change_produce_nothing() -> None:
    a = Rule("ACCEPT", "TCP", "22", cidr_block="10.0.0.0/8")
    b = Rule("ACCEPT", "TCP", "80", cidr_block="0.0.0.0/0")
    before = view({"sg-1": SecurityGroup("web", ingress=(a, b))}, {"ins-1": ("sg-1",)})
    after = view({"sg-1": SecurityGroup("web-renamed", description="new", ingress=(b, a))}, {"ins-1": ("sg-1",)})
    assert compare(before, after) == []
    # Splitting one rule into two that cover the same traffic changes nothing either.
    split = view({"sg-1": SecurityGroup("web", ingress=(
        Rule("ACCEPT", "TCP", "80", cidr_block="0.0.0.0/1"), Rule("ACCEPT", "TCP", "80", cidr_block="128.0.0.0/1"), a))},
        {"ins-1": ("sg-1",)})
    assert compare(before, split) == []


def test_drop_above_accept_and_group_order() -> None:
    groups = {"sg-deny": SecurityGroup("deny", ingress=(DROP_22,)), "sg-ssh": SecurityGroup("ssh", ingress=(SSH,))}
    before = view(groups, {"ins-1": ("sg-deny", "sg-ssh")})
    after = view(groups, {"ins-1": ("sg-ssh", "sg-deny")})
    assert lines(compare(before, after)) == ["ins-1 TCP 22 from 0.0.0.0/0: opened"]
    assert lines(compare(after, before)) == ["ins-1 TCP 22 from 0.0.0.0/0: closed"]


def test_all_protocols_merge_and_ranges_are_readable() -> None:
    before = view({"sg-1": SecurityGroup("g")}, {"ins-1": ("sg-1",)})
    after = view({"sg-1": SecurityGroup("g", egress=(
        Rule("DROP", "ALL", None, cidr_block="10.1.0.0/16"), Rule("ACCEPT", "ALL", None, cidr_block="10.0.0.0/8")))},
        {"ins-1": ("sg-1",)})
    got = lines(compare(before, after))
    assert "ins-1 ALL to 10.0.0.0/16: opened" in got
    assert "ins-1 ALL to 10.2.0.0/15: opened" in got
    assert all("10.1." not in line for line in got)


def test_new_group_placeholder_and_refs() -> None:
    new = SecurityGroup("bastion", address="security_group.bastion", ingress=(SSH,))
    app = SecurityGroup("app", ingress=(Rule("ACCEPT", "TCP", "8080", security_group_id=GroupRef("security_group.bastion")),))
    before = view({"sg-app": SecurityGroup("app")}, {"ins-1": ("sg-app",)})
    after = view({"sg-app": app, "(new)security_group.bastion": new}, {"ins-1": ("sg-app",)})
    got = lines(compare(before, after))
    assert got == [
        "ins-1 TCP 8080 from (new)security_group.bastion: opened",
        "(new)security_group.bastion TCP 22 from 0.0.0.0/0: opened",
    ]


def test_unbound_group_is_evaluated_alone_and_compare_states() -> None:
    live = CloudState(groups=(SecurityGroup("g", id="sg-1"),), instances=(Instance("ins-1"),))
    after = replace(live, groups=(SecurityGroup("g", id="sg-1", ingress=(SSH,)),))
    assert lines(compare_states(live, after)) == ["sg-1 TCP 22 from 0.0.0.0/0: opened"]


def test_symbolic_peer_changes_are_shown_once() -> None:
    before = view({"sg-1": SecurityGroup("g")}, {"ins-1": ("sg-1",)})
    after = view({"sg-1": SecurityGroup("g", ingress=(SSH, Rule("ACCEPT", "TCP", "22", security_group_id="sg-bastion")))}, {"ins-1": ("sg-1",)})
    assert lines(compare(before, after)) == ["ins-1 TCP 22 from 0.0.0.0/0: opened"]


def test_transient_exposure_finds_what_neither_end_allows() -> None:
    before = view({"sg-1": SecurityGroup("g", ingress=(DROP_22, WEB))}, {"ins-1": ("sg-1",)})
    after = view({"sg-1": SecurityGroup("g", ingress=(DROP_22, SSH, WEB))}, {"ins-1": ("sg-1",)})
    # Deleting the DROP first, then re-adding it: the middle state opens SSH.
    bad = view({"sg-1": SecurityGroup("g", ingress=(SSH, WEB))}, {"ins-1": ("sg-1",)})
    good = view({"sg-1": SecurityGroup("g", ingress=(DROP_22, WEB, SSH))}, {"ins-1": ("sg-1",)})
    found = transient_exposure(before, after, [good, bad])
    assert [(t.step, str(t.change)) for t in found] == [(1, "TCP 22 from 0.0.0.0/0: opened")]
    assert transient_exposure(before, after, [good]) == []


def test_rules_a_view_keeps_from_another_are_not_compared_rule_by_rule() -> None:
    web = SecurityGroup("web", ingress=(SSH,))
    before = view({"sg-1": web, "sg-2": SecurityGroup("db")}, {"ins-1": ("sg-1", "sg-2")})
    # An equal copy of sg-1's rules, kept from `before` (as planned.after_view says): identity decides.
    copy = replace(web, ingress=(replace(SSH),))
    after = AccessView({"sg-1": copy, "sg-2": SecurityGroup("db", ingress=(WEB,))}, {"ins-1": ("sg-1", "sg-2")},
                       same_rules_as={"sg-1": web})
    comparison = Comparison(before, after)
    assert comparison.same_rules("sg-1", Direction.INGRESS) and not comparison.same_rules("sg-2", Direction.INGRESS)
    assert lines(comparison.changes()) == lines(compare(before, view(after.groups, after.instances)))
    assert lines(comparison.changes()) == ["ins-1 TCP 80,443 from 0.0.0.0/0: opened"]
    assert comparison.changed_subjects() == changed_subjects(before, after) == ({"ins-1"}, {"sg-2"})


def test_kept_rules_naming_a_group_that_resolves_differently_are_still_compared() -> None:
    app = SecurityGroup("app", ingress=(Rule("ACCEPT", "TCP", "8080", security_group_id=GroupRef("security_group.x")),))
    x = SecurityGroup("x", address="security_group.x")
    before = view({"sg-app": app, "sg-x": x}, {"ins-1": ("sg-app",)})
    after = AccessView({"sg-app": app, "security_group.x.id": x}, {"ins-1": ("sg-app",)}, same_rules_as={"sg-app": app})
    assert not Comparison(before, after).same_rules("sg-app", Direction.INGRESS)
    assert lines(compare(before, after)) == [
        "ins-1 TCP 8080 from security_group.x.id: opened", "ins-1 TCP 8080 from sg-x: closed",
    ]
