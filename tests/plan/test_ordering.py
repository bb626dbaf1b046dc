"""Exposure-safe ordering: the planner reorders calls (and picks inserts-before-deletes scripts) so
that no intermediate state opens traffic that neither end allows; otherwise it says so."""

from __future__ import annotations

from sgplan.analysis.access import Templates
from sgplan.model import CloudState, DesiredState, Instance, Rule, SecurityGroup, Settings
from sgplan.plan import make_plan
from sgplan.plan.operation import Operation, Stage
from sgplan.plan.ordering import Unit, footprint, safe_order
from sgplan.plan.simulate import SimState, step

DROP22 = Rule("DROP", "TCP", "22", cidr_block="0.0.0.0/0")
OPEN22 = Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0")
OPEN80 = Rule("ACCEPT", "TCP", "80", cidr_block="0.0.0.0/0")


def group(gid: str, address: str, *ingress: Rule) -> SecurityGroup:
    return SecurityGroup(name=address.split(".")[-1], id=gid, address=address, stack="s", version="1", ingress=tuple(ingress))


def desired(*groups: SecurityGroup) -> DesiredState:
    return DesiredState(settings=Settings(stack="s"), groups=tuple(SecurityGroup(g.name, address=g.address, ingress=g.ingress) for g in groups))


def plan_for(live: CloudState, want: DesiredState):
    plan, diags = make_plan(want, live, cloud="file:x", region="r")
    assert plan is not None, diags
    return plan


def states(live: CloudState, ops) -> list[SimState]:
    out = [SimState.from_cloud(live)]
    for op in ops:
        out.append(step(out[-1], op))
    return out


def test_narrowing_group_is_edited_before_the_drop_goes():
    # ins-1 carries [a, b]: a drops 22, b accepts 22 and 80. After: a empty, b accepts only 80.
    # Editing a first would open 22 for a moment; the planner edits b first.
    live = CloudState(
        groups=(group("sg-a", "security_group.a", DROP22), group("sg-b", "security_group.b", OPEN22, OPEN80)),
        instances=(Instance("ins-1", ("sg-a", "sg-b")),),
    )
    plan = plan_for(live, desired(group("sg-a", "security_group.a"), group("sg-b", "security_group.b", OPEN80)))
    assert plan.transient_exposure == ()
    assert [op.group for op in plan.operations] == ["sg-b", "sg-a"]
    for state in states(live, plan.operations):
        assert state.groups["sg-a"].ingress == (DROP22,) or state.groups["sg-b"].ingress == (OPEN80,)


def test_inserts_before_deletes_when_a_replacement_would_open_a_gap():
    # One group: [DROP 22 from 1.2.3.4, ACCEPT 22] → [ACCEPT 80, DROP 22 from 1.2.3.0/24, ACCEPT 22].
    # The minimal script replaces the DROP with ACCEPT 80 first (22 open to 1.2.3.4 for a moment).
    drop_host = Rule("DROP", "TCP", "22", cidr_block="1.2.3.4/32")
    drop_net = Rule("DROP", "TCP", "22", cidr_block="1.2.3.0/24")
    live = CloudState(groups=(group("sg-a", "security_group.a", drop_host, OPEN22),), instances=(Instance("ins-1", ("sg-a",)),))
    plan = plan_for(live, desired(group("sg-a", "security_group.a", OPEN80, drop_net, OPEN22)))
    assert plan.transient_exposure == ()
    assert [op.action for op in plan.operations] == ["CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies"]
    final = states(live, plan.operations)[-1]
    assert final.groups["sg-a"].ingress == (OPEN80, drop_net, OPEN22)
    versions = [op.expected_version for op in plan.operations]
    assert versions == [1, 2]


def test_unsafe_only_order_is_reported_with_the_instance_and_port():
    open_tcp = Rule("ACCEPT", "TCP", "ALL", cidr_block="0.0.0.0/0")
    live = CloudState(groups=(group("sg-a", "security_group.a", DROP22, open_tcp),), instances=(Instance("ins-1", ("sg-a",)),))
    # A single unit whose only variant first deletes the DROP and then adds a wider one.
    ops = (
        Operation(Stage.EDIT_GROUPS, "vpc", "DeleteSecurityGroupPolicies",
                  {"SecurityGroupId": "sg-a", "SecurityGroupPolicySet": {"Version": "1", "Ingress": [{"PolicyIndex": 0}]}}, group="sg-a"),
        Operation(Stage.EDIT_GROUPS, "vpc", "CreateSecurityGroupPolicies",
                  {"SecurityGroupId": "sg-a", "SecurityGroupPolicySet": {"Version": "2", "Ingress": [
                      {"PolicyIndex": 0, **Rule("DROP", "TCP", "22-23", cidr_block="0.0.0.0/0").to_api()}]}}, group="sg-a"),
    )
    order, exposures = safe_order([Unit("sg-a", Stage.EDIT_GROUPS, (ops,))], SimState.from_cloud(live), Templates())
    assert list(order) == list(ops)
    assert exposures and exposures[0].step == 0
    change = exposures[0].change
    assert (change.instance_id, change.protocol, change.ports) == ("ins-1", "TCP", "22")
    assert "ins-1" in str(exposures[0])


def test_footprints_name_instances_and_groups():
    live = CloudState(groups=(group("sg-a", "security_group.a", OPEN22),), instances=(Instance("ins-1", ("sg-a",)),))
    state = SimState.from_cloud(live)
    edit = Operation(Stage.EDIT_GROUPS, "vpc", "ReplaceSecurityGroupPolicy", {"SecurityGroupId": "sg-a"}, group="sg-a")
    bind = Operation(Stage.SET_BINDINGS, "cvm", "ModifyInstancesAttribute", {"InstanceIds": ["ins-2"], "SecurityGroups": ["sg-a"]})
    assert footprint(state, edit) == ("i:ins-1", "w:sg-a")
    assert footprint(state, bind) == ("i:ins-2", "r:sg-a")
