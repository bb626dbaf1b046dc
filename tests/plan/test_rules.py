from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.model import Rule
from sgplan.plan.operation import Stage
from sgplan.plan.rules import align, edit_script, rule_calls, rule_changes
from tests.plan.policy_sim import SimGroup, apply_call


def tcp(port: int, desc: str = "", cidr: str = "10.0.0.0/8") -> Rule:
    return Rule("ACCEPT", "TCP", str(port), cidr_block=cidr, description=desc)


def run(live: list[Rule], desired: list[Rule], version: int = 7) -> tuple[list, SimGroup]:
    script = edit_script(live, desired)
    calls = rule_calls(script, live, desired, "ingress", group="sg-1", address="security_group.a",
                       stage=Stage.EDIT_GROUPS, version=version, resolve={})
    group = SimGroup(version, {"Ingress": list(live), "Egress": []})
    for call in calls:
        assert call.params["SecurityGroupPolicySet"]["Version"] == str(group.version) == str(call.expected_version)
        apply_call(group, call.action, call.params)
        assert call.expected_count == len(group.rules["Ingress"])
    assert group.rules["Ingress"] == desired
    return calls, group


def test_insert_at_top_of_fifty_is_one_call():
    live = [tcp(1000 + i) for i in range(50)]
    calls, _ = run(live, [tcp(22)] + live)
    assert [c.action for c in calls] == ["CreateSecurityGroupPolicies"]
    assert calls[0].params["SecurityGroupPolicySet"]["Ingress"][0]["PolicyIndex"] == 0


def test_several_rules_inserted_at_one_place_share_one_call_and_index():
    live = [tcp(1), tcp(2), tcp(3)]
    calls, _ = run(live, [tcp(1), tcp(10), tcp(11), tcp(12), tcp(2), tcp(3)])
    assert len(calls) == 1
    assert {b["PolicyIndex"] for b in calls[0].params["SecurityGroupPolicySet"]["Ingress"]} == {1}


def test_append_omits_policy_index():
    calls, _ = run([tcp(1)], [tcp(1), tcp(2)])
    assert "PolicyIndex" not in calls[0].params["SecurityGroupPolicySet"]["Ingress"][0]


def test_delete_middle_is_one_call_by_index():
    calls, _ = run([tcp(1), tcp(2), tcp(3)], [tcp(1), tcp(3)])
    assert [c.action for c in calls] == ["DeleteSecurityGroupPolicies"]
    assert calls[0].params["SecurityGroupPolicySet"]["Ingress"] == [{"PolicyIndex": 1}]


def test_several_deletes_go_in_one_call_highest_first():
    calls, _ = run([tcp(i) for i in range(6)], [tcp(1), tcp(4)])
    assert len(calls) == 1
    assert [b["PolicyIndex"] for b in calls[0].params["SecurityGroupPolicySet"]["Ingress"]] == [5, 3, 2, 0]


def test_changed_rule_is_replaced_in_place():
    calls, _ = run([tcp(1), tcp(2), tcp(3)], [tcp(1), tcp(2, "new text"), tcp(3)])
    assert [c.action for c in calls] == ["ReplaceSecurityGroupPolicy"]
    assert calls[0].params["SecurityGroupPolicySet"]["Ingress"][0]["PolicyIndex"] == 1


def test_a_run_of_replacements_is_one_batch_call():
    live = [tcp(i) for i in range(1, 7)]
    desired = [tcp(1), tcp(2, "a"), tcp(3, "b"), tcp(4, "c"), tcp(5), tcp(6)]
    calls, _ = run(live, desired)
    assert [c.action for c in calls] == ["ReplaceSecurityGroupPolicies"]
    params = calls[0].params
    assert params["UpdateType"] == "Policy"
    assert params["SecurityGroupPolicySet"]["Version"] == "7"
    assert [b["PolicyIndex"] for b in params["SecurityGroupPolicySet"]["Ingress"]] == [1, 2, 3]
    assert calls[0].summary == "replace ingress rules 1-3 of security_group.a"


def test_replacements_of_a_direction_share_one_call_even_apart():
    live = [tcp(i) for i in range(1, 7)]
    desired = [tcp(1, "a"), tcp(2), tcp(3), tcp(4), tcp(5), tcp(6, "b")]
    calls, _ = run(live, desired)
    assert [c.action for c in calls] == ["ReplaceSecurityGroupPolicies"]
    assert [b["PolicyIndex"] for b in calls[0].params["SecurityGroupPolicySet"]["Ingress"]] == [0, 5]


def test_replacement_positions_account_for_deletes_and_inserts():
    live = [tcp(1), tcp(2), tcp(3), tcp(4), tcp(5)]
    desired = [tcp(9), tcp(2, "x"), tcp(3), tcp(4, "y"), tcp(6), tcp(7)]
    calls, _ = run(live, desired)
    assert [c.action for c in calls].count("ReplaceSecurityGroupPolicies") == 1


def test_rules_that_differ_in_description_pair_first():
    # live [a, x, b] → desired [a', b']: pairing x with b' would collide with b (still present)
    # and cost a delete plus an insert; pairing by key is one delete and one batch of two.
    live = [tcp(1), tcp(2), tcp(6379, cidr="0.0.0.0/0"), tcp(3), tcp(4)]
    desired = [tcp(1), tcp(2, "a"), tcp(3, "b"), tcp(4)]
    script = edit_script(live, desired)
    assert script.replaces == ((1, 1), (3, 2)) and script.deletes == (2,) and script.inserts == ()
    calls, _ = run(live, desired)
    assert [c.action for c in calls] == ["DeleteSecurityGroupPolicies", "ReplaceSecurityGroupPolicies"]


def test_versions_count_up_per_call():
    calls, group = run([tcp(1), tcp(2), tcp(3)], [tcp(9), tcp(2), tcp(4), tcp(5)], version=3)
    assert [c.expected_version for c in calls] == list(range(3, 3 + len(calls)))
    assert group.version == 3 + len(calls)


def test_reorder():
    run([tcp(1), tcp(2), tcp(3)], [tcp(3), tcp(1), tcp(2)])
    run([tcp(1), tcp(2)], [tcp(2), tcp(1)])


def test_swapped_descriptions_do_not_collide():
    # Replacing rule 0 with a rule whose key is rule 1's would be a DuplicatePolicy.
    live = [tcp(1, "x"), tcp(2, "y")]
    run(live, [tcp(2, "z"), tcp(1, "w")])


def test_no_change_no_calls():
    calls, _ = run([tcp(1), tcp(2)], [tcp(1), tcp(2)])
    assert calls == []


def test_align_keeps_the_common_subsequence():
    a, b, c, d = tcp(1), tcp(2), tcp(3), tcp(4)
    assert align([a, b, c], [b, c, d]) == [(1, 0), (2, 1)]


def test_rule_changes_show_positions():
    live, desired = [tcp(1), tcp(2)], [tcp(0), tcp(2, "d")]
    lines = rule_changes(edit_script(live, desired), live, desired, "ingress")
    assert [(c.kind, c.index) for c in lines] == [("replace", 0), ("replace", 1)]


# Rules drawn from a small key space so that collisions and equal-but-for-description pairs happen.
_keys = st.tuples(st.sampled_from(["ACCEPT", "DROP"]), st.integers(1, 4))
_rule = st.builds(lambda k, desc: Rule(k[0], "TCP", str(k[1]), cidr_block="10.0.0.0/8", description=desc),
                  _keys, st.sampled_from(["", "a", "b"]))


def _unique(rules: list[Rule]) -> list[Rule]:
    seen, out = set(), []
    for r in rules:
        if r.key() not in seen:
            seen.add(r.key())
            out.append(r)
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(_rule, max_size=8).map(_unique), st.lists(_rule, max_size=8).map(_unique), st.integers(0, 50))
def test_planned_calls_turn_live_into_desired(live, desired, version):
    calls, _ = run(live, desired, version)
    assert len([c for c in calls if c.action == "DeleteSecurityGroupPolicies"]) <= 1
    inserts = sorted(set(edit_script(live, desired).inserts))
    runs = sum(1 for i, s in enumerate(inserts) if i == 0 or inserts[i - 1] != s - 1)
    assert len([c for c in calls if c.action == "CreateSecurityGroupPolicies"]) == runs
    # At most one replace call per direction, and a single replacement keeps the single action.
    replaces = [c for c in calls if c.action.startswith("ReplaceSecurityGroupPolic")]
    assert len(replaces) <= 1
    for c in replaces:
        bodies = c.params["SecurityGroupPolicySet"]["Ingress"]
        assert (c.action == "ReplaceSecurityGroupPolicy") == (len(bodies) == 1)
