"""snapshot(): any cloud → state file → FileCloud reproduces the same live state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.cloud.reader import read_live
from sgplan.cloud.snapshot import empty_state, load_state, normalize_state, snapshot, write_state
from sgplan.fakecloud.engine import Engine
from sgplan.fakecloud.filecloud import FileCloud
from tests.cloud.test_reader import Recorder, estate


def _templates() -> dict:
    return {
        "AddressTemplates": [{"AddressTemplateId": f"ipm-{n}", "AddressSet": [f"10.{n}.0.0/16"]} for n in range(130)],
        "AddressTemplateGroups": [{"AddressTemplateGroupId": "ipmg-1", "AddressTemplateIdSet": ["ipm-1"]}],
        "ServiceTemplates": [{"ServiceTemplateId": "ppm-1", "ServiceSet": ["tcp:80"]}],
        "ServiceTemplateGroups": [{"ServiceTemplateGroupId": "ppmg-1", "ServiceTemplateIdSet": ["ppm-1"]}],
    }


def test_snapshot_round_trip_gives_the_same_cloud_state(tmp_path: Path) -> None:
    source = {**estate(120, 30, 150), **_templates()}
    original = Recorder(Engine(source))
    recorded = snapshot(original)
    assert len(recorded["SecurityGroups"]) == 150 and len(recorded["Instances"]) == 150
    assert len(recorded["AddressTemplates"]) == 130
    path = tmp_path / "snap.json"
    write_state(path, recorded)
    replay = FileCloud(path)
    pinned = ["sg-00000140"]
    for stack in ("prod", "other"):
        assert read_live(replay, stack=stack, pinned_ids=pinned, with_templates=True) == read_live(
            original, stack=stack, pinned_ids=pinned, with_templates=True)
    assert snapshot(replay) == recorded  # stable: a snapshot of a snapshot is itself
    text = path.read_text().lower()
    assert "secret" not in text and "latestoperation" not in text


def test_snapshot_keeps_versions_order_and_tags() -> None:
    engine = Engine({"SecurityGroups": [{"SecurityGroupId": "sg-aaaaaaaa", "TagSet": [{"Key": "k", "Value": "v"}],
                                         "SecurityGroupPolicySet": {"Version": "42", "Egress": [
                                             {"Protocol": "udp", "Port": "53", "CidrBlock": "8.8.8.8", "Action": "ACCEPT"},
                                             {"Protocol": "all", "CidrBlock": "0.0.0.0/0", "Action": "DROP"}]}}]})
    group = snapshot(Recorder(engine))["SecurityGroups"][0]
    assert group["TagSet"] == [{"Key": "k", "Value": "v"}]
    assert group["SecurityGroupPolicySet"]["Version"] == "42"
    assert [p["Port"] for p in group["SecurityGroupPolicySet"]["Egress"]] == ["53", "ALL"]


def test_load_missing_and_normalise() -> None:
    assert load_state(Path("/nonexistent/never.json")) == empty_state()
    state = normalize_state({"Instances": [{"InstanceId": "ins-1", "LatestOperationState": "OPERATING", "Zone": "z"}]})
    assert state["Instances"] == [{"InstanceId": "ins-1", "InstanceName": "", "SecurityGroupIds": [], "Tags": [], "Zone": "z"}]
    with pytest.raises(ValueError):
        normalize_state([])
    with pytest.raises(ValueError, match="Version"):
        normalize_state({"SecurityGroups": [{"SecurityGroupId": "sg-1", "SecurityGroupPolicySet": {"Version": "x"}}]})


rules = st.lists(
    st.fixed_dictionaries({
        "Protocol": st.sampled_from(["TCP", "UDP"]),
        "Port": st.sampled_from(["22", "80,443", "1000-2000"]),
        "CidrBlock": st.sampled_from(["10.0.0.0/8", "0.0.0.0/0", "172.16.0.0/12"]),
        "Action": st.sampled_from(["ACCEPT", "DROP"]),
        "PolicyDescription": st.text(max_size=5),
    }),
    max_size=4, unique_by=lambda r: (r["Protocol"], r["Port"], r["CidrBlock"], r["Action"]),
)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(rules, rules, st.booleans()), max_size=5))
def test_round_trip_property(groups: list) -> None:
    source = {"SecurityGroups": [
        {"SecurityGroupId": f"sg-{n:08d}", "TagSet": [{"Key": "sgplan-stack", "Value": "s"}] if tagged else [],
         "SecurityGroupPolicySet": {"Version": str(n), "Ingress": ingress, "Egress": egress}}
        for n, (ingress, egress, tagged) in enumerate(groups)]}
    original = Recorder(Engine(source))
    replay = Recorder(Engine(json.loads(json.dumps(snapshot(original)))))
    ids = [f"sg-{n:08d}" for n in range(len(groups))]
    assert read_live(replay, stack="s", pinned_ids=ids) == read_live(original, stack="s", pinned_ids=ids)


def test_identical_rules_share_one_stored_dict_and_odd_values_are_refused() -> None:
    # Loading memoises rule checks (issue 8): equal rules share a value. A value that is not
    # text (1, true) is refused rather than turned into "1"/"True" (issue 12 §10).
    rule = {"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "accept", "PolicyIndex": 0}
    groups = [
        {"SecurityGroupId": f"sg-{n}", "SecurityGroupPolicySet": {"Ingress": [dict(rule, PolicyIndex=0)]}}
        for n in range(3)
    ]
    state = normalize_state({"SecurityGroups": groups})
    stored = [g["SecurityGroupPolicySet"]["Ingress"] for g in state["SecurityGroups"]]
    assert stored[0][0] is stored[1][0] is stored[2][0]
    assert stored[0][0]["Protocol"] == "tcp" and stored[0][0]["Action"] == "ACCEPT"
    for odd in (1, True, ["x"]):
        groups.append({"SecurityGroupId": "sg-odd", "SecurityGroupPolicySet": {"Ingress": [
            dict(rule, PolicyDescription=odd)]}})
        with pytest.raises(ValueError, match=r"SecurityGroups\[3\]\.SecurityGroupPolicySet\.Ingress\[0\]"
                                             r"\.PolicyDescription: must be a string"):
            normalize_state({"SecurityGroups": groups})
        groups.pop()


def test_malformed_rule_names_its_group_and_position() -> None:
    with pytest.raises(ValueError, match=r"SecurityGroups\[0\]\.SecurityGroupPolicySet\.Ingress\[0\]: "
                                         r"must be an object.*\(group 'sg-1'\)"):
        normalize_state({"SecurityGroups": [{"SecurityGroupId": "sg-1", "SecurityGroupPolicySet": {"Ingress": ["x"]}}]})


def _reference_policy_key(policy: object) -> tuple | None:
    """The memo key spelt out field by field: PolicyIndex left out, text kept, a spec of texts as
    its pairs, anything else no key."""
    if type(policy) is not dict:
        return None
    parts = []
    for k, v in policy.items():
        if k == "PolicyIndex":
            continue
        if type(v) is dict and all(type(x) is str for x in v.values()):
            v = tuple(v.items())
        elif type(v) is not str:
            return None
        parts.append((k, v))
    return tuple(parts)


_values = st.one_of(st.text(max_size=3), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False),
                    st.dictionaries(st.sampled_from(["AddressId", "AddressGroupId"]),
                                    st.one_of(st.text(max_size=3), st.integers()), max_size=2))


@given(st.dictionaries(st.sampled_from(["PolicyIndex", "Protocol", "Port", "CidrBlock", "Action", "AddressTemplate",
                                        "PolicyDescription"]), _values))
def test_the_rule_memo_key_is_the_fields_but_policyindex_all_text(policy: dict) -> None:
    from sgplan.cloud.snapshot import _policy_key

    assert _policy_key(policy) == _reference_policy_key(policy)
    before = dict(policy)
    _policy_key(policy)
    assert policy == before  # the rule as given is not touched


def test_identical_rules_at_other_positions_share_one_stored_dict() -> None:
    rule = {"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "accept",
            "AddressTemplate": {"AddressId": "", "AddressGroupId": ""}}
    groups = [{"SecurityGroupId": "sg-1", "SecurityGroupPolicySet": {
        "Ingress": [dict(rule, PolicyIndex=n) for n in range(3)] + [dict(rule, PolicyIndex="1")]}}]
    stored = normalize_state({"SecurityGroups": groups})["SecurityGroups"][0]["SecurityGroupPolicySet"]["Ingress"]
    assert all(s is stored[0] for s in stored) and "PolicyIndex" not in stored[0]
