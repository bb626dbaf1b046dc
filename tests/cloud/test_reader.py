"""read_live: the stack's groups, pinned groups and every instance, in the formula's number of calls."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from sgplan.cloud.base import CloudError
from sgplan.cloud.reader import read_live
from sgplan.fakecloud.engine import Engine
from sgplan.model import Rule


class Recorder:
    """An ApiClient over an Engine that counts calls per action."""

    def __init__(self, engine: Engine, region: str = "ap-guangzhou") -> None:
        self.engine = engine
        self.region = region
        self.calls = 0
        self.retries = 0
        self.actions: Counter[str] = Counter()

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        self.actions[action] += 1
        return self.engine.handle(service, action, params)

    def close(self) -> None:
        pass


def tags(stack: str | None, address: str | None = None, **more: str) -> list[dict[str, str]]:
    out = [{"Key": k, "Value": v} for k, v in more.items()]
    if stack:
        out.append({"Key": "sgplan-stack", "Value": stack})
    if address:
        out.append({"Key": "sgplan-address", "Value": address})
    return out


def estate(groups_in_stack: int, others: int, instances: int) -> dict[str, Any]:
    groups = []
    for n in range(groups_in_stack + others):
        stack = "prod" if n < groups_in_stack else "other"
        groups.append({
            "SecurityGroupId": f"sg-{n:08d}", "SecurityGroupName": f"g{n}",
            "TagSet": tags(stack, f"security_group.g{n}"),
            "SecurityGroupPolicySet": {"Version": str(n % 7), "Ingress": [
                {"Protocol": "TCP", "Port": str(1 + n % 1000), "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}]},
        })
    return {"Region": "ap-guangzhou", "SecurityGroups": groups, "Instances": [
        {"InstanceId": f"ins-{i:06d}", "SecurityGroupIds": [f"sg-{i % max(1, groups_in_stack):08d}"]}
        for i in range(instances)]}


@pytest.mark.parametrize(("g", "others", "i"), [(0, 0, 0), (1, 3, 1), (100, 5, 100), (250, 40, 201)])
def test_call_count_matches_formula(g: int, others: int, i: int) -> None:
    client = Recorder(Engine(estate(g, others, i)))
    state = read_live(client, stack="prod")
    assert len(state.groups) == g and len(state.instances) == i
    assert client.actions["DescribeSecurityGroups"] == max(1, math.ceil(g / 100))
    assert client.actions["DescribeSecurityGroupPolicies"] == g
    assert client.actions["DescribeInstances"] == max(1, math.ceil(i / 100))
    assert client.calls == max(1, math.ceil(g / 100)) + g + max(1, math.ceil(i / 100))


def test_conversion_of_groups_and_instances() -> None:
    engine = Engine({
        "SecurityGroups": [
            {"SecurityGroupId": "sg-bbbbbbbb", "SecurityGroupName": "web", "SecurityGroupDesc": "d", "ProjectId": 3,
             "TagSet": tags("prod", "module.m.security_group.web", team="a", **{"sgplan-prevent-destroy": "TRUE"}),
             "SecurityGroupPolicySet": {"Version": "9", "Ingress": [
                 {"PolicyIndex": 0, "Protocol": "tcp", "Port": "443,80", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"},
                 {"PolicyIndex": 1, "Protocol": "all", "Port": "", "SecurityGroupId": "sg-bbbbbbbb", "Action": "drop",
                  "PolicyDescription": "x"}],
                 "Egress": [{"Protocol": "icmpv6", "Ipv6CidrBlock": "::/0", "Action": "ACCEPT"}]}},
            {"SecurityGroupId": "sg-aaaaaaaa", "SecurityGroupName": "untagged"},
        ],
        "Instances": [{"InstanceId": "ins-2", "InstanceName": "two", "SecurityGroupIds": ["sg-bbbbbbbb", "sg-aaaaaaaa"],
                       "Tags": [{"Key": "env", "Value": "p"}]}, {"InstanceId": "ins-1"}],
    })
    state = read_live(Recorder(engine), stack="prod")
    assert state.region == "ap-guangzhou"
    (group,) = state.groups
    assert (group.id, group.name, group.description, group.project_id) == ("sg-bbbbbbbb", "web", "d", "3")
    assert group.tags == (("team", "a"),)
    assert (group.stack, group.address, group.prevent_destroy, group.version) == (
        "prod", "module.m.security_group.web", True, "9")
    assert group.ingress == (
        Rule(action="ACCEPT", protocol="TCP", port="80,443", cidr_block="0.0.0.0/0"),
        Rule(action="DROP", protocol="ALL", security_group_id="sg-bbbbbbbb", description="x"),
    )
    assert group.egress == (Rule(action="ACCEPT", protocol="ICMPv6", ipv6_cidr_block="::/0"),)
    assert [i.instance_id for i in state.instances] == ["ins-1", "ins-2"]
    assert state.instance("ins-2").security_group_ids == ("sg-bbbbbbbb", "sg-aaaaaaaa")  # type: ignore[union-attr]
    assert state.instance("ins-2").tags == (("env", "p"),) and state.instance("ins-2").name == "two"  # type: ignore[union-attr]


def test_pinned_ids_chunked_skipping_known_and_missing() -> None:
    client = Recorder(Engine(estate(3, 150, 0)))
    pinned = ["sg-00000001", *(f"sg-{n:08d}" for n in range(3, 153)), "sg-nothere0"]
    state = read_live(client, stack="prod", pinned_ids=pinned)
    assert len(state.groups) == 153
    assert client.actions["DescribeSecurityGroups"] == 1 + 2  # 151 unknown-so-far ids: two chunks
    assert client.actions["DescribeSecurityGroupPolicies"] == 153


class RefusesUnknownIds(Recorder):
    """A cloud that rejects a whole id list when one id does not exist."""

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        ids = params.get("SecurityGroupIds") or []
        if action == "DescribeSecurityGroups" and any(i not in {g["SecurityGroupId"] for g in self.engine.state["SecurityGroups"]} for i in ids):
            self.calls += 1
            raise CloudError("ResourceNotFound", "no such group")
        return super().call(service, action, params)


def test_pinned_fallback_when_cloud_refuses_unknown_ids() -> None:
    client = RefusesUnknownIds(Engine(estate(1, 2, 0)))
    state = read_live(client, stack="prod", pinned_ids=["sg-00000001", "sg-nothere0", "sg-00000002"])
    assert [g.id for g in state.groups] == ["sg-00000000", "sg-00000001", "sg-00000002"]


def test_group_deleted_between_listing_and_policies_is_absent() -> None:
    engine = Engine(estate(2, 0, 0))

    class Racy(Recorder):
        def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
            if action == "DescribeSecurityGroupPolicies" and params["SecurityGroupId"] == "sg-00000001":
                raise CloudError("ResourceNotFound", "gone")
            return super().call(service, action, params)

    assert [g.id for g in read_live(Racy(engine), stack="prod").groups] == ["sg-00000000"]


def test_other_errors_propagate() -> None:
    class Broken(Recorder):
        def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
            raise CloudError("AuthFailure.SignatureFailure", "bad key")

    with pytest.raises(CloudError, match="AuthFailure"):
        read_live(Broken(Engine({})), stack="prod")


def test_map_fn_runs_the_policy_reads() -> None:
    seen: list[str] = []

    def recording_map(fn, items):  # type: ignore[no-untyped-def]
        items = list(items)
        seen.extend(items)
        return [fn(i) for i in reversed(items)][::-1]

    state = read_live(Recorder(Engine(estate(5, 0, 0))), stack="prod", map_fn=recording_map)
    assert sorted(seen) == [f"sg-{n:08d}" for n in range(5)]
    assert [g.ingress[0].port for g in state.groups] == ["1", "2", "3", "4", "5"]


def test_templates_when_asked() -> None:
    engine = Engine({
        "AddressTemplates": [{"AddressTemplateId": "ipm-1", "AddressTemplateName": "office", "AddressSet": ["10.0.0.0/8"]}],
        "AddressTemplateGroups": [{"AddressTemplateGroupId": "ipmg-1", "AddressTemplateIdSet": ["ipm-1"]}],
        "ServiceTemplates": [{"ServiceTemplateId": "ppm-1", "ServiceSet": ["tcp:80"]}],
        "ServiceTemplateGroups": [{"ServiceTemplateGroupId": "ppmg-1", "ServiceTemplateIdSet": ["ppm-1"]}],
    })
    client = Recorder(engine)
    assert read_live(client, stack="s").address_templates == ()
    state = read_live(client, stack="s", with_templates=True)
    assert state.address_templates[0].addresses == ("10.0.0.0/8",) and state.address_templates[0].name == "office"
    assert state.address_template_groups[0].template_ids == ("ipm-1",)
    assert state.service_templates[0].services == ("tcp:80",)
    assert state.service_template_groups[0].template_ids == ("ppm-1",)


def _policy(index: object, port: str = "22", **extra: object) -> dict[str, Any]:
    return {"PolicyIndex": index, "Protocol": "tcp", "Port": port, "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT",
            "ServiceTemplate": {"ServiceId": "", "ServiceGroupId": ""},
            "AddressTemplate": {"AddressId": "", "AddressGroupId": ""}, **extra}


@pytest.mark.parametrize("indices", [[0, 1, 2], [2, 0, 1], ["1", 0, " 2 "], [None, 1, 0], [1, 1, 0], [True, 0, 2],
                                     [-1, 0, 1], [0, 2, 1]])
def test_rules_follow_policy_index_however_the_indices_are_spelt(indices: list[object]) -> None:
    from sgplan.cloud.reader import _rules

    policies = [_policy(index, port=str(100 + n)) for n, index in enumerate(indices)]
    expected = tuple(Rule.from_api(p) for p in sorted(policies, key=lambda p: int(p.get("PolicyIndex") or 0)))
    assert _rules(policies) == expected
    assert _rules(policies, {}) == expected
    assert _rules([dict(p, PolicyIndex=n) for n, p in enumerate(policies)], {}) == tuple(map(Rule.from_api, policies))


@pytest.mark.parametrize("odd", [
    {"Port": 22}, {"Port": True}, {"PolicyDescription": 1.0}, {"CidrBlock": ["10.0.0.0/8"]},
    {"ServiceTemplate": {"ServiceId": 1, "ServiceGroupId": ""}}, {"AddressTemplate": "ipm-1"},
])
def test_the_rule_memo_takes_only_text(odd: dict[str, object]) -> None:
    # 22, True and 22.0 are equal as keys yet spelt differently by Rule.from_api: never memoised.
    from sgplan.cloud.reader import _memo_key

    assert _memo_key(_policy(0, **odd)) is None
    assert _memo_key(_policy(0)) == _memo_key(_policy(7)) is not None
    assert _memo_key(_policy(0)) != _memo_key(_policy(0, PolicyDescription="x"))
    # An empty or missing spec reads as no spec, like Rule.from_api reads it.
    assert _memo_key(_policy(0, ServiceTemplate={})) == _memo_key(_policy(0, ServiceTemplate=None)) == \
        _memo_key({k: v for k, v in _policy(0).items() if k != "ServiceTemplate"})


def test_memoised_rules_equal_fresh_conversions() -> None:
    from sgplan.cloud.reader import _rules

    policies = [_policy(0), _policy(1, port="22", PolicyDescription="d"), _policy(2, Port=22),
                _policy(3, ServiceTemplate={"ServiceId": "ppm-1", "ServiceGroupId": ""}, Protocol="", Port=""),
                _policy(4, AddressTemplate={"AddressId": "", "AddressGroupId": "ipmg-1"}, CidrBlock="")]
    twice = policies + [dict(p, PolicyIndex=5 + n) for n, p in enumerate(policies)]
    memo: dict = {}
    assert _rules(twice, memo) == tuple(Rule.from_api(p) for p in twice)
    assert len(memo) == 4  # the int Port is converted each time, never stored
