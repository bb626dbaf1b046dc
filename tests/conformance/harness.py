"""Running documented requests against the HTTP fake through the unmodified SDK.

`seed_state` makes every id a documented example names exist (a group with rules, an instance, a
template), so the example runs as written; `adapt` rewrites the few parts that cannot run as
written against a security-group-only fake, each with the reason.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Mapping

from tencentcloud.common import credential
from tencentcloud.common.abstract_client import AbstractClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, ServerHandle
from sgplan.fakecloud.tags import resource_name
from tests.conformance.metadata import ids_in

REGION = "ap-guangzhou"
BASE_GROUP = "sg-base0001"
BASE_INSTANCE = "ins-base0001"
_API_VERSIONS = {"vpc": "2017-03-12", "cvm": "2017-03-12", "tag": "2018-08-13"}
_RESOURCE = re.compile(r"qcs::[a-z]+:[a-z0-9-]*:uin/[0-9*]*:[a-z]+/[A-Za-z0-9*_-]+")


class _Client(AbstractClient):
    """The SDK's own client class, named for one service (what vpc_client.VpcClient etc. do)."""

    def __init__(self, service: str, handle: ServerHandle, region: str = REGION) -> None:
        self._apiVersion = _API_VERSIONS[service]
        self._endpoint = f"{service}.tencentcloudapi.com"
        self._service = service
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=f"127.0.0.1:{handle.port}", protocol="http"))
        super().__init__(credential.Credential(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY), region, profile)


def call(handle: ServerHandle, service: str, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The Response object of one call; TencentCloudSDKException on an API error."""
    return _Client(service, handle).call_json(action, dict(params))["Response"]


def error_code(handle: ServerHandle, service: str, action: str, params: Mapping[str, Any]) -> str | None:
    try:
        call(handle, service, action, params)
    except TencentCloudSDKException as exc:
        return str(exc.code)
    return None


def _rules(seed: int) -> list[dict[str, Any]]:
    return [{"Protocol": "TCP", "Port": str(1000 + seed + n), "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT",
             "PolicyDescription": f"seed {n}"} for n in range(5)]  # the batch example edits index 4


def seed_state(service: str, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A state in which every id of `params` exists, plus one group bound to one instance."""
    ids = ids_in(params)
    version = str(((params.get("SecurityGroupPolicySet") or {}) if isinstance(
        params.get("SecurityGroupPolicySet"), dict) else {}).get("Version") or "2")
    groups = [BASE_GROUP, *[g for g in ids["group"] if g != BASE_GROUP]]
    carried = groups if action == "DisassociateSecurityGroups" else [BASE_GROUP]
    addresses = ids["address"] or ["ipm-base0001"]
    services = ids["service"] or ["ppm-base0001"]
    # A delete by content needs the rules it names to exist in the named group.
    policy_set = params.get("SecurityGroupPolicySet")
    doomed: dict[str, list[Any]] = {"Ingress": [], "Egress": []}
    if action == "DeleteSecurityGroupPolicies" and isinstance(policy_set, dict):
        for direction in doomed:
            doomed[direction] = [r for r in policy_set.get(direction) or [] if "PolicyIndex" not in r]
    # Template writes (issue 17): a template to delete is in no seeded group; a member edit finds
    # the members it deletes or modifies, and not the ones it adds.
    address_set, service_set = ["10.0.0.1"], ["tcp:80"]
    group_addresses, group_services = addresses, services
    if action in ("DeleteAddressTemplate", "DeleteServiceTemplate"):
        group_addresses, group_services = ["ipm-base0002"], ["ppm-base0002"]
        addresses, services = [*addresses, "ipm-base0002"], [*services, "ppm-base0002"]
    members = [m.get("Member") for m in (params.get("OriginalTemplateMember") if action == "ModifyTemplateMember"
                                          else params.get("TemplateMember")) or [] if isinstance(m, dict)]
    if action == "AddTemplateMember":
        address_set, service_set = ["10.9.9.9"], ["tcp:9999"]
        group_addresses, group_services = ["ipm-base0002"], ["ppm-base0002"]
        addresses, services = [*addresses, "ipm-base0002"], [*services, "ppm-base0002"]
    elif members and action in ("DeleteTemplateMember", "ModifyTemplateMember"):
        address_set = service_set = [str(m) for m in members]
        group_addresses = [m for m in address_set if m.startswith("ipm-")] or group_addresses
        group_services = [m for m in service_set if m.startswith("ppm-")] or group_services
    return {
        "Region": REGION,
        "SecurityGroups": [
            {"SecurityGroupId": g, "SecurityGroupName": f"seed-{g}", "TagSet": [{"Key": "team", "Value": "web"}],
             "SecurityGroupPolicySet": {"Version": version, "Ingress": _rules(n * 10) + doomed["Ingress"],
                                        "Egress": _rules(n * 10 + 5) + doomed["Egress"]}}
            for n, g in enumerate(groups)
        ],
        "Instances": [{"InstanceId": i, "InstanceName": f"seed-{i}", "SecurityGroupIds": list(carried)}
                      for i in [BASE_INSTANCE, *[i for i in ids["instance"] if "*" not in i]]],
        "AddressTemplates": [{"AddressTemplateId": a, "AddressTemplateName": f"seed-{a}", "AddressSet": address_set}
                             for a in addresses],
        "AddressTemplateGroups": [{"AddressTemplateGroupId": g, "AddressTemplateGroupName": f"seed-{g}",
                                   "AddressTemplateIdSet": group_addresses} for g in ids["address_group"] or ["ipmg-base0001"]],
        "ServiceTemplates": [{"ServiceTemplateId": s, "ServiceTemplateName": f"seed-{s}", "ServiceSet": service_set}
                             for s in services],
        "ServiceTemplateGroups": [{"ServiceTemplateGroupId": g, "ServiceTemplateGroupName": f"seed-{g}",
                                   "ServiceTemplateIdSet": group_services} for g in ids["service_group"] or ["ppmg-base0001"]],
    }


def adapt(service: str, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The documented request as it can run on the fake (the changes are listed here, nowhere else)."""
    out = copy.deepcopy(dict(params))
    if service == "tag":
        # The tag examples name CVM instances and volumes in ap-beijing/ap-shanghai; the fake's tag
        # service holds security groups only, so every resource becomes the seeded group.
        text = _RESOURCE.sub(resource_name(REGION, BASE_GROUP), json.dumps(out))
        out = json.loads(text)
        if action == "DescribeResourceTagsByResourceIds":
            out.update(ServiceType="cvm", ResourcePrefix="sg", ResourceRegion=REGION, ResourceIds=[BASE_GROUP])
        if "ResourceList" in out:
            out["ResourceList"] = sorted(set(out["ResourceList"]))
    return out
