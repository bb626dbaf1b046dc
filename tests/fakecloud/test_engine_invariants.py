"""Property: any sequence of valid and invalid rule calls keeps a group's invariants intact."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.cloud.base import CloudError
from sgplan.cloud.policy import rule_key
from sgplan.fakecloud.engine import Engine

GROUP = "sg-aaaaaaaa"
LIMIT = 6

valid_policy = st.fixed_dictionaries(
    {
        "Protocol": st.sampled_from(["TCP", "udp"]),
        "Port": st.sampled_from(["22", "80", "443", "8000-8010", "ALL"]),
        "CidrBlock": st.sampled_from(["10.0.0.0/8", "0.0.0.0/0", "192.168.1.1"]),
        "Action": st.sampled_from(["ACCEPT", "drop"]),
    }
)
invalid_policy = st.fixed_dictionaries(
    {
        "Protocol": st.sampled_from(["TCP", "ICMP", "bogus"]),
        "Port": st.sampled_from(["22", "0", "70000"]),
        "CidrBlock": st.sampled_from(["10.0.0.0/8", "::/0", "not-a-cidr"]),
        "Action": st.sampled_from(["ACCEPT", "MAYBE"]),
    }
)
# Mostly valid rules, so that quotas, duplicates and stale versions are what fails most often.
policy = st.one_of(valid_policy, valid_policy, valid_policy, invalid_policy)
index = st.one_of(st.none(), st.integers(-1, 8), st.integers(0, 8).map(str))
version = st.one_of(st.none(), st.integers(0, 12).map(str))
direction = st.sampled_from(["Ingress", "Egress"])


def _with_index(p: dict, i: object) -> dict:
    return p if i is None else {**p, "PolicyIndex": i}


call = st.one_of(
    st.builds(
        lambda d, rules, i, v: ("CreateSecurityGroupPolicies", {d: [_with_index(r, i) for r in rules], "Version": v}),
        direction, st.lists(policy, min_size=1, max_size=3), index, version,
    ),
    st.builds(
        lambda d, idx, v: ("DeleteSecurityGroupPolicies", {d: [{"PolicyIndex": i} for i in idx], "Version": v}),
        direction, st.lists(st.one_of(st.integers(0, 7), st.integers(0, 7).map(str)), min_size=1, max_size=3), version,
    ),
    st.builds(
        lambda d, p, v: ("DeleteSecurityGroupPolicies", {d: [p], "Version": v}), direction, policy, version,
    ),
    st.builds(
        lambda d, p, i, v: ("ReplaceSecurityGroupPolicy", {d: [_with_index(p, i)], "Version": v}),
        direction, policy, index, version,
    ),
    st.builds(
        lambda ing, eg, v: ("ModifySecurityGroupPolicies", {"Ingress": ing, "Egress": eg, "Version": v}),
        st.lists(policy, max_size=4), st.lists(policy, max_size=4), version,
    ),
    st.builds(
        lambda rules: ("CreateSecurityGroupPolicies", {"Ingress": rules[:1], "Egress": rules[1:]}),
        st.lists(policy, min_size=2, max_size=2),
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(call, max_size=25))
def test_random_calls_never_corrupt_a_group(calls: list[tuple[str, dict]]) -> None:
    engine = Engine({"SecurityGroups": [{"SecurityGroupId": GROUP}], "Limits": {"SecurityGroupPolicyLimit": LIMIT}})
    last_version = 0
    for action, policy_set in calls:
        before = engine.state
        policy_set = {k: v for k, v in policy_set.items() if v is not None}
        try:
            engine.handle("vpc", action, {"SecurityGroupId": GROUP, "SecurityGroupPolicySet": policy_set})
            ok = True
        except CloudError:
            ok = False
        body = engine.handle("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": GROUP})
        got = body["SecurityGroupPolicySet"]
        version = int(got["Version"])
        if ok:
            assert version == last_version + 1
        else:
            assert engine.state == before, f"{action} failed but changed the state"
            assert version == last_version
        last_version = version
        for d in ("Ingress", "Egress"):
            rules = got[d]
            assert [r["PolicyIndex"] for r in rules] == list(range(len(rules)))
            assert len(rules) <= LIMIT
            keys = [rule_key(r) for r in rules]
            assert len(keys) == len(set(keys)), f"duplicate rule after {action}"
            for r in rules:
                assert r["Protocol"] == r["Protocol"].lower() and r["Action"] in ("ACCEPT", "DROP")
