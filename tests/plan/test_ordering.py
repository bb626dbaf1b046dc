"""Exposure-safe ordering: the planner reorders calls (and picks inserts-before-deletes scripts) so
that no intermediate state opens traffic that neither end allows; otherwise it says so."""

from __future__ import annotations

from sgplan.analysis.access import Templates
from sgplan.model import Binding, CloudState, DesiredState, Instance, Rule, SecurityGroup, Settings
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


# -- the fast checker against the plain one ------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sgplan.analysis.access import Evaluator  # noqa: E402
from sgplan.analysis.exposure import TransientExposure, transient_exposure  # noqa: E402
from sgplan.plan.ordering import _Checker, final_state, make_units  # noqa: E402
from sgplan.plan.simulate import affected  # noqa: E402

_small_rule = st.builds(
    lambda action, port, cidr: Rule(action, "TCP", port, cidr_block=cidr),
    st.sampled_from(["ACCEPT", "DROP"]), st.sampled_from(["22", "80", "20-30"]), st.sampled_from(["0.0.0.0/0", "10.0.0.0/8"]),
)
_rule_list = st.lists(_small_rule, max_size=4, unique_by=lambda r: r.key())
_group_lists = st.lists(st.sampled_from(["sg-a", "sg-b", "sg-c"]), max_size=3, unique=True).map(tuple)


def _plain_check(before: SimState, after: SimState, state: SimState, ops) -> list[TransientExposure]:
    """The check without shortcuts: every affected subject goes through `transient_exposure`."""
    templates, evaluator, found = Templates(), Evaluator(), []
    for number, op in enumerate(ops):
        instances, groups = affected(state, op)
        new = step(state, op)
        instances |= affected(new, op)[0]
        views = [s.view(templates, instances, groups) for s in (before, after, new)]
        found += [TransientExposure(number, x.change) for x in transient_exposure(views[0], views[1], [views[2]], evaluator)]
        state = new
    return found


@settings(max_examples=150, deadline=None)
@given(st.lists(_rule_list, min_size=3, max_size=3), st.lists(_rule_list, min_size=3, max_size=3),
       st.lists(_group_lists, min_size=1, max_size=4), st.lists(_group_lists, min_size=1, max_size=4), st.randoms())
def test_fast_checker_finds_what_the_plain_check_finds(live_rules, want_rules, live_lists, want_lists, rng):
    keys = ["sg-a", "sg-b", "sg-c"]
    live = CloudState(
        groups=tuple(group(k, f"security_group.{k[-1]}", *r) for k, r in zip(keys, live_rules)),
        instances=tuple(Instance(f"ins-{n}", lists) for n, lists in enumerate(live_lists)),
    )
    want = desired(*(group(k, f"security_group.{k[-1]}", *r) for k, r in zip(keys, want_rules)))
    want = DesiredState(settings=want.settings, groups=want.groups, bindings=tuple(
        Binding(f"binding.b{n}", f"ins-{n}", lists)
        for n, lists in enumerate(want_lists[: len(live_lists)])
    ))
    plan = plan_for(live, want)
    units = make_units(list(plan.operations))
    rng.shuffle(units)  # any order of whole units is a valid call sequence here (no creates)
    ops = [op for u in units for op in u.variants[0]]
    before = SimState.from_cloud(live)
    after = final_state(before, ops)
    checker = _Checker(before, after, Templates(), Evaluator())
    _, fast = checker.run(before, ops, 0)
    assert fast == _plain_check(before, after, before, ops)


def test_carrier_index_follows_binding_changes():
    live = CloudState(groups=(group("sg-a", "security_group.a"), group("sg-b", "security_group.b")),
                      instances=(Instance("ins-1", ("sg-a",)), Instance("ins-2", ("sg-a", "sg-b"))))
    state = SimState.from_cloud(live)
    assert state.carriers("sg-a") == {"ins-1", "ins-2"}  # builds the index
    bind = Operation(Stage.SET_BINDINGS, "cvm", "ModifyInstancesAttribute", {"InstanceIds": ["ins-2", "ins-3"], "SecurityGroups": ["sg-b"]})
    new = step(state, bind)
    assert new.carriers("sg-a") == {"ins-1"} and new.carriers("sg-b") == {"ins-2", "ins-3"}
    assert state.carriers("sg-a") == {"ins-1", "ins-2"} and state.carriers("sg-b") == {"ins-2"}  # untouched
    assert new.carriers("sg-b") == {i for i, ks in new.instances.items() if "sg-b" in ks}
