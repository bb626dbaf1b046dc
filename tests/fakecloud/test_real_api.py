"""The fake against the real Tencent API (issue 13): each test names the evidence it follows.

Evidence abbreviations: [api.json]/[examples.json] = tccli's services/<svc>/<version>/ files;
[provider] = terraform-provider-tencentcloud; [go-sdk] = tencentcloud-sdk-go client.go error lists.
"""

from __future__ import annotations

from sgplan.fakecloud.engine import Engine
from sgplan.fakecloud.tags import resource_name
from tests.fakecloud.test_engine import add, code, create, make, policies, rule


def test_a_rule_without_protocol_is_read_back_as_all_all() -> None:
    # [provider] sends rules without Protocol and the real API stores them as protocol ALL.
    engine = make()
    gid = create(engine)
    add(engine, gid, {"CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"})
    (stored,) = policies(engine, gid)["Ingress"]
    assert (stored["Protocol"], stored["Port"]) == ("all", "ALL")
    # …and deletes it by content without Protocol/Port.
    engine.handle("vpc", "DeleteSecurityGroupPolicies", {"SecurityGroupId": gid, "SecurityGroupPolicySet": {
        "Ingress": [{"CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}]}})
    assert policies(engine, gid)["Ingress"] == []


def test_portless_protocols_answer_port_all() -> None:
    # [provider] acceptance tests read ICMP/GRE/ALL rules back with port "ALL".
    engine = make()
    gid = create(engine)
    add(engine, gid, {"Protocol": "ICMP", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"},
        {"Protocol": "GRE", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"})
    assert [p["Port"] for p in policies(engine, gid)["Ingress"]] == ["ALL", "ALL"]


def test_description_only_duplicates_are_distinct_and_delete_by_content_honours_the_description() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("22", PolicyDescription="a"), rule("22", PolicyDescription="b"))
    assert code(lambda: add(engine, gid, rule("22", PolicyDescription="a"))) == "UnsupportedOperation.DuplicatePolicy"
    engine.handle("vpc", "DeleteSecurityGroupPolicies", {"SecurityGroupId": gid, "SecurityGroupPolicySet": {
        "Ingress": [rule("22", PolicyDescription="b")]}})
    assert [p["PolicyDescription"] for p in policies(engine, gid)["Ingress"]] == ["a"]


def test_tag_service_edits_a_groups_tags() -> None:
    # [api.json] tag 2018-08-13 ModifyResourceTags / DescribeResourceTagsByResourceIds; resource
    # name from [provider] BuildTagResourceName("cvm", "sg", region, id).
    engine = make({"Region": "ap-guangzhou"})
    gid = create(engine, tags={"team": "a", "sgplan-stack": "s"})
    name = resource_name("ap-guangzhou", gid)
    engine.handle("tag", "ModifyResourceTags", {"Resource": name, "ReplaceTags": [
        {"TagKey": "team", "TagValue": "b"}, {"TagKey": "env", "TagValue": "prod"}], "DeleteTags": []})
    engine.handle("tag", "ModifyResourceTags", {"Resource": name, "DeleteTags": [{"TagKey": "env"}]})
    answer = engine.handle("tag", "DescribeResourceTagsByResourceIds", {
        "ServiceType": "cvm", "ResourcePrefix": "sg", "ResourceRegion": "ap-guangzhou", "ResourceIds": [gid]})
    assert {(t["TagKey"], t["TagValue"]) for t in answer["Tags"]} == {("team", "b"), ("sgplan-stack", "s")}
    group = engine.handle("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": [gid]})["SecurityGroupSet"][0]
    assert group["TagSet"] == [{"Key": "team", "Value": "b"}, {"Key": "sgplan-stack", "Value": "s"}]
    assert code(lambda: engine.handle("tag", "ModifyResourceTags", {
        "Resource": f"qcs::cvm:ap-guangzhou:uin/:instance/{gid}", "DeleteTags": [{"TagKey": "team"}]})
    ) == "InvalidParameterValue.ResourceDescriptionError"


def test_association_statistics_count_non_cvm_users_and_delete_refuses() -> None:
    engine = make({"Region": "ap-guangzhou", "SecurityGroups": [{"SecurityGroupId": "sg-aaaa1111"}],
                   "OtherAssociations": [{"ResourceType": "CLB", "ResourceId": "lb-1", "SecurityGroupIds": ["sg-aaaa1111"]}]})
    (stats,) = engine.handle("vpc", "DescribeSecurityGroupAssociationStatistics",
                             {"SecurityGroupIds": ["sg-aaaa1111"]})["SecurityGroupAssociationStatisticsSet"]
    assert (stats["CLB"], stats["TotalCount"], stats["InstanceStatistics"]) == (
        1, 1, [{"InstanceType": "CLB", "InstanceCount": 1}])
    assert code(lambda: engine.handle("vpc", "DeleteSecurityGroup", {"SecurityGroupId": "sg-aaaa1111"})) == "ResourceInUse"
    assert engine.state["OtherAssociations"][0]["ResourceId"] == "lb-1"


def test_describe_instances_answers_the_documented_fields_and_filters() -> None:
    engine = Engine({"Instances": [
        {"InstanceId": "ins-aaaa1111", "Placement": {"Zone": "ap-guangzhou-6", "ProjectId": 0},
         "VirtualPrivateCloud": {"VpcId": "vpc-1", "SubnetId": "subnet-1", "AsVpcGateway": False},
         "PrivateIpAddresses": ["10.1.0.5"]},
        {"InstanceId": "ins-bbbb2222"}]})

    def ids(name: str, value: str) -> list[str]:
        answer = engine.handle("cvm", "DescribeInstances", {"Filters": [{"Name": name, "Values": [value]}]})
        return [i["InstanceId"] for i in answer["InstanceSet"]]

    assert ids("zone", "ap-guangzhou-6") == ["ins-aaaa1111"]
    assert ids("vpc-id", "vpc-1") == ids("subnet-id", "subnet-1") == ids("private-ip-address", "10.1.0.5") == [
        "ins-aaaa1111"]
    first = engine.handle("cvm", "DescribeInstances", {})["InstanceSet"][1]
    for name in ("Placement", "VirtualPrivateCloud", "PrivateIpAddresses", "SystemDisk", "Uuid", "LoginSettings"):
        assert name in first


def test_latest_operation_request_id_is_the_calls_request_id() -> None:
    engine = Engine({"SecurityGroups": [{"SecurityGroupId": "sg-aaaa1111"}],
                     "Instances": [{"InstanceId": "ins-aaaa1111"}]})
    engine.request_id = "9b3f0c1e-0000-4000-8000-000000000001"
    engine.handle("cvm", "ModifyInstancesAttribute", {"InstanceIds": ["ins-aaaa1111"], "SecurityGroups": ["sg-aaaa1111"]})
    (instance,) = engine.handle("cvm", "DescribeInstances", {})["InstanceSet"]
    assert instance["LatestOperationRequestId"] == "9b3f0c1e-0000-4000-8000-000000000001"


def test_limits_answer_all_eight_documented_fields() -> None:
    limits = make().handle("vpc", "DescribeSecurityGroupLimits", {})["SecurityGroupLimitSet"]
    assert len(limits) == 8 and all(isinstance(v, int) for v in limits.values())


def test_modify_policies_keeps_an_omitted_direction_and_sort_policys_only_reorders() -> None:
    # reference §2.6 (issue 13 item 7): SortPolicys True resets the rules "in exactly the order given".
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("22"), rule("80"))
    add(engine, gid, rule("53"), direction="Egress")
    engine.handle("vpc", "ModifySecurityGroupPolicies", {"SecurityGroupId": gid, "SortPolicys": True,
                                                         "SecurityGroupPolicySet": {"Ingress": [rule("80"), rule("22")]}})
    after = policies(engine, gid)
    assert [p["Port"] for p in after["Ingress"]] == ["80", "22"] and [p["Port"] for p in after["Egress"]] == ["53"]
    assert code(lambda: engine.handle("vpc", "ModifySecurityGroupPolicies", {
        "SecurityGroupId": gid, "SortPolicys": True, "SecurityGroupPolicySet": {"Ingress": [rule("443")]}})
    ) == "InvalidParameterValue"
    engine.handle("vpc", "ModifySecurityGroupPolicies", {"SecurityGroupId": gid,
                                                         "SecurityGroupPolicySet": {"Egress": []}})
    assert policies(engine, gid)["Egress"] == [] and len(policies(engine, gid)["Ingress"]) == 2


def test_my_public_ip_is_the_callers_address_with_a_description() -> None:
    engine = make()
    gid = create(engine)
    add(engine, gid, rule("22", cidr="MY_PUBLIC_IP"))
    (stored,) = policies(engine, gid)["Ingress"]
    assert stored["CidrBlock"] == "203.0.113.1" and stored["PolicyDescription"] == "Replaced-From-MY_PUBLIC_IP"


def test_the_sdks_v1_signature_is_accepted_as_form_post_and_get(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 item 9: the unmodified SDK with signMethod HmacSHA256/HmacSHA1 (form-encoded)."""
    import pytest as _pytest
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.vpc.v20170312 import models, vpc_client

    from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, start_server

    def client(handle, method: str, sign: str, key: str = DEFAULT_SECRET_KEY):  # type: ignore[no-untyped-def]
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=f"127.0.0.1:{handle.port}", protocol="http",
                                                        reqMethod=method), signMethod=sign)
        return vpc_client.VpcClient(credential.Credential(DEFAULT_SECRET_ID, key), "ap-guangzhou", profile)

    with start_server(None, state={"Region": "ap-guangzhou", "SecurityGroups": [
            {"SecurityGroupId": "sg-aaaa1111", "SecurityGroupName": "web"}]}) as handle:
        for method, sign in (("POST", "HmacSHA256"), ("GET", "HmacSHA1")):
            req = models.DescribeSecurityGroupsRequest()
            req.SecurityGroupIds = ["sg-aaaa1111"]
            assert client(handle, method, sign).DescribeSecurityGroups(req).TotalCount == 1
        req = models.CreateSecurityGroupRequest()
        req.GroupName, req.GroupDescription = "v1", "made with a v1 signature"
        assert client(handle, "POST", "HmacSHA256").CreateSecurityGroup(req).SecurityGroup.SecurityGroupName == "v1"
        with _pytest.raises(TencentCloudSDKException) as info:
            client(handle, "POST", "HmacSHA256", key="wrong").DescribeSecurityGroups(models.DescribeSecurityGroupsRequest())
        assert info.value.code == "AuthFailure.SignatureFailure"


def test_the_rule_quota_may_count_per_group() -> None:
    # vpc api.json SecurityGroupLimitSet.SecurityGroupPolicyLimit: "安全组下的最大规则数" (per group);
    # the default stays per direction (reference, sgplan's validation): configurable.
    per_group = Engine({"Limits": {"SecurityGroupPolicyLimit": 2}}, policy_limit_per="group")
    gid = create(per_group)
    add(per_group, gid, rule("1"), rule("2"))
    assert code(lambda: add(per_group, gid, rule("3"), direction="Egress")) == "LimitExceeded.SecurityGroupPolicySet"
    per_direction = make({"Limits": {"SecurityGroupPolicyLimit": 2}})
    gid = create(per_direction)
    add(per_direction, gid, rule("1"), rule("2"))
    add(per_direction, gid, rule("3"), direction="Egress")
