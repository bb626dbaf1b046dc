"""Every error code the fake returns for a served action is on that action's documented list
(issue 13, "Done when" 1).

The lists: tests/conformance/error_codes.json, extracted from the "possible error codes" comment
above each method of tencentcloud-sdk-go's vpc/cvm/tag client.go (commit named in the file; the
Python SDK ships only per-service lists). Codes any action may answer are the API 3.0 common
codes (`COMMON`). A code outside both must be in `ALLOWED` with the reason.

The codes are gathered by running, for each action, its documented examples and a battery of
broken variants derived from the request schema in api.json: every member dropped, every member
of the wrong JSON type, every id malformed and well-formed-but-unknown, every rule field broken.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("tccli", reason="tccli ships the API metadata (pip install -e .[test])")

from sgplan.cloud.base import CloudError  # noqa: E402
from sgplan.fakecloud.engine import Engine  # noqa: E402
from tests.conformance import harness, metadata  # noqa: E402

DOCUMENTED: dict[str, list[str]] = json.loads((Path(__file__).parent / "error_codes.json").read_text())["actions"]

# API 3.0 common error codes (the "公共错误码" page of every product, e.g.
# https://cloud.tencent.com/document/api/215/15783): any action may answer them.
COMMON = frozenset({
    "ActionOffline", "AuthFailure.InvalidAuthorization", "AuthFailure.InvalidSecretId", "AuthFailure.MFAFailure",
    "AuthFailure.SecretIdNotFound", "AuthFailure.SignatureExpire", "AuthFailure.SignatureFailure",
    "AuthFailure.TokenFailure", "AuthFailure.UnauthorizedOperation", "DryRunOperation", "FailedOperation",
    "InternalError", "InvalidAction", "InvalidParameter", "InvalidParameterValue", "InvalidRequest", "IpInBlacklist",
    "IpNotInWhitelist", "LimitExceeded", "MissingParameter", "NoSuchProduct", "NoSuchVersion", "RequestLimitExceeded",
    "RequestSizeLimitExceeded", "ResourceInUse", "ResourceInsufficient", "ResourceNotFound", "ResourceUnavailable",
    "ResponseSizeLimitExceeded", "ServiceUnavailable", "UnauthorizedOperation", "UnknownParameter",
    "UnsupportedOperation", "UnsupportedProtocol", "UnsupportedRegion",
})

# Codes outside an action's list that the fake answers on purpose, each with why.
ALLOWED: dict[str, dict[str, str]] = {
    "cvm.DisassociateSecurityGroups": {
        "InvalidParameterValue.LimitExceeded": "more than one group per call: the code AssociateSecurityGroups' "
                                               "list gives for it; Disassociate's list names no closer code",
    },
}


# Parameter-template writes (issue 17) whose tencentcloud-sdk-go error list is not in
# error_codes.json (the extraction predates them): the fake answers them with common codes only,
# which any action may answer. The lists seen for two of them (sdk-go vpc client.go:
# AddTemplateMember, CreateAddressTemplate) add only `.Duplicate`/`.Malformed`/`.TooLong`
# refinements of InvalidParameterValue, which the fake does not use.
COMMON_ONLY = frozenset(
    f"vpc.{a}" for a in (
        "CreateAddressTemplate", "ModifyAddressTemplateAttribute", "DeleteAddressTemplate",
        "CreateAddressTemplateGroup", "ModifyAddressTemplateGroupAttribute", "DeleteAddressTemplateGroup",
        "CreateServiceTemplate", "ModifyServiceTemplateAttribute", "DeleteServiceTemplate",
        "CreateServiceTemplateGroup", "ModifyServiceTemplateGroupAttribute", "DeleteServiceTemplateGroup",
        "AddTemplateMember", "DeleteTemplateMember", "ModifyTemplateMember", "DescribeTemplateLimits",
    )
)


def allowed(key: str) -> set[str]:
    return set(DOCUMENTED.get(key) or ()) | COMMON | set(ALLOWED.get(key, {}))


# -- probes ------------------------------------------------------------------------------------

_WRONG_TYPES: dict[str, Any] = {"string": 12345, "int": "not-a-number", "bool": "maybe", "list": "not-a-list",
                                "object": "not-an-object", "float": "x"}
_RULE_BREAKS = [("CidrBlock", "300.1.1.1/8"), ("CidrBlock", "2001:db8::/32"), ("Ipv6CidrBlock", "10.0.0.0/8"),
                ("Port", "99999"), ("Port", "22-"), ("Action", "MAYBE"), ("Protocol", "XYZ"),
                ("Protocol", "ICMP"), ("SecurityGroupId", "sg-zzzzzzzz"), ("SecurityGroupId", "bad"),
                ("PolicyIndex", -1), ("PolicyIndex", 999), ("PolicyIndex", "x"), ("Unknown", 1),
                ("AddressTemplate", {"AddressId": "ipm-zzzzzzzz"}), ("AddressTemplate", {"AddressId": "bad"}),
                ("ServiceTemplate", {"ServiceId": "ppm-zzzzzzzz"}), ("Action", None), ("CidrBlock", None)]
_ID_MEMBER = re.compile(r"(Id|Ids|Resource|ResourceList)$")


def probes(service: str, action: str, base: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield base
    yield {}
    members = metadata.request_object(service, action)["members"]
    for member in members:
        name = member["name"]
        yield {k: v for k, v in base.items() if k != name}
        yield {**base, name: _WRONG_TYPES.get(member["type"], None)}
        if _ID_MEMBER.search(name):
            for bad in ("bad-id", "sg-zzzzzzzz", "ins-zzzzzzzz", "qcs::cvm:ap-guangzhou:uin/:sg/sg-zzzzzzzz", ""):
                yield {**base, name: [bad] if member["type"] == "list" else bad}
            if member["type"] == "list":
                yield {**base, name: [f"sg-{n:08d}" for n in range(101)]}
    for name in ("Filters",):
        if any(m["name"] == name for m in members):
            yield {**base, name: [{"Name": "no-such-filter", "Values": ["x"]}]}
            yield {**base, name: [{"Name": "security-group-id", "Values": "x"}]}
            yield {**base, name: ["x"]}
    if any(m["name"] == "Limit" for m in members):
        yield {**base, "Limit": 1000}
        yield {**base, "Offset": -1}
    policy_set = base.get("SecurityGroupPolicySet")
    if isinstance(policy_set, dict):
        for direction in ("Ingress", "Egress"):
            for rule in policy_set.get(direction) or []:
                for field, value in _RULE_BREAKS:
                    broken = copy.deepcopy(base)
                    target = next(r for r in broken["SecurityGroupPolicySet"][direction] if r == rule)
                    target[field] = value
                    yield broken
        yield {**base, "SecurityGroupPolicySet": {**policy_set, "Version": "999"}}
        yield {**base, "SecurityGroupPolicySet": {"Version": policy_set.get("Version", "1")}}
        yield {**base, "SecurityGroupPolicySet": {"Ingress": "x"}}
    for name in ("GroupName", "GroupDescription"):
        if name in base:
            yield {**base, name: "x" * 300}
            yield {**base, name: ""}
    if "Tags" in base or action.startswith("CreateSecurityGroup"):
        yield {**base, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}
        yield {**base, "Tags": [{"Value": "1"}]}
    for name in ("ReplaceTags", "Tags"):
        if service == "tag" and name in base:
            yield {**base, name: [{"TagKey": "", "TagValue": "v"}]}
            yield {**base, name: [{"TagKey": "k" * 200, "TagValue": "v"}]}
            yield {**base, name: [{"TagKey": "qcloud:x", "TagValue": "v"}]}
            yield {**base, name: [{"TagKey": f"k{n}", "TagValue": "v"} for n in range(60)]}
    if action == "ModifyResourceTags":
        yield {**base, "ReplaceTags": [{"TagKey": "a", "TagValue": "1"}], "DeleteTags": [{"TagKey": "a"}]}
        yield {**base, "DeleteTags": "x"}


def codes_of(service: str, action: str) -> dict[str, str]:
    """Every code the fake answered for the action's probes, with one request that got it."""
    found: dict[str, str] = {}
    for example in metadata.examples(service, action):
        base = harness.adapt(service, action, metadata.example_params(service, action, example))
        seed = harness.seed_state(service, action, base)
        for params in probes(service, action, base):
            engine = Engine(copy.deepcopy(seed), rng_seed=1)
            try:
                engine.handle(service, action, params)
            except CloudError as exc:
                found.setdefault(exc.code, json.dumps(params)[:300])
    return found


@pytest.mark.parametrize(("service", "action"), list(metadata.served_actions()),
                         ids=[f"{s}.{a}" for s, a in metadata.served_actions()])
def test_every_error_code_is_on_the_actions_documented_list(service: str, action: str) -> None:
    key = f"{service}.{action}"
    assert DOCUMENTED.get(key) or key in COMMON_ONLY, f"no documented error list for {key}"
    found = codes_of(service, action)
    outside = {code: request for code, request in found.items() if code not in allowed(key)}
    assert outside == {}, f"{key}: codes outside the documented list: {outside}"


def test_the_probes_provoke_errors() -> None:
    """The battery is not vacuous: rule writes get many distinct codes."""
    assert len(codes_of("vpc", "CreateSecurityGroupPolicies")) >= 5


def test_every_code_in_the_fake_source_is_documented_somewhere() -> None:
    """A static complement: each code literal in sgplan/fakecloud is a common code or on the list
    of at least one served action (the server's auth and envelope codes are all common)."""
    source = "".join(p.read_text() for p in (Path(__file__).parents[2] / "sgplan" / "fakecloud").glob("*.py"))
    literals = set(re.findall(r'CloudError\(\s*"([A-Za-z.]+)"', source))
    literals |= set(re.findall(r'"((?:Invalid|Limit|Unsupported|Resource|Missing|Failed)[A-Za-z]*\.[A-Za-z.]+)"', source))
    documented = set().union(*(set(v or ()) for v in DOCUMENTED.values())) | COMMON
    assert len(literals) > 30
    assert sorted(literals - documented) == []
