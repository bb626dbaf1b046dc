"""Engine answers never alias its state, also where the defensive copy is skipped for speed."""

from __future__ import annotations

import pytest

from sgplan.cloud.base import CloudError
from sgplan.fakecloud.engine import Engine
from sgplan.fakecloud.tags import resource_name


def test_policy_answers_are_fresh_objects() -> None:
    engine = Engine({"SecurityGroups": [{"SecurityGroupId": "sg-00000001", "SecurityGroupPolicySet": {
        "Version": "1", "Ingress": [{"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT",
                                     "AddressTemplate": {}}]}}]})
    first = engine.handle("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": "sg-00000001"})
    first["SecurityGroupPolicySet"]["Ingress"][0]["Port"] = "23"
    first["SecurityGroupPolicySet"]["Ingress"][0]["AddressTemplate"]["AddressId"] = "ipm-x"
    first["SecurityGroupPolicySet"]["Ingress"].append({})
    again = engine.handle("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": "sg-00000001"})
    rules = again["SecurityGroupPolicySet"]["Ingress"]
    assert len(rules) == 1 and rules[0]["Port"] == "22" and not rules[0]["AddressTemplate"].get("AddressId")


def _listing(engine: Engine, offset: int = 0, **params: object) -> dict:
    return engine.handle("vpc", "DescribeSecurityGroups", {"Offset": str(offset), "Limit": "100", **params})


def test_group_answers_are_fresh_objects() -> None:
    engine = Engine({"SecurityGroups": [{"SecurityGroupId": "sg-00000001", "SecurityGroupName": "a",
                                         "TagSet": [{"Key": "k", "Value": "v"}]}]})
    for answer in (_listing(engine), engine.handle("vpc", "DescribeSecurityGroups",
                                                   {"SecurityGroupIds": ["sg-00000001"]})):
        group = answer["SecurityGroupSet"][0]
        group["TagSet"][0]["Value"] = "changed"
        group["TagSet"].append({"Key": "x", "Value": "y"})
        group["SecurityGroupName"] = "changed"
    group = _listing(engine)["SecurityGroupSet"][0]
    assert group["TagSet"] == [{"Key": "k", "Value": "v"}] and group["SecurityGroupName"] == "a"


def test_instance_answers_are_fresh_objects_their_own_fields_too() -> None:
    engine = Engine({"SecurityGroups": [{"SecurityGroupId": "sg-00000001"}], "Instances": [
        {"InstanceId": "ins-00000001", "SecurityGroupIds": ["sg-00000001"], "Tags": [{"Key": "k", "Value": "v"}],
         "Placement": {"Zone": "ap-guangzhou-6", "Extra": [{"deep": ["x"]}]}}]})

    def describe() -> dict:
        return engine.handle("cvm", "DescribeInstances", {})["InstanceSet"][0]

    first = describe()
    first["SecurityGroupIds"].append("sg-x")
    first["Tags"][0]["Value"] = "changed"
    first["Placement"]["Zone"] = "changed"
    first["Placement"]["Extra"][0]["deep"].append("y")
    first["SystemDisk"]["DiskSize"] = 1
    again = describe()
    assert again["SecurityGroupIds"] == ["sg-00000001"] and again["Tags"] == [{"Key": "k", "Value": "v"}]
    assert again["Placement"] == {"Zone": "ap-guangzhou-6", "Extra": [{"deep": ["x"]}]}
    assert again["SystemDisk"]["DiskSize"] == 50


def test_a_listing_read_page_by_page_sees_every_change_between_pages() -> None:
    # The engine keeps a listing's matches between pages; any change must drop them.
    groups = [{"SecurityGroupId": f"sg-{n:08d}", "SecurityGroupName": f"g{n}", "CreatedTime": f"2024-01-01 00:{n // 60:02d}:{n % 60:02d}",
               "TagSet": [{"Key": "stack", "Value": "a"}]} for n in range(150)]
    engine = Engine({"Region": "ap-guangzhou", "SecurityGroups": groups})
    stack_a = {"Filters": [{"Name": "tag:stack", "Values": ["a"]}]}
    assert _listing(engine, **stack_a)["TotalCount"] == 150
    engine.handle("tag", "ModifyResourceTags", {
        "Resource": resource_name("ap-guangzhou", "sg-00000149"), "ReplaceTags": [{"TagKey": "stack", "TagValue": "b"}]})
    second = _listing(engine, 100, **stack_a)
    assert second["TotalCount"] == 149 and len(second["SecurityGroupSet"]) == 49
    created = engine.handle("vpc", "CreateSecurityGroup", {"GroupName": "new", "GroupDescription": "",
                                                           "Tags": [{"Key": "stack", "Value": "a"}]})
    new_id = created["SecurityGroup"]["SecurityGroupId"]
    assert _listing(engine, 100, **stack_a)["SecurityGroupSet"][-1]["SecurityGroupId"] == new_id
    engine.handle("vpc", "ModifySecurityGroupAttribute", {"SecurityGroupId": "sg-00000000", "GroupName": "renamed"})
    assert _listing(engine, **stack_a)["SecurityGroupSet"][0]["SecurityGroupName"] == "renamed"
    engine.handle("vpc", "DeleteSecurityGroup", {"SecurityGroupId": new_id})
    assert _listing(engine, **stack_a)["TotalCount"] == 149
    # Another query (order, direction, filter values, ids) is never answered from the last one.
    newest = _listing(engine, OrderField="CreatedTime", OrderDirection="DESC", **stack_a)["SecurityGroupSet"][0]
    assert newest["SecurityGroupId"] == "sg-00000148"
    oldest = _listing(engine, OrderField="CreatedTime", OrderDirection="ASC", **stack_a)["SecurityGroupSet"][0]
    assert oldest["SecurityGroupId"] == "sg-00000000"
    assert _listing(engine, Filters=[{"Name": "tag:stack", "Values": ["b"]}])["TotalCount"] == 1
    assert _listing(engine, SecurityGroupIds=["sg-00000003"])["SecurityGroupSet"][0]["SecurityGroupId"] == "sg-00000003"
    engine.restore({"Region": "ap-guangzhou", "SecurityGroups": groups[:10]})
    assert _listing(engine, **stack_a)["TotalCount"] == 10


def test_a_failed_change_leaves_the_listing_right() -> None:
    engine = Engine({"SecurityGroups": [{"SecurityGroupId": "sg-00000001", "SecurityGroupName": "a"}]})
    assert _listing(engine)["TotalCount"] == 1
    with pytest.raises(CloudError):
        engine.handle("vpc", "ModifySecurityGroupAttribute", {"SecurityGroupId": "sg-00000001", "GroupName": ""})
    assert [g["SecurityGroupName"] for g in _listing(engine)["SecurityGroupSet"]] == ["a"]
