"""The reliability checker itself: it must flag a transient opening and accept a narrowing."""

from __future__ import annotations

from tests.reliability.harness import Config, RuleSpec, exposure_violations, initial_state, managed_matches


def _with_ext_rules(*policies: dict) -> dict:
    state = initial_state()
    state["SecurityGroups"][0]["SecurityGroupPolicySet"]["Ingress"] = list(policies)
    return state


DROP22 = {"Protocol": "TCP", "Port": "22", "CidrBlock": "0.0.0.0/0", "Action": "DROP"}
ALLTCP = {"Protocol": "TCP", "Port": "ALL", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}
DROP2223 = {"Protocol": "TCP", "Port": "22-23", "CidrBlock": "0.0.0.0/0", "Action": "DROP"}


def test_checker_flags_a_state_that_opens_what_neither_end_allows():
    before = _with_ext_rules(DROP22, ALLTCP)
    after = _with_ext_rules(DROP2223, ALLTCP)
    middle = _with_ext_rules(ALLTCP)
    found = exposure_violations(before, after, [middle])
    assert any("ins-r0000000 ingress" in f for f in found)
    assert any("sg-ext00001 ingress" in f for f in found)


def test_checker_accepts_states_within_the_ends():
    before = _with_ext_rules(DROP22, ALLTCP)
    after = _with_ext_rules(DROP2223, ALLTCP)
    assert exposure_violations(before, after, [before, _with_ext_rules(DROP2223, DROP22, ALLTCP), after]) == []


def test_managed_matches_sees_a_missing_group():
    config = Config({"g0": {"ingress": (RuleSpec("ACCEPT", "TCP", "22", cidr="10.0.0.0/8"),), "egress": ()}}, {})
    assert managed_matches(initial_state(), config)
