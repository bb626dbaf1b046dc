"""Engine semantics, action by action (reference/tencentcloud-sg-api.md §2–§4)."""

from __future__ import annotations

import json
import re

import pytest

from sgplan.cloud.base import CloudError
from sgplan.fakecloud.engine import Engine


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rule(port: str = "22", cidr: str = "10.0.0.0/8", action: str = "ACCEPT", **extra: object) -> dict:
    return {"Protocol": "TCP", "Port": port, "CidrBlock": cidr, "Action": action, **extra}


def make(state: dict | None = None, **kw: object) -> Engine:
    return Engine(state or {}, rng_seed=7, **kw)  # type: ignore[arg-type]


def create(engine: Engine, name: str = "g", tags: dict | None = None, **extra: object) -> str:
    params = {"GroupName": name, "GroupDescription": "d", **extra}
    if tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return engine.handle("vpc", "CreateSecurityGroup", params)["SecurityGroup"]["SecurityGroupId"]


def policies(engine: Engine, group_id: str) -> dict:
    return engine.handle("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})["SecurityGroupPolicySet"]


def ports(engine: Engine, group_id: str, direction: str = "Ingress") -> list[str]:
    return [p["Port"] for p in policies(engine, group_id)[direction]]


def add(engine: Engine, group_id: str, *rules: dict, direction: str = "Ingress", **policy_set: object) -> None:
    engine.handle(
        "vpc",
        "CreateSecurityGroupPolicies",
        {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {direction: list(rules), **policy_set}},
    )


def code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CloudError) as info:
        call()
    return info.value.code


# -- groups ------------------------------------------------------------------------------------


def test_create_group_ids_times_tags_and_determinism() -> None:
    clock = Clock()
    engine = Engine({}, clock=clock, rng_seed=3)
    body = engine.handle(
        "vpc", "CreateSecurityGroup",
        {"GroupName": "web", "GroupDescription": "tier", "Tags": [{"Key": "team", "Value": "a"}]},
    )
    group = body["SecurityGroup"]
    assert re.fullmatch(r"sg-[a-z0-9]{8}", group["SecurityGroupId"])
    assert group["CreatedTime"] == "2023-11-14 22:13:20" == group["UpdateTime"]
    assert group["TagSet"] == [{"Key": "team", "Value": "a"}]
    assert group["ProjectId"] == "0" and group["IsDefault"] is False
    assert policies(engine, group["SecurityGroupId"])["Version"] == "0"
    again = Engine({}, clock=clock, rng_seed=3).handle("vpc", "CreateSecurityGroup", {"GroupName": "x", "GroupDescription": ""})
    assert again["SecurityGroup"]["SecurityGroupId"] == group["SecurityGroupId"]
    assert engine.changed


def test_create_group_validation() -> None:
    engine = make()
    assert code(lambda: engine.handle("vpc", "CreateSecurityGroup", {"GroupDescription": ""})) == "MissingParameter"
    assert code(lambda: create(engine, "x" * 61)) == "InvalidParameterValue.TooLong"
    long_desc = {"GroupName": "a", "GroupDescription": "d" * 101}
    assert code(lambda: engine.handle("vpc", "CreateSecurityGroup", long_desc)) == "InvalidParameterValue.TooLong"
    dup = {"GroupName": "a", "GroupDescription": "", "Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}
    assert code(lambda: engine.handle("vpc", "CreateSecurityGroup", dup)) == "InvalidParameterValue.TagDuplicateKey"
    assert not engine.changed and engine.state["SecurityGroups"] == []


def test_group_quota_per_project() -> None:
    engine = make({"Limits": {"SecurityGroupLimit": 2}})
    create(engine)
    create(engine)
    assert code(lambda: create(engine)) == "LimitExceeded"
    create(engine, ProjectId="7")  # another project has its own quota


def test_create_with_policies_both_directions() -> None:
    engine = make()
    body = engine.handle(
        "vpc", "CreateSecurityGroupWithPolicies",
        {"GroupName": "a", "GroupDescription": "", "SecurityGroupPolicySet": {
            "Ingress": [rule("22"), rule("80")], "Egress": [{"Protocol": "ALL", "CidrBlock": "0.0.0.0/0", "Action": "accept"}]}},
    )
    got = policies(engine, body["SecurityGroup"]["SecurityGroupId"])
    assert [p["PolicyIndex"] for p in got["Ingress"]] == [0, 1]
    assert got["Egress"][0]["Protocol"] == "all" and got["Egress"][0]["Action"] == "ACCEPT"
    assert got["Version"] == "1"
    bad = {"GroupName": "b", "GroupDescription": "", "SecurityGroupPolicySet": {"Ingress": [rule(), rule()]}}
    assert code(lambda: engine.handle("vpc", "CreateSecurityGroupWithPolicies", bad)) == "UnsupportedOperation.DuplicatePolicy"
    assert len(engine.state["SecurityGroups"]) == 1


def test_describe_groups_pagination_numbers_and_strings() -> None:
    engine = make()
    ids = [create(engine, f"g{i}", tags={"sgplan-stack": "s" if i % 2 else "t"}) for i in range(45)]
    first = engine.handle("vpc", "DescribeSecurityGroups", {})
    assert first["TotalCount"] == 45 and len(first["SecurityGroupSet"]) == 20  # default Limit 20
    seen = []
    for offset in (0, "20", 40):
        body = engine.handle("vpc", "DescribeSecurityGroups", {"Offset": offset, "Limit": "20"})
        seen += [g["SecurityGroupId"] for g in body["SecurityGroupSet"]]
    assert seen == ids
    tagged = engine.handle(
        "vpc", "DescribeSecurityGroups",
        {"Filters": [{"Name": "tag:sgplan-stack", "Values": ["s"]}], "Limit": 100},
    )
    assert tagged["TotalCount"] == 22 and len(tagged["SecurityGroupSet"]) == 22
    assert code(lambda: engine.handle("vpc", "DescribeSecurityGroups", {"Limit": 101})) == "InvalidParameterValue.Range"
    assert code(lambda: engine.handle("vpc", "DescribeSecurityGroups", {"Limit": "x"})) == "InvalidParameterValue"


def test_describe_groups_ids_and_filters() -> None:
    engine = make()
    a = create(engine, "alpha", tags={"team": "x"})
    b = create(engine, "beta", ProjectId=5)
    by_ids = engine.handle("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": [b, "sg-missing0", a]})
    assert [g["SecurityGroupId"] for g in by_ids["SecurityGroupSet"]] == [b, a]
    coexist = {"SecurityGroupIds": [a], "Filters": [{"Name": "security-group-id", "Values": [a]}]}
    assert code(lambda: engine.handle("vpc", "DescribeSecurityGroups", coexist)) == "InvalidParameter.Coexist"
    too_many = {"SecurityGroupIds": [f"sg-{i:08d}" for i in range(101)]}
    assert code(lambda: engine.handle("vpc", "DescribeSecurityGroups", too_many)) == "InvalidParameterValue.LimitExceeded"

    def names(*flt: tuple[str, list[str]]) -> list[str]:
        body = engine.handle("vpc", "DescribeSecurityGroups", {"Filters": [{"Name": n, "Values": v} for n, v in flt]})
        return [g["SecurityGroupName"] for g in body["SecurityGroupSet"]]

    assert names(("security-group-name", ["beta"])) == ["beta"]
    assert names(("project-id", ["5"])) == ["beta"]
    assert names(("tag-key", ["team"])) == ["alpha"]
    assert names(("tag:team", ["x", "y"])) == ["alpha"]
    assert names(("tag:team", ["x"]), ("project-id", ["5"])) == []  # filters AND
    bad = {"Filters": [{"Name": "colour", "Values": ["x"]}]}
    assert code(lambda: engine.handle("vpc", "DescribeSecurityGroups", bad)) == "InvalidParameter.FilterInvalidKey"


def test_modify_attribute_keeps_version() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule())
    engine.handle("vpc", "ModifySecurityGroupAttribute", {"SecurityGroupId": gid, "GroupName": "new", "GroupDescription": "dd"})
    group = engine.handle("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": [gid]})["SecurityGroupSet"][0]
    assert (group["SecurityGroupName"], group["SecurityGroupDesc"]) == ("new", "dd")
    assert policies(engine, gid)["Version"] == "1"
    missing = {"SecurityGroupId": "sg-zzzzzzzz", "GroupName": "x"}
    assert code(lambda: engine.handle("vpc", "ModifySecurityGroupAttribute", missing)) == "ResourceNotFound"


def test_delete_group_rules() -> None:
    state = {"SecurityGroups": [{"SecurityGroupId": "sg-default1", "SecurityGroupName": "default", "IsDefault": True}],
             "Instances": [{"InstanceId": "ins-1"}]}
    engine = make(state)
    target, referrer = create(engine, "t"), create(engine, "r")
    add(engine, referrer, {"Protocol": "TCP", "Port": "22", "SecurityGroupId": target, "Action": "ACCEPT"})
    delete = lambda gid: engine.handle("vpc", "DeleteSecurityGroup", {"SecurityGroupId": gid})  # noqa: E731
    assert code(lambda: delete(target)) == "ResourceInUse"
    assert code(lambda: delete("sg-default1")) == "UnsupportedOperation"
    assert code(lambda: delete("sg-nothere")) == "InvalidSecurityGroupID.NotFound"
    assert code(lambda: delete("bogus")) == "InvalidSecurityGroupID.Malformed"
    refs = engine.handle("vpc", "DescribeSecurityGroupReferences", {"SecurityGroupIds": [target]})
    assert refs["ReferredSecurityGroupSet"] == [{"SecurityGroupId": target, "ReferredSecurityGroupIds": [referrer]}]
    delete(referrer)
    engine.handle("cvm", "AssociateSecurityGroups", {"SecurityGroupIds": [target], "InstanceIds": ["ins-1"]})
    stats = engine.handle("vpc", "DescribeSecurityGroupAssociationStatistics", {"SecurityGroupIds": [target]})
    assert stats["SecurityGroupAssociationStatisticsSet"][0]["CVM"] == 1
    assert code(lambda: delete(target)) == "ResourceInUse"
    engine.handle("cvm", "DisassociateSecurityGroups", {"SecurityGroupIds": [target], "InstanceIds": ["ins-1"]})
    delete(target)
    assert [g["SecurityGroupId"] for g in engine.state["SecurityGroups"]] == ["sg-default1"]


def test_self_reference_does_not_block_delete() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, {"Protocol": "ALL", "SecurityGroupId": gid, "Action": "ACCEPT"})
    engine.handle("vpc", "DeleteSecurityGroup", {"SecurityGroupId": gid})


def test_limits() -> None:
    body = make({"Limits": {"SecurityGroupPolicyLimit": 3}}).handle("vpc", "DescribeSecurityGroupLimits", {})
    assert body["SecurityGroupLimitSet"]["SecurityGroupPolicyLimit"] == 3
    assert body["SecurityGroupLimitSet"]["InstanceSecurityGroupLimit"] == 5


# -- rules -------------------------------------------------------------------------------------


def test_append_and_insert_at_index() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("1"), rule("2"))
    add(engine, gid, rule("3"))
    add(engine, gid, rule("10"), rule("11"), direction="Ingress")
    assert ports(engine, gid) == ["1", "2", "3", "10", "11"]
    add(engine, gid, rule("4", PolicyIndex=0), rule("5", PolicyIndex=0))
    assert ports(engine, gid) == ["4", "5", "1", "2", "3", "10", "11"]
    add(engine, gid, rule("7", PolicyIndex="3"))
    assert ports(engine, gid) == ["4", "5", "1", "7", "2", "3", "10", "11"]
    assert [p["PolicyIndex"] for p in policies(engine, gid)["Ingress"]] == list(range(8))
    assert policies(engine, gid)["Version"] == "5"
    mixed = lambda: add(engine, gid, rule("8", PolicyIndex=0), rule("9", PolicyIndex=1))  # noqa: E731
    assert code(mixed) == "InvalidParameterValue"
    assert code(lambda: add(engine, gid, rule("8", PolicyIndex=9))) == "InvalidParameterValue.Range"
    both = {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Ingress": [rule("8")], "Egress": [rule("9")]}}
    assert code(lambda: engine.handle("vpc", "CreateSecurityGroupPolicies", both)) == "InvalidParameter.Coexist"
    assert policies(engine, gid)["Version"] == "5"


def test_version_cas_and_duplicates() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("22"), Version="0")
    assert code(lambda: add(engine, gid, rule("80"), Version="0")) == "UnsupportedOperation.VersionMismatch"
    add(engine, gid, rule("80"), Version="1")
    assert code(lambda: add(engine, gid, rule("22"))) == "UnsupportedOperation.DuplicatePolicy"
    # Issue 13 item 2: a rule that differs only in PolicyDescription is a distinct rule to the
    # real API (terraform-provider-tencentcloud's acceptance test creates two such rules).
    add(engine, gid, rule("22", PolicyDescription="other"))
    add(engine, gid, rule("22", action="drop"))  # a different action is a different rule
    add(engine, gid, rule("22"), direction="Egress")  # duplicates are per direction
    assert policies(engine, gid)["Version"] == "5"


def test_rule_quota_per_direction() -> None:
    engine = make({"Limits": {"SecurityGroupPolicyLimit": 3}})
    gid = create(engine)
    add(engine, gid, rule("1"), rule("2"), rule("3"))
    add(engine, gid, rule("1"), rule("2"), rule("3"), direction="Egress")
    assert code(lambda: add(engine, gid, rule("4"))) == "LimitExceeded.SecurityGroupPolicySet"


def test_referenced_group_quota_and_existence() -> None:
    engine = make({"Limits": {"ReferedSecurityGroupLimit": 1}})
    gid, other = create(engine), create(engine)
    ref = {"Protocol": "TCP", "Port": "22", "SecurityGroupId": other, "Action": "ACCEPT"}
    add(engine, gid, ref)
    assert code(lambda: add(engine, gid, ref | {"Port": "23"})) == "LimitExceeded.SecurityGroupPolicySet"
    missing = ref | {"SecurityGroupId": "sg-nothere1"}
    assert code(lambda: add(engine, other, missing)) == "ResourceNotFound"


def test_delete_by_index_before_positions_any_order() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, *(rule(str(p)) for p in range(1, 7)))
    engine.handle(
        "vpc", "DeleteSecurityGroupPolicies",
        {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Version": "1", "Ingress": [
            {"PolicyIndex": "4"}, {"PolicyIndex": 0}, {"PolicyIndex": "2"}]}},
    )
    assert ports(engine, gid) == ["2", "4", "6"]
    assert policies(engine, gid)["Version"] == "2"
    for bad, expected in (
        ([{"PolicyIndex": 3}], "InvalidParameterValue.Range"),
        ([{"PolicyIndex": 1}, {"PolicyIndex": "1"}], "InvalidParameterValue"),
        ([{"PolicyIndex": 1}, rule("2")], "InvalidParameter.Coexist"),
    ):
        params = {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Ingress": bad}}
        assert code(lambda: engine.handle("vpc", "DeleteSecurityGroupPolicies", params)) == expected
    stale = {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Version": "1", "Ingress": [{"PolicyIndex": 0}]}}
    assert code(lambda: engine.handle("vpc", "DeleteSecurityGroupPolicies", stale)) == "UnsupportedOperation.VersionMismatch"
    assert ports(engine, gid) == ["2", "4", "6"]


def test_delete_by_content() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("22"), {"Protocol": "icmp", "CidrBlock": "1.1.1.1/32", "Action": "ACCEPT"}, rule("80"))
    # The official example: mixed case, Port "all" on ICMP (§2.8).
    content = {"Action": "Accept", "Protocol": "icmp", "CidrBlock": "1.1.1.1/32", "Port": "all"}
    engine.handle("vpc", "DeleteSecurityGroupPolicies", {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Ingress": [content]}})
    assert ports(engine, gid) == ["22", "80"]
    again = {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Ingress": [content]}}
    assert code(lambda: engine.handle("vpc", "DeleteSecurityGroupPolicies", again)) == "ResourceNotFound"


def test_replace_one_and_many() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("1"), rule("2"), rule("3"))
    engine.handle("vpc", "ReplaceSecurityGroupPolicy",
                  {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Version": "1", "Ingress": [rule("9", PolicyIndex=1)]}})
    assert ports(engine, gid) == ["1", "9", "3"]
    no_index = {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Ingress": [rule("8")]}}
    assert code(lambda: engine.handle("vpc", "ReplaceSecurityGroupPolicy", no_index)) == "MissingParameter"
    dup = {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Ingress": [rule("3", PolicyIndex=0)]}}
    assert code(lambda: engine.handle("vpc", "ReplaceSecurityGroupPolicy", dup)) == "UnsupportedOperation.DuplicatePolicy"
    # Replacing a rule by an equal one with another description is fine (it is itself).
    same = {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Ingress": [rule("3", PolicyIndex=2, PolicyDescription="x")]}}
    engine.handle("vpc", "ReplaceSecurityGroupPolicy", same)
    engine.handle("vpc", "ReplaceSecurityGroupPolicies", {"SecurityGroupId": gid, "SecurityGroupPolicySet": {
        "Ingress": [rule("5", PolicyIndex="0"), rule("6", PolicyIndex="2")]}})
    assert ports(engine, gid) == ["5", "9", "6"]
    assert policies(engine, gid)["Version"] == "4"


def test_replace_policies_priority_moves_rules() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("1"), rule("2"), rule("3"))
    engine.handle("vpc", "ReplaceSecurityGroupPolicies", {
        "SecurityGroupId": gid, "UpdateType": "Priority",
        "SecurityGroupPolicySet": {"Ingress": [rule("3", PolicyIndex=0)]},
        "OriginalSecurityGroupPolicySet": {"Ingress": [rule("3", PolicyIndex=2)]},
    })
    assert ports(engine, gid) == ["3", "1", "2"]
    wrong = {
        "SecurityGroupId": gid, "UpdateType": "Both",
        "SecurityGroupPolicySet": {"Ingress": [rule("7", PolicyIndex=0)]},
        "OriginalSecurityGroupPolicySet": {"Ingress": [rule("1", PolicyIndex=2)]},
    }
    assert code(lambda: engine.handle("vpc", "ReplaceSecurityGroupPolicies", wrong)) == "InvalidParameterValue"


def test_modify_policies_full_reset_and_version_zero() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("1"))
    engine.handle("vpc", "ModifySecurityGroupPolicies", {"SecurityGroupId": gid, "SecurityGroupPolicySet": {
        "Version": "17", "Ingress": [rule("2"), rule("3")], "Egress": [rule("4")]}})
    got = policies(engine, gid)
    assert [p["Port"] for p in got["Ingress"]] == ["2", "3"] and got["Version"] == "2"
    engine.handle("vpc", "ModifySecurityGroupPolicies",
                  {"SecurityGroupId": gid, "SecurityGroupPolicySet": {"Version": "0", "Ingress": [rule("9")]}})
    got = policies(engine, gid)
    assert got["Ingress"] == [] and got["Egress"] == [] and got["Version"] == "3"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Ipv6CidrBlock": "::/0", "Action": "ACCEPT"},
         "InvalidParameter.Coexist"),
        ({"Protocol": "TCP", "Port": "22", "ServiceTemplate": {"ServiceId": "ppm-1"}, "CidrBlock": "1.1.1.1",
          "Action": "ACCEPT"}, "InvalidParameter.Coexist"),
        ({"Protocol": "ICMP", "Port": "22", "CidrBlock": "1.1.1.1", "Action": "ACCEPT"}, "InvalidParameter.Coexist"),
        ({"Protocol": "ICMP", "Ipv6CidrBlock": "::/0", "Action": "ACCEPT"}, "InvalidParameter.Coexist"),
        ({"Protocol": "TCP", "Port": "22", "CidrBlock": "300.1.1.1", "Action": "ACCEPT"}, "InvalidParameterValue.Malformed"),
        ({"Protocol": "TCP", "Port": "22", "CidrBlock": "::/0", "Action": "ACCEPT"}, "InvalidParameterValue.Malformed"),
        ({"Protocol": "TCP", "Port": "70000", "CidrBlock": "1.1.1.1", "Action": "ACCEPT"}, "InvalidParameterValue.Malformed"),
        ({"Protocol": "TCP", "Port": "22", "CidrBlock": "1.1.1.1", "Action": "MAYBE"}, "InvalidParameterValue"),
        ({"Protocol": "SCTP", "CidrBlock": "1.1.1.1", "Action": "ACCEPT"}, "InvalidParameterValue"),
        ({"Protocol": "TCP", "Port": "22", "Action": "ACCEPT"}, "MissingParameter"),
        ({"Protocol": "TCP", "Port": "22", "CidrBlock": "1.1.1.1"}, "MissingParameter"),
        ({"Protocol": "TCP", "Port": "22", "CidrBlock": "1.1.1.1", "Action": "ACCEPT", "Colour": "x"}, "UnknownParameter"),
    ],
)
def test_rule_validation(policy: dict, expected: str) -> None:
    engine = make()
    gid = create(engine)
    assert code(lambda: add(engine, gid, policy)) == expected
    assert policies(engine, gid)["Version"] == "0"


def test_rule_output_shape_and_case() -> None:
    engine = make({"AddressTemplates": [{"AddressTemplateId": "ipm-12345678", "AddressSet": ["10.0.0.0/8"]}]})
    gid = create(engine)
    add(engine, gid,
        {"Protocol": "udp", "Port": "53", "AddressTemplate": {"AddressId": "ipm-12345678"}, "Action": "drop"},
        {"Protocol": "icmpv6", "Ipv6CidrBlock": "2001:db8::/32", "Action": "Accept", "Port": "all"})
    first, second = policies(engine, gid)["Ingress"]
    assert first["Protocol"] == "udp" and first["Action"] == "DROP"
    assert first["AddressTemplate"] == {"AddressId": "ipm-12345678", "AddressGroupId": ""}
    assert first["CidrBlock"] == "" and first["ServiceTemplate"] == {"ServiceId": "", "ServiceGroupId": ""}
    assert second["Protocol"] == "icmpv6" and second["Port"] == "ALL" and second["Ipv6CidrBlock"] == "2001:db8::/32"
    missing = {"Protocol": "udp", "Port": "53", "AddressTemplate": {"AddressGroupId": "ipmg-nothere"}, "Action": "drop"}
    assert code(lambda: add(engine, gid, missing)) == "ResourceNotFound"


def test_unknown_group_and_action() -> None:
    engine = make()
    assert code(lambda: engine.handle("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": "sg-zzzzzzzz"})) == "ResourceNotFound"
    assert code(lambda: engine.handle("vpc", "DescribeSecurityGroupPolicies", {})) == "MissingParameter"
    assert code(lambda: engine.handle("vpc", "TeleportSecurityGroup", {})) == "InvalidAction"
    assert code(lambda: engine.handle("cvm", "CreateSecurityGroup", {})) == "InvalidAction"
    assert not engine.changed


def test_policy_filters() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("22"), rule("80", action="DROP"))
    add(engine, gid, rule("443"), direction="Egress")
    body = engine.handle("vpc", "DescribeSecurityGroupPolicies", {
        "SecurityGroupId": gid, "Filters": [{"Name": "poly", "Values": ["DROP"]}]})["SecurityGroupPolicySet"]
    assert [(p["PolicyIndex"], p["Port"]) for p in body["Ingress"]] == [(1, "80")] and body["Egress"] == []
    body = engine.handle("vpc", "DescribeSecurityGroupPolicies", {
        "SecurityGroupId": gid, "Filters": [{"Name": "direction", "Values": ["OUTBOUND"]}]})["SecurityGroupPolicySet"]
    assert body["Ingress"] == [] and len(body["Egress"]) == 1


# -- state -------------------------------------------------------------------------------------


def test_state_defaults_and_detached_copy() -> None:
    engine = make({"Region": "ap-guangzhou", "SecurityGroups": [{"SecurityGroupId": "sg-aaaaaaaa", "SecurityGroupPolicySet": {
        "Version": "3", "Ingress": [{"Protocol": "TCP", "Port": "22", "CidrBlock": "0.0.0.0/16", "Action": "accept"}]}}]})
    state = engine.state
    group = state["SecurityGroups"][0]
    assert group["ProjectId"] == "0" and group["TagSet"] == [] and group["SecurityGroupDesc"] == ""
    assert group["SecurityGroupPolicySet"]["Ingress"][0]["CidrBlock"] == "0.0.0.0/0"
    assert group["SecurityGroupPolicySet"]["Ingress"][0]["PolicyIndex"] == 0
    assert state["AddressTemplates"] == [] and json.loads(json.dumps(state)) == state
    group["SecurityGroupName"] = "mutated"
    assert engine.state["SecurityGroups"][0]["SecurityGroupName"] == ""
    assert Engine(engine.state).state == engine.state  # a state round-trips through the engine


def test_bad_state_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="sg-aaaaaaaa"):
        Engine({"SecurityGroups": [{"SecurityGroupId": "sg-aaaaaaaa", "SecurityGroupPolicySet": {
            "Ingress": [{"Protocol": "TCP", "Port": "99999", "CidrBlock": "1.1.1.1", "Action": "ACCEPT"}]}}]})
    with pytest.raises(ValueError, match="twice"):
        Engine({"Instances": [{"InstanceId": "ins-1"}, {"InstanceId": "ins-1"}]})


def test_reference_index_follows_rule_changes() -> None:
    engine = make()
    target, referrer = create(engine, "t"), create(engine, "r")
    ref = {"Protocol": "TCP", "Port": "22", "SecurityGroupId": target, "Action": "ACCEPT"}
    delete = lambda: engine.handle("vpc", "DeleteSecurityGroup", {"SecurityGroupId": target})  # noqa: E731
    for change in (
        ("ReplaceSecurityGroupPolicy", {"Ingress": [rule("22", PolicyIndex=0)]}),
        ("DeleteSecurityGroupPolicies", {"Ingress": [{"PolicyIndex": 0}]}),
        ("ModifySecurityGroupPolicies", {"Version": "0"}),
    ):
        add(engine, referrer, ref)
        assert code(delete) == "ResourceInUse"
        engine.handle("vpc", change[0], {"SecurityGroupId": referrer, "SecurityGroupPolicySet": change[1]})
        if change[0] == "ReplaceSecurityGroupPolicy":
            engine.handle("vpc", "DeleteSecurityGroupPolicies",
                          {"SecurityGroupId": referrer, "SecurityGroupPolicySet": {"Ingress": [{"PolicyIndex": 0}]}})
    delete()
    # A group created with a reference blocks the delete of its target from the start.
    other = create(engine, "o")
    engine.handle("vpc", "CreateSecurityGroupWithPolicies", {"GroupName": "w", "GroupDescription": "",
                  "SecurityGroupPolicySet": {"Egress": [ref | {"SecurityGroupId": other}]}})
    assert code(lambda: engine.handle("vpc", "DeleteSecurityGroup", {"SecurityGroupId": other})) == "ResourceInUse"
    loaded = Engine(engine.state)
    assert code(lambda: loaded.handle("vpc", "DeleteSecurityGroup", {"SecurityGroupId": other})) == "ResourceInUse"
