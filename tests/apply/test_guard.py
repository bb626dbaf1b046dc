"""The executor guard (issue 11): hand-built operations that touch what the configuration does not
own are refused before any call is sent, whatever the plan says — and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgplan.apply import execute
from sgplan.apply.guard import OUT_OF_SCOPE, GuardedClient, Scope
from sgplan.cloud.base import CloudError
from sgplan.fakecloud.filecloud import FileCloud
from sgplan.plan.operation import Operation, Stage
from sgplan.plan.plan import Fingerprint, Plan

MINE = {"SecurityGroupId": "sg-mine0001", "SecurityGroupName": "mine",
        "TagSet": [{"Key": "sgplan-stack", "Value": "s"}, {"Key": "sgplan-address", "Value": "security_group.mine"}],
        "SecurityGroupPolicySet": {"Version": "1", "Ingress": [], "Egress": []}}
OTHER = {"SecurityGroupId": "sg-other001", "SecurityGroupName": "other",
         "TagSet": [{"Key": "sgplan-stack", "Value": "elsewhere"}],
         "SecurityGroupPolicySet": {"Version": "1", "Ingress": [
             {"Action": "ACCEPT", "Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "PolicyIndex": 0}], "Egress": []}}
PINNED = {"SecurityGroupId": "sg-pinned01", "SecurityGroupName": "pinned",
          "SecurityGroupPolicySet": {"Version": "1", "Ingress": [], "Egress": []}}
# Parameter templates (issue 17): one of this stack, one of another, one pinned.
TEMPLATES = {
    "AddressTemplates": [
        {"AddressTemplateId": "ipm-mine0001", "AddressTemplateName": "mine", "AddressSet": ["10.0.0.1"],
         "TagSet": [{"Key": "sgplan-stack", "Value": "s"}, {"Key": "sgplan-address", "Value": "address_template.mine"}]},
        {"AddressTemplateId": "ipm-other001", "AddressTemplateName": "other", "AddressSet": ["10.0.0.2"],
         "TagSet": [{"Key": "sgplan-stack", "Value": "elsewhere"}]},
        {"AddressTemplateId": "ipm-pinned01", "AddressTemplateName": "pinned", "AddressSet": ["10.0.0.3"]},
    ],
    "AddressTemplateGroups": [
        {"AddressTemplateGroupId": "ipmg-other001", "AddressTemplateGroupName": "other",
         "AddressTemplateIdSet": ["ipm-other001"]},
    ],
}
STATE = {"Region": "ap-guangzhou", "SecurityGroups": [MINE, OTHER, PINNED],
         "Instances": [{"InstanceId": "ins-named001", "SecurityGroupIds": ["sg-mine0001"]},
                       {"InstanceId": "ins-unnamed1", "SecurityGroupIds": ["sg-mine0001", "sg-other001"]}],
         **TEMPLATES}
SCOPE = Scope.of("s", ["sg-pinned01", "ipm-pinned01"], ["ins-named001"])
RULE = {"Action": "ACCEPT", "Protocol": "TCP", "Port": "22", "CidrBlock": "0.0.0.0/0"}


def _op(action: str, params: dict, service: str = "vpc", stage: Stage = Stage.EDIT_GROUPS, **extra) -> Operation:
    return Operation(stage=stage, service=service, action=action, params=params, summary=action, **extra)


REFUSED = {
    "rule insert into another stack's group": _op(
        "CreateSecurityGroupPolicies", {"SecurityGroupId": "sg-other001",
                                        "SecurityGroupPolicySet": {"Version": "1", "Ingress": [{**RULE, "PolicyIndex": 0}]}},
        group="sg-other001", expected_version=1),
    "delete another stack's group": _op("DeleteSecurityGroup", {"SecurityGroupId": "sg-other001"},
                                        stage=Stage.DELETE_GROUPS, group="sg-other001"),
    "rename an unmanaged group": _op("ModifySecurityGroupAttribute", {"SecurityGroupId": "sg-other001", "GroupName": "x"}),
    "delete a rule of a group that does not exist": _op(
        "DeleteSecurityGroupPolicies", {"SecurityGroupId": "sg-nothere1",
                                        "SecurityGroupPolicySet": {"Version": "1", "Ingress": [{"PolicyIndex": 0}]}}),
    "full reset of a managed group": _op(
        "ModifySecurityGroupPolicies", {"SecurityGroupId": "sg-mine0001",
                                        "SecurityGroupPolicySet": {"Version": "0", "Ingress": [RULE]}}),
    "bind an instance no binding names": _op(
        "ModifyInstancesAttribute", {"InstanceIds": ["ins-unnamed1"], "SecurityGroups": ["sg-mine0001"]},
        service="cvm", stage=Stage.SET_BINDINGS),
    "give an unnamed instance a new group": _op(
        "AssociateSecurityGroups", {"InstanceIds": ["ins-unnamed1"], "SecurityGroupIds": ["sg-pinned01"]},
        service="cvm", stage=Stage.SET_BINDINGS),
    "unbind another stack's group from an unnamed instance": _op(
        "DisassociateSecurityGroups", {"InstanceIds": ["ins-unnamed1"], "SecurityGroupIds": ["sg-other001"]},
        service="cvm", stage=Stage.UNBIND_DELETED),
    "create without the stack tag": _op(
        "CreateSecurityGroupWithPolicies", {"GroupName": "x", "GroupDescription": "", "ProjectId": "0",
                                            "SecurityGroupPolicySet": {"Ingress": [RULE], "Egress": []}},
        stage=Stage.CREATE_GROUPS, address="security_group.x"),
    "an action the executor does not know": _op("CreateSecurityGroup", {"GroupName": "x", "GroupDescription": ""}),
    # Template writes (issue 17): only templates tagged with the stack, pinned, or created by the run.
    "rename another stack's template": _op("ModifyAddressTemplateAttribute",
                                           {"AddressTemplateId": "ipm-other001", "AddressTemplateName": "x"}),
    "add a member to another stack's template": _op(
        "AddTemplateMember", {"TemplateId": "ipm-other001", "TemplateMember": [{"Member": "0.0.0.0/0"}]}),
    "swap a member of another stack's template": _op(
        "ModifyTemplateMember", {"TemplateId": "ipm-other001", "OriginalTemplateMember": [{"Member": "10.0.0.2"}],
                                 "TemplateMember": [{"Member": "0.0.0.0/0"}]}),
    "delete an unmanaged template group": _op("DeleteAddressTemplateGroup", {"AddressTemplateGroupId": "ipmg-other001"},
                                              stage=Stage.DELETE_TEMPLATES),
    "delete a template that does not exist": _op("DeleteServiceTemplate", {"ServiceTemplateId": "ppm-nothere1"},
                                                 stage=Stage.DELETE_TEMPLATES),
    "create a template without the stack tag": _op(
        "CreateAddressTemplate", {"AddressTemplateName": "x", "Addresses": ["10.0.0.0/8"]},
        stage=Stage.CREATE_TEMPLATES, address="address_template.x"),
    "create a template group holding a template that does not exist": _op(
        "CreateAddressTemplateGroup", {"AddressTemplateGroupName": "x", "AddressTemplateIds": ["ipm-nothere1"],
                                       "Tags": [{"Key": "sgplan-stack", "Value": "s"}]},
        stage=Stage.CREATE_TEMPLATES, address="address_template_group.x"),
    # Tag writes (issue 13): only owned or pinned groups, only this region, never an sgplan-* key.
    "tag another stack's group": _op(
        "ModifyResourceTags", {"Resource": "qcs::cvm:ap-guangzhou:uin/:sg/sg-other001",
                               "ReplaceTags": [{"TagKey": "team", "TagValue": "x"}]}, service="tag"),
    "rewrite the stack tag of a managed group": _op(
        "ModifyResourceTags", {"Resource": "qcs::cvm:ap-guangzhou:uin/:sg/sg-mine0001",
                               "ReplaceTags": [{"TagKey": "sgplan-stack", "TagValue": "elsewhere"}]}, service="tag"),
    "delete the address tag of a managed group": _op(
        "ModifyResourceTags", {"Resource": "qcs::cvm:ap-guangzhou:uin/:sg/sg-mine0001",
                               "DeleteTags": [{"TagKey": "sgplan-address"}]}, service="tag"),
    "tag a group of another region": _op(
        "ModifyResourceTags", {"Resource": "qcs::cvm:ap-shanghai:uin/:sg/sg-mine0001",
                               "ReplaceTags": [{"TagKey": "team", "TagValue": "x"}]}, service="tag"),
    "tag something that is not a security group": _op(
        "ModifyResourceTags", {"Resource": "qcs::cvm:ap-guangzhou:uin/:instance/ins-named001",
                               "ReplaceTags": [{"TagKey": "team", "TagValue": "x"}]}, service="tag"),
    "a tag write the executor does not know": _op(
        "TagResources", {"ResourceList": ["qcs::cvm:ap-guangzhou:uin/:sg/sg-mine0001"],
                         "Tags": [{"TagKey": "team", "TagValue": "x"}]}, service="tag"),
}


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(STATE))
    return path


def _plan(*ops: Operation) -> Plan:
    return Plan(region="ap-guangzhou", stack="s", cloud="file:x", config_hash="", fingerprint=Fingerprint(), operations=ops)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_out_of_scope_operations_are_refused_and_nothing_is_written(name: str, state_file: Path) -> None:
    before = state_file.read_bytes()
    client = FileCloud(state_file, "ap-guangzhou", for_apply=True)
    try:
        result = execute(_plan(REFUSED[name]), client, scope=SCOPE, sleep=lambda _s: None)
    finally:
        client.close()
    assert not result.ok
    assert any(OUT_OF_SCOPE in e or "refused by sgplan" in e for e in result.errors), result.errors
    assert state_file.read_bytes() == before


def test_in_scope_operations_pass(state_file: Path) -> None:
    ops = (
        _op("CreateSecurityGroupPolicies", {"SecurityGroupId": "sg-mine0001",
                                            "SecurityGroupPolicySet": {"Version": "1", "Ingress": [{**RULE, "PolicyIndex": 0}]}},
            group="sg-mine0001", expected_version=1, direction="ingress", expected_count=1),
        _op("ModifySecurityGroupAttribute", {"SecurityGroupId": "sg-pinned01", "GroupName": "renamed"}),
        _op("ModifyResourceTags", {"Resource": "qcs::cvm:ap-guangzhou:uin/:sg/sg-mine0001",
                                   "ReplaceTags": [{"TagKey": "team", "TagValue": "web"}]}, service="tag", group="sg-mine0001"),
        _op("ModifyResourceTags", {"Resource": "qcs::cvm:ap-guangzhou:uin/:sg/sg-pinned01",
                                   "ReplaceTags": [{"TagKey": "env", "TagValue": "prod"}]}, service="tag", group="sg-pinned01"),
        _op("ModifyInstancesAttribute", {"InstanceIds": ["ins-named001"], "SecurityGroups": ["sg-pinned01", "sg-mine0001"]},
            service="cvm", stage=Stage.SET_BINDINGS, instance_ids=("ins-named001",)),
        # Unbinding this stack's own group from an instance no binding names (it is being deleted).
        _op("ModifyInstancesAttribute", {"InstanceIds": ["ins-unnamed1"], "SecurityGroups": ["sg-other001"]},
            service="cvm", stage=Stage.UNBIND_DELETED, instance_ids=("ins-unnamed1",)),
        # Templates: the stack's own, a pinned one, and one created by this run (issue 17).
        _op("AddTemplateMember", {"TemplateId": "ipm-mine0001", "TemplateMember": [{"Member": "10.0.0.9"}]},
            group="ipm-mine0001"),
        _op("ModifyTemplateMember", {"TemplateId": "ipm-pinned01", "OriginalTemplateMember": [{"Member": "10.0.0.3"}],
                                     "TemplateMember": [{"Member": "10.0.0.4"}]}, group="ipm-pinned01"),
        _op("CreateServiceTemplate", {"ServiceTemplateName": "web", "Services": ["tcp:80"],
                                      "Tags": [{"Key": "sgplan-stack", "Value": "s"},
                                               {"Key": "sgplan-address", "Value": "service_template.web"}]},
            stage=Stage.CREATE_TEMPLATES, address="service_template.web", group="${service_template.web.id}"),
        _op("DeleteServiceTemplate", {"ServiceTemplateId": "${service_template.web.id}"},
            stage=Stage.DELETE_TEMPLATES, group="${service_template.web.id}"),
        _op("DeleteAddressTemplate", {"AddressTemplateId": "ipm-mine0001"}, stage=Stage.DELETE_TEMPLATES,
            group="ipm-mine0001"),
    )
    client = FileCloud(state_file, "ap-guangzhou", for_apply=True)
    try:
        result = execute(_plan(*ops), GuardedClient(client, SCOPE), sleep=lambda _s: None, poll_interval=0)
    finally:
        client.close()
    assert result.ok, result.errors
    data = json.loads(state_file.read_text())
    instances = {i["InstanceId"]: i["SecurityGroupIds"] for i in data["Instances"]}
    assert instances == {"ins-named001": ["sg-pinned01", "sg-mine0001"], "ins-unnamed1": ["sg-other001"]}
    tags = {g["SecurityGroupId"]: {t["Key"]: t["Value"] for t in g["TagSet"]} for g in data["SecurityGroups"]}
    assert tags["sg-mine0001"] == {"sgplan-stack": "s", "sgplan-address": "security_group.mine", "team": "web"}
    assert tags["sg-pinned01"] == {"env": "prod"}
    templates = {t["AddressTemplateId"]: t["AddressSet"] for t in data["AddressTemplates"]}
    assert templates == {"ipm-other001": ["10.0.0.2"], "ipm-pinned01": ["10.0.0.4"]}
    assert data["ServiceTemplates"] == []


def test_reads_pass_and_a_refusal_is_a_cloud_error(state_file: Path) -> None:
    client = FileCloud(state_file, "ap-guangzhou")
    guarded = GuardedClient(client, SCOPE)
    assert guarded.call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 3
    with pytest.raises(CloudError) as caught:
        guarded.call("vpc", "DeleteSecurityGroup", {"SecurityGroupId": "sg-other001"})
    assert caught.value.code == OUT_OF_SCOPE and "sg-other001" in caught.value.message
