"""Engine answers never alias its state, also where the defensive copy is skipped for speed."""

from __future__ import annotations

from sgplan.fakecloud.engine import Engine


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
