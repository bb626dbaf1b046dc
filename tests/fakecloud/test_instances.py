"""CVM side of the engine: DescribeInstances, Associate/Disassociate, ModifyInstancesAttribute (§3)."""

from __future__ import annotations

import pytest

from sgplan.cloud.base import CloudError
from sgplan.fakecloud.engine import Engine


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


GROUPS = [{"SecurityGroupId": f"sg-{n}0000000"} for n in range(7)]


def make(n_instances: int = 3, **kw: object) -> Engine:
    instances = [
        {"InstanceId": f"ins-{i:04d}", "InstanceName": f"vm{i}", "Tags": [{"Key": "env", "Value": "prod" if i % 2 else "dev"}]}
        for i in range(n_instances)
    ]
    instances[0]["SecurityGroupIds"] = ["sg-00000000"]
    return Engine({"SecurityGroups": GROUPS, "Instances": instances}, **kw)  # type: ignore[arg-type]


def groups_of(engine: Engine, instance_id: str) -> list[str]:
    body = engine.handle("cvm", "DescribeInstances", {"InstanceIds": [instance_id]})
    return body["InstanceSet"][0]["SecurityGroupIds"]


def code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CloudError) as info:
        call()
    return info.value.code


def test_describe_instances_paging_and_filters() -> None:
    engine = make(150)
    first = engine.handle("cvm", "DescribeInstances", {"Limit": 100})
    second = engine.handle("cvm", "DescribeInstances", {"Offset": 100, "Limit": 100})
    assert first["TotalCount"] == 150 and len(first["InstanceSet"]) == 100 and len(second["InstanceSet"]) == 50
    assert len(engine.handle("cvm", "DescribeInstances", {})["InstanceSet"]) == 20
    item = first["InstanceSet"][0]
    assert item["LatestOperationState"] == "SUCCESS" and item["InstanceName"] == "vm0"
    by_group = engine.handle("cvm", "DescribeInstances", {"Filters": [{"Name": "security-group-id", "Values": ["sg-00000000"]}]})
    assert [i["InstanceId"] for i in by_group["InstanceSet"]] == ["ins-0000"]
    by_tag = engine.handle("cvm", "DescribeInstances", {"Filters": [{"Name": "tag:env", "Values": ["prod"]}], "Limit": 100})
    assert by_tag["TotalCount"] == 75
    assert code(lambda: engine.handle("cvm", "DescribeInstances", {"Limit": "100"})) == "InvalidParameterValue"
    # cvm's documented list (tencentcloud-sdk-go) has LimitExceeded, not Range (issue 13).
    assert code(lambda: engine.handle("cvm", "DescribeInstances", {"Limit": 101})) == "InvalidParameterValue.LimitExceeded"
    bad_filter = {"Filters": [{"Name": "colour", "Values": ["x"]}]}
    assert code(lambda: engine.handle("cvm", "DescribeInstances", bad_filter)) == "InvalidFilter"
    both = {"InstanceIds": ["ins-0000"], "Filters": [{"Name": "instance-id", "Values": ["ins-0000"]}]}
    assert code(lambda: engine.handle("cvm", "DescribeInstances", both)) == "InvalidParameter"  # cvm lists no Coexist code


def test_associate_appends_last_and_limits() -> None:
    engine = make()
    engine.handle("cvm", "AssociateSecurityGroups", {"SecurityGroupIds": ["sg-10000000"], "InstanceIds": ["ins-0000", "ins-0001"]})
    assert groups_of(engine, "ins-0000") == ["sg-00000000", "sg-10000000"]
    assert groups_of(engine, "ins-0001") == ["sg-10000000"]
    two = {"SecurityGroupIds": ["sg-20000000", "sg-30000000"], "InstanceIds": ["ins-0000"]}
    assert code(lambda: engine.handle("cvm", "AssociateSecurityGroups", two)) == "InvalidParameterValue.LimitExceeded"
    for n in (2, 3, 4):
        engine.handle("cvm", "AssociateSecurityGroups", {"SecurityGroupIds": [f"sg-{n}0000000"], "InstanceIds": ["ins-0000"]})
    sixth = {"SecurityGroupIds": ["sg-50000000"], "InstanceIds": ["ins-0001", "ins-0000"]}
    assert code(lambda: engine.handle("cvm", "AssociateSecurityGroups", sixth)) == "LimitExceeded.AssociateUSGLimitExceeded"
    assert groups_of(engine, "ins-0001") == ["sg-10000000"]  # atomic: ins-0001 untouched
    unknown = {"SecurityGroupIds": ["sg-nothere0"], "InstanceIds": ["ins-0001"]}
    assert code(lambda: engine.handle("cvm", "AssociateSecurityGroups", unknown)) == "InvalidSecurityGroupId.NotFound"
    no_instance = {"SecurityGroupIds": ["sg-10000000"], "InstanceIds": ["ins-9999"]}
    assert code(lambda: engine.handle("cvm", "AssociateSecurityGroups", no_instance)) == "InvalidInstanceId.NotFound"
    too_many = {"SecurityGroupIds": ["sg-10000000"], "InstanceIds": [f"ins-{i:04d}" for i in range(101)]}
    assert code(lambda: engine.handle("cvm", "AssociateSecurityGroups", too_many)) == "InvalidParameterValue.LimitExceeded"


def test_disassociate() -> None:
    engine = make()
    engine.handle("cvm", "DisassociateSecurityGroups", {"SecurityGroupIds": ["sg-00000000"], "InstanceIds": ["ins-0000"]})
    assert groups_of(engine, "ins-0000") == []


def test_modify_instances_attribute_sets_ordered_list() -> None:
    engine = make()
    order = ["sg-30000000", "sg-00000000", "sg-10000000"]
    engine.handle("cvm", "ModifyInstancesAttribute", {"InstanceIds": ["ins-0000", "ins-0002"], "SecurityGroups": order})
    assert groups_of(engine, "ins-0000") == order == groups_of(engine, "ins-0002")
    six = {"InstanceIds": ["ins-0000"], "SecurityGroups": [g["SecurityGroupId"] for g in GROUPS[:6]]}
    assert code(lambda: engine.handle("cvm", "ModifyInstancesAttribute", six)) == "LimitExceeded.AssociateUSGLimitExceeded"
    two_attrs = {"InstanceIds": ["ins-0000"], "SecurityGroups": order, "InstanceName": "x"}
    assert code(lambda: engine.handle("cvm", "ModifyInstancesAttribute", two_attrs)) == "InvalidParameter"
    unknown = {"InstanceIds": ["ins-0000"], "SecurityGroups": ["sg-nothere0"]}
    assert code(lambda: engine.handle("cvm", "ModifyInstancesAttribute", unknown)) == "InvalidSecurityGroupId.NotFound"
    engine.handle("cvm", "ModifyInstancesAttribute", {"InstanceIds": ["ins-0001"], "InstanceName": "renamed"})
    assert engine.state["Instances"][1]["InstanceName"] == "renamed"
    assert engine.state["Instances"][0]["SecurityGroupIds"] == order


def test_group_capacity() -> None:
    engine = make(3, )
    limited = Engine({**engine.state, "Limits": {"SecurityGroupInstanceLimit": 2}})
    call = {"SecurityGroupIds": ["sg-00000000"], "InstanceIds": ["ins-0001", "ins-0002"]}
    assert code(lambda: limited.handle("cvm", "AssociateSecurityGroups", call)) == "LimitExceeded.CvmsVifsPerSecGroupLimitExceeded"


def test_asynchronous_binding() -> None:
    clock = Clock()
    engine = make(clock=clock, bind_delay=2.0)
    engine.handle("cvm", "ModifyInstancesAttribute", {"InstanceIds": ["ins-0000"], "SecurityGroups": ["sg-10000000"]})
    item = engine.handle("cvm", "DescribeInstances", {"InstanceIds": ["ins-0000"]})["InstanceSet"][0]
    assert item["LatestOperationState"] == "OPERATING" and item["LatestOperation"] == "ModifyInstancesAttribute"
    assert item["SecurityGroupIds"] == ["sg-00000000"]  # not yet applied
    again = {"SecurityGroupIds": ["sg-20000000"], "InstanceIds": ["ins-0000"]}
    assert code(lambda: engine.handle("cvm", "AssociateSecurityGroups", again)) == "OperationDenied.InstanceOperationInProgress"
    # The group being bound counts as in use, and the state file records the finished list.
    delete = {"SecurityGroupId": "sg-10000000"}
    assert code(lambda: engine.handle("vpc", "DeleteSecurityGroup", delete)) == "ResourceInUse"
    assert engine.state["Instances"][0]["SecurityGroupIds"] == ["sg-10000000"]
    clock.now += 2.0
    item = engine.handle("cvm", "DescribeInstances", {"InstanceIds": ["ins-0000"]})["InstanceSet"][0]
    assert item["LatestOperationState"] == "SUCCESS" and item["SecurityGroupIds"] == ["sg-10000000"]
    engine.handle("cvm", "AssociateSecurityGroups", again)
