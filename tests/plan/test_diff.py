from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgplan.apply import execute
from sgplan.diagnostics import Severity
from sgplan.model import Binding, CloudState, DesiredState, GroupRef, Instance, Rule, SecurityGroup, Settings
from sgplan.plan import make_plan
from sgplan.plan.diff import _check_rules
from tests.apply.fake_clients import EngineClient, plan_for

S = "s"


def tcp(port: int, desc: str = "") -> Rule:
    return Rule("ACCEPT", "TCP", str(port), cidr_block="10.0.0.0/8", description=desc)


def live_group(label: str, gid: str, *ingress: Rule, stack: str | None = S, **kw) -> SecurityGroup:
    address = f"security_group.{label}" if stack else None
    return SecurityGroup(kw.pop("name", label), id=gid, address=address, stack=stack, version=kw.pop("version", "3"),
                         ingress=ingress, **kw)


def want(label: str, *ingress: Rule, **kw) -> SecurityGroup:
    return SecurityGroup(kw.pop("name", label), address=f"security_group.{label}", ingress=ingress, **kw)


def plan(groups=(), bindings=(), live=CloudState()):
    return make_plan(DesiredState(Settings(stack=S), tuple(groups), tuple(bindings)), live, cloud="c", region="r")


def test_missing_pinned_group_is_an_error():
    p, diags = plan([want("x", id="sg-missing1")])
    assert p is None
    assert "sg-missing1" in diags[0].message and diags[0].address == "security_group.x"


def test_pinned_group_that_matches_is_no_op_and_gets_no_tags():
    live = CloudState(groups=(live_group("x", "sg-pinned01", tcp(22), stack=None),))
    p, diags = plan([want("x", tcp(22), id="sg-pinned01")], live=live)
    assert not p.has_changes and diags == []
    assert p.resource_changes[0].actions == ("no-op",)


def test_removed_pinned_block_is_forgotten_and_unmanaged_groups_are_never_deleted():
    live = CloudState(groups=(live_group("x", "sg-pinned01", tcp(22), stack=None),
                              live_group("other", "sg-other001", tcp(1), stack="another-stack")))
    p, _ = plan([], live=live)
    assert not p.has_changes and p.resource_changes == ()


def test_managed_group_removed_from_config_is_deleted():
    live = CloudState(groups=(live_group("gone", "sg-gone0001", tcp(1)),))
    p, _ = plan([], live=live)
    assert [op.action for op in p.operations] == ["DeleteSecurityGroup"]
    assert p.summary["delete"] == 1
    assert p.fingerprint.groups == (("sg-gone0001", 3),)


def test_tag_change_on_existing_group_is_one_minimal_tag_call():
    """DESIGN §3 / issue 13: tags of an existing group change through the tag service, one
    ModifyResourceTags with only the keys that change, never the ownership tags."""
    live = CloudState(groups=(live_group("x", "sg-00000001", tcp(1), tags=(("keep", "1"), ("old", "x"), ("team", "a"))),))
    p, diags = plan([want("x", tcp(1), tags=(("keep", "1"), ("new", "y"), ("team", "b")))], live=live)
    assert diags == []
    (change,) = p.resource_changes
    assert change.actions == ("update",) and change.after["tags"] == {"keep": "1", "new": "y", "team": "b"}
    (op,) = p.operations
    assert (op.service, op.action, op.group) == ("tag", "ModifyResourceTags", "sg-00000001")
    assert op.params == {
        "Resource": "qcs::cvm:r:uin/:sg/sg-00000001",
        "ReplaceTags": [{"TagKey": "new", "TagValue": "y"}, {"TagKey": "team", "TagValue": "b"}],
        "DeleteTags": [{"TagKey": "old"}],
    }
    again, _ = plan([want("x", tcp(1), tags=(("keep", "1"), ("new", "y"), ("team", "b")))], live=CloudState(
        groups=(live_group("x", "sg-00000001", tcp(1), tags=(("keep", "1"), ("new", "y"), ("team", "b"))),)))
    assert not again.has_changes


def test_create_carries_ownership_tags():
    p, _ = plan([want("x", tcp(1), tags=(("team", "a"),), prevent_destroy=True)])
    (op,) = p.operations
    assert op.action == "CreateSecurityGroupWithPolicies"
    assert op.params["Tags"] == [
        {"Key": "sgplan-address", "Value": "security_group.x"},
        {"Key": "sgplan-prevent-destroy", "Value": "true"},
        {"Key": "sgplan-stack", "Value": S},
        {"Key": "team", "Value": "a"},
    ]


def test_binding_to_missing_instance_is_an_error():
    p, diags = plan(bindings=[Binding("binding.b", "ins-nothere1", ("sg-1",))])
    assert p is None and "ins-nothere1" in diags[0].message


def test_bindings_are_grouped_per_target_list_and_100_instances():
    ids = [f"ins-{i:08d}" for i in range(250)]
    live = CloudState(instances=tuple(Instance(i, ("sg-old00001",)) for i in ids) + (Instance("ins-zzzzzzzz", ()),))
    bindings = [Binding("binding.web", i, ("sg-web00001", "sg-ssh00001")) for i in ids]
    bindings.append(Binding("binding.other", "ins-zzzzzzzz", ("sg-ssh00001",)))
    p, _ = plan(bindings=bindings, live=live)
    calls = [op for op in p.operations if op.action == "ModifyInstancesAttribute"]
    assert sorted(len(op.params["InstanceIds"]) for op in calls) == [1, 50, 100, 100]
    assert p.summary["update"] == 251
    assert len(p.fingerprint.instances) == 251


def test_unchanged_binding_is_no_op():
    live = CloudState(instances=(Instance("ins-aaaa1111", ("sg-1", "sg-2")),))
    p, _ = plan(bindings=[Binding("binding.b", "ins-aaaa1111", ("sg-1", "sg-2"))], live=live)
    assert not p.has_changes and p.resource_changes[0].actions == ("no-op",)


def test_rule_referring_to_a_deleted_group_is_an_error():
    live = CloudState(groups=(live_group("gone", "sg-gone0001"), live_group("keep", "sg-keep0001")))
    rule = Rule("ACCEPT", "TCP", "22", security_group_id="sg-gone0001")
    p, diags = plan([want("keep", rule)], live=live)
    assert p is None and "sg-gone0001" in diags[0].message


def test_duplicate_rules_are_an_error():
    p, diags = plan([want("x", tcp(1, "a"), tcp(1, "b"))])
    assert p is None and "duplicates" in diags[0].message


def test_prevent_destroy_tag_blocks_replacement():
    live = CloudState(groups=(live_group("x", "sg-00000001", tcp(1), prevent_destroy=True),))
    p, diags = plan([want("x", tcp(1), project_id="1001")], live=live)
    assert p is None and "prevent_destroy" in diags[0].message


def test_leftover_copy_of_a_replaced_group_is_deleted():
    live = CloudState(groups=(live_group("x", "sg-00000001", tcp(1)), live_group("x", "sg-00000002", tcp(1), project_id="7")))
    p, _ = plan([want("x", tcp(1), project_id="7")], live=live)
    assert [(op.action, op.group) for op in p.operations] == [("DeleteSecurityGroup", "sg-00000001")]


def test_self_reference_in_a_new_group_is_inserted_after_creation():
    self_ref = Rule("ACCEPT", "ALL", security_group_id=GroupRef("security_group.x"))
    p, _ = plan([want("x", tcp(1), self_ref, tcp(2))])
    create, insert = p.operations
    assert len(create.params["SecurityGroupPolicySet"]["Ingress"]) == 2
    assert insert.action == "CreateSecurityGroupPolicies" and insert.version_offset == 0
    assert insert.params["SecurityGroupPolicySet"]["Ingress"][0]["PolicyIndex"] == 1
    assert insert.params["SecurityGroupPolicySet"]["Ingress"][0]["SecurityGroupId"] == "${security_group.x.id}"


# Property: for random live and desired rule lists on real (fake-engine) groups, applying the plan
# gives exactly the desired lists, and planning again finds nothing to do.
_rule = st.builds(lambda a, p, d: Rule(a, "TCP", str(p), cidr_block="10.0.0.0/8", description=d),
                  st.sampled_from(["ACCEPT", "DROP"]), st.integers(1, 5), st.sampled_from(["", "x"]))


def _unique(rules):
    seen, out = set(), []
    for r in rules:
        if r.key() not in seen:
            seen.add(r.key())
            out.append(r)
    return tuple(out)


_list = st.lists(_rule, max_size=7).map(_unique)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_list, _list, _list, _list)
def test_apply_reaches_desired_rules(live_in, live_out, want_in, want_out):
    client = EngineClient({"Region": "ap-guangzhou"})
    first = DesiredState(Settings(stack=S), (SecurityGroup("g", address="security_group.g", ingress=live_in, egress=live_out),))
    result = execute(plan_for(client, first), client, sleep=lambda s: None, rng=random.Random(0))
    assert result.ok, result.errors
    second = DesiredState(Settings(stack=S), (SecurityGroup("g", address="security_group.g", ingress=want_in, egress=want_out),))
    p = plan_for(client, second)
    assert all(op.action != "ModifySecurityGroupPolicies" for op in p.operations)
    result = execute(p, client, sleep=lambda s: None, rng=random.Random(0))
    assert result.ok, result.errors
    again = plan_for(client, second)
    assert not again.has_changes
    (g,) = [g for g in again.resource_changes if g.type == "security_group"]
    assert g.after["ingress"] == [r.to_hcl() for r in want_in]


def test_before_after_match_to_hcl_and_share_rule_dicts() -> None:
    # The plan's before/after are the groups' to_hcl(), with one dict per distinct rule (issue 8).
    ssh = Rule(action="ACCEPT", protocol="TCP", port="22", cidr_block="10.0.0.0/8", description="ssh")
    web = Rule(action="ACCEPT", protocol="TCP", port="443", cidr_block="0.0.0.0/0")
    live_groups = tuple(
        SecurityGroup(name=f"g{n}", ingress=(ssh,), id=f"sg-{n:08d}", address=f"security_group.g{n}", stack="s",
                      version="1")
        for n in range(3)
    )
    desired_groups = tuple(
        # An equal but distinct Rule object, as each configured group evaluates its own.
        SecurityGroup(name=f"g{n}", ingress=(replace(ssh), web) if n else (ssh,), address=f"security_group.g{n}")
        for n in range(3)
    )
    plan, diags = make_plan(DesiredState(groups=desired_groups, settings=Settings(stack="s")),
                            CloudState(groups=live_groups), cloud="file:x", region="r")
    assert plan is not None and not [d for d in diags if d.severity is Severity.ERROR]
    by_address = {c.address: c for c in plan.resource_changes}
    for n in range(3):
        change = by_address[f"security_group.g{n}"]
        assert change.before == live_groups[n].to_hcl()
        assert change.after == desired_groups[n].to_hcl()
    first, second = by_address["security_group.g1"], by_address["security_group.g2"]
    assert first.after["ingress"][0] is second.after["ingress"][0]
    assert first.before["ingress"][0] is by_address["security_group.g0"].after["ingress"][0]


def test_rule_problems_are_reported_in_rule_order_with_and_without_duplicates():
    unknown = Rule("ACCEPT", "TCP", "22", security_group_id=GroupRef("security_group.nowhere"))
    doomed = Rule("ACCEPT", "TCP", "23", security_group_id="sg-00000009")
    groups = [want("a", unknown, tcp(1), doomed), want("b", tcp(1), unknown, tcp(1, "again"), doomed)]
    diags = _check_rules(groups, {"security_group.a", "security_group.b"}, {"sg-00000009": "security_group.old"})
    assert [(d.address, d.message) for d in diags] == [
        ("security_group.a", "reference to unknown group security_group.nowhere"),
        ("security_group.a", "rule refers to sg-00000009, which this plan deletes (security_group.old)"),
        ("security_group.b", "reference to unknown group security_group.nowhere"),
        ("security_group.b", "ingress rule 2 duplicates rule 0 (the cloud compares rules without their description)"),
        ("security_group.b", "rule refers to sg-00000009, which this plan deletes (security_group.old)"),
    ]


def test_references_to_a_replaced_group_name_its_new_copy_and_plain_ids_stay():
    live = CloudState(groups=(live_group("x", "sg-00000001", tcp(1)), live_group("y", "sg-00000002", tcp(2))))
    to_x = Rule("ACCEPT", "TCP", "22", security_group_id="sg-00000001")
    to_y = Rule("ACCEPT", "TCP", "23", security_group_id="sg-00000002")
    p, _ = plan([want("x", tcp(1), project_id="7"), want("y", tcp(2), to_y), want("z", to_x)], live=live)
    z = next(op for op in p.operations if op.address == "security_group.z")
    assert z.params["SecurityGroupPolicySet"]["Ingress"][0]["SecurityGroupId"] == "${security_group.x.id}"
    y = next(c for c in p.resource_changes if c.address == "security_group.y")
    assert y.after["ingress"][1]["security_group_id"] == "sg-00000002"
