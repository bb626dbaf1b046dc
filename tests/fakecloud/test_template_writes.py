"""The fake's parameter-template writes (issue 17): member-level edits, references, quotas."""

from __future__ import annotations

import pytest

from sgplan.cloud.base import CloudError
from sgplan.fakecloud.engine import Engine


def _engine() -> Engine:
    return Engine({"Region": "ap-guangzhou", "SecurityGroups": [], "Instances": []}, rng_seed=1)


def _members(engine: Engine, template_id: str) -> list[str]:
    return next(t["AddressSet"] for t in engine.state["AddressTemplates"] if t["AddressTemplateId"] == template_id)


def test_create_add_modify_delete_members() -> None:
    engine = _engine()
    created = engine.handle("vpc", "CreateAddressTemplate", {
        "AddressTemplateName": "office", "Addresses": ["203.0.113.0/24", "198.51.100.7", "10.0.0.1-10.0.0.9"],
        "Tags": [{"Key": "sgplan-stack", "Value": "s"}]})["AddressTemplate"]
    tid = created["AddressTemplateId"]
    assert tid.startswith("ipm-") and created["TagSet"] == [{"Key": "sgplan-stack", "Value": "s"}]
    engine.handle("vpc", "AddTemplateMember", {"TemplateId": tid, "TemplateMember": [{"Member": "192.0.2.0/24"}]})
    assert _members(engine, tid)[-1] == "192.0.2.0/24"
    engine.handle("vpc", "ModifyTemplateMember", {"TemplateId": tid, "OriginalTemplateMember": [{"Member": "198.51.100.7"}],
                                                  "TemplateMember": [{"Member": "198.51.100.8"}]})
    assert _members(engine, tid) == ["203.0.113.0/24", "198.51.100.8", "10.0.0.1-10.0.0.9", "192.0.2.0/24"]
    engine.handle("vpc", "DeleteTemplateMember", {"TemplateId": tid, "TemplateMember": [{"Member": "192.0.2.0/24"}]})
    assert len(_members(engine, tid)) == 3
    with pytest.raises(CloudError) as err:
        engine.handle("vpc", "AddTemplateMember", {"TemplateId": tid, "TemplateMember": [{"Member": "203.0.113.0/24"}]})
    assert err.value.code == "InvalidParameterValue"
    with pytest.raises(CloudError) as err:
        engine.handle("vpc", "DeleteTemplateMember", {"TemplateId": tid, "TemplateMember": [{"Member": "192.0.2.0/24"}]})
    assert err.value.code == "ResourceNotFound"
    with pytest.raises(CloudError) as err:
        engine.handle("vpc", "AddTemplateMember", {"TemplateId": tid, "TemplateMember": [{"Member": "not-an-ip"}]})
    assert err.value.code == "InvalidParameterValue"


def test_delete_refused_while_referenced() -> None:
    engine = _engine()
    tid = engine.handle("vpc", "CreateAddressTemplate", {"AddressTemplateName": "a", "Addresses": ["10.0.0.0/8"]}
                        )["AddressTemplate"]["AddressTemplateId"]
    gid = engine.handle("vpc", "CreateAddressTemplateGroup", {"AddressTemplateGroupName": "g", "AddressTemplateIds": [tid]}
                        )["AddressTemplateGroup"]["AddressTemplateGroupId"]
    assert gid.startswith("ipmg-")
    with pytest.raises(CloudError) as err:
        engine.handle("vpc", "DeleteAddressTemplate", {"AddressTemplateId": tid})
    assert err.value.code == "ResourceInUse" and gid in err.value.message
    sg = engine.handle("vpc", "CreateSecurityGroupWithPolicies", {
        "GroupName": "x", "GroupDescription": "", "SecurityGroupPolicySet": {"Ingress": [
            {"Protocol": "TCP", "Port": "22", "AddressTemplate": {"AddressGroupId": gid}, "Action": "ACCEPT"}]}}
    )["SecurityGroup"]["SecurityGroupId"]
    with pytest.raises(CloudError) as err:
        engine.handle("vpc", "DeleteAddressTemplateGroup", {"AddressTemplateGroupId": gid})
    assert err.value.code == "ResourceInUse" and sg in err.value.message


def test_service_syntax_and_quota() -> None:
    engine = Engine({"Region": "r", "SecurityGroups": [], "Instances": [], "Limits": {"ServiceTemplateMemberLimit": 2}})
    created = engine.handle("vpc", "CreateServiceTemplate", {"ServiceTemplateName": "web", "Services": ["TCP:80", "tcp:443"]})
    tid = created["ServiceTemplate"]["ServiceTemplateId"]
    assert created["ServiceTemplate"]["ServiceSet"] == ["tcp:80", "tcp:443"]
    with pytest.raises(CloudError) as err:
        engine.handle("vpc", "AddTemplateMember", {"TemplateId": tid, "TemplateMember": [{"Member": "udp:53"}]})
    assert err.value.code == "LimitExceeded"
    with pytest.raises(CloudError) as err:
        engine.handle("vpc", "CreateServiceTemplate", {"ServiceTemplateName": "bad", "Services": ["tcp:70000"]})
    assert err.value.code == "InvalidParameterValue"
    assert "TemplateLimit" not in engine.handle("vpc", "DescribeSecurityGroupLimits", {})["SecurityGroupLimitSet"]
