"""The fake's tag service (`tag`, API version 2018-08-13) over the security groups of one region.

Facts (docs/tencent-api.md §tags): a security group's tag resource is
`qcs::cvm:<region>:uin/<uin>:sg/<sg-id>` (terraform-provider-tencentcloud builds it with
`BuildTagResourceName("cvm", "sg", region, id)`, uin left empty); ModifyResourceTags takes
`ReplaceTags` [{TagKey, TagValue}] (add or overwrite) and `DeleteTags` [{TagKey}];
DescribeResourceTagsByResourceIds takes ServiceType/ResourcePrefix/ResourceRegion/ResourceIds and
answers TagResource rows with MD5s of key and value (tccli tag/v20180813 api.json and examples.json).
Error codes are the ones the tencentcloud-sdk-go tag client lists for each action.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Mapping

from sgplan.cloud.base import CloudError, tag_resource

_RESOURCE = re.compile(r"^qcs::cvm:(?P<region>[a-z0-9-]+):uin/[0-9*]*:sg/(?P<id>sg-[a-z0-9]+)$")
MAX_KEY = 127  # tag key length (Tencent tag quotas page; the SDK lists TagKeyLengthExceeded)
MAX_VALUE = 255
MAX_TAGS_PER_RESOURCE = 50  # LimitExceeded.ResourceAttachedTags
# Keys the tag service keeps for itself (InvalidParameter.ReservedTagKey).
_RESERVED_PREFIXES = ("qcloud:", "tencent:", "tencentcloud:", "project")

ACTIONS = ("ModifyResourceTags", "DescribeResourceTagsByResourceIds", "TagResources", "UnTagResources")
MUTATING = frozenset({"ModifyResourceTags", "TagResources", "UnTagResources"})


def resource_name(region: str, group_id: str) -> str:
    """The tag-service name of a security group (uin left empty, as the Terraform provider does)."""
    return tag_resource(region, group_id)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 (the API's own field)


class TagService:
    """Tag actions on the groups `groups()` returns (id → stored group with its TagSet)."""

    def __init__(self, region: Callable[[], str], groups: Callable[[], Mapping[str, dict[str, Any]]]) -> None:
        self._region = region
        self._groups = groups

    def handler(self, action: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        return {
            "ModifyResourceTags": self.modify,
            "DescribeResourceTagsByResourceIds": self.describe,
            "TagResources": self.tag,
            "UnTagResources": self.untag,
        }[action]

    # -- parsing ------------------------------------------------------------------------------

    def _group(self, resource: Any, failed: str = "FailedOperation") -> dict[str, Any]:
        match = _RESOURCE.match(str(resource or ""))
        if match is None:
            raise CloudError("InvalidParameterValue.ResourceDescriptionError",
                             f"{resource!r} is not qcs::cvm:<region>:uin/<uin>:sg/<sg-id>")
        region = self._region()
        if region and match["region"] != region:
            raise CloudError("InvalidParameterValue.ResourceDescriptionError",
                             f"{resource!r} names region {match['region']}, not {region}")
        group = self._groups().get(match["id"])
        if group is None:
            raise CloudError(failed, f"resource {resource} does not exist")
        return group

    @staticmethod
    def _key(value: Any) -> str:
        key = "" if value is None else str(value)
        if not key:
            raise CloudError("InvalidParameterValue.TagKeyEmpty", "a TagKey is empty")
        if len(key) > MAX_KEY:
            raise CloudError("InvalidParameterValue.TagKeyLengthExceeded", f"TagKey {key[:20]!r}… is too long")
        if key.lower().startswith(_RESERVED_PREFIXES):
            raise CloudError("InvalidParameter.ReservedTagKey", f"TagKey {key!r} is reserved")
        return key

    def _pairs(self, raw: Any, name: str) -> dict[str, str]:
        if raw is None:
            return {}
        if not isinstance(raw, list) or not all(isinstance(t, Mapping) for t in raw):
            raise CloudError("InvalidParameter.Tag", f"{name} must be a list of {{TagKey, TagValue}}")
        out: dict[str, str] = {}
        for item in raw:
            key = self._key(item.get("TagKey"))
            value = "" if item.get("TagValue") is None else str(item["TagValue"])
            if len(value) > MAX_VALUE:
                raise CloudError("InvalidParameterValue.TagValueLengthExceeded", f"the value of {key!r} is too long")
            if key in out:
                raise CloudError("InvalidParameter.Tag", f"TagKey {key!r} is given twice")
            out[key] = value
        return out

    @staticmethod
    def _apply(group: dict[str, Any], replace: Mapping[str, str], delete: set[str]) -> None:
        tags = {t["Key"]: t["Value"] for t in group["TagSet"]}
        for key in delete:
            tags.pop(key, None)
        tags.update(replace)
        if len(tags) > MAX_TAGS_PER_RESOURCE:
            raise CloudError("LimitExceeded.ResourceAttachedTags",
                             f"a resource carries at most {MAX_TAGS_PER_RESOURCE} tags")
        # Keys keep their place; new ones go last (the order a Describe answers them in).
        order = [t["Key"] for t in group["TagSet"] if t["Key"] in tags]
        order += [k for k in replace if k not in order]
        group["TagSet"] = [{"Key": k, "Value": tags[k]} for k in order]

    # -- actions ------------------------------------------------------------------------------

    def modify(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if params.get("Resource") in (None, ""):
            raise CloudError("MissingParameter", "Resource is required")
        group = self._group(params["Resource"])
        replace = self._pairs(params.get("ReplaceTags"), "ReplaceTags")
        raw_delete = params.get("DeleteTags")
        if raw_delete is not None and (not isinstance(raw_delete, list)
                                       or not all(isinstance(t, Mapping) for t in raw_delete)):
            raise CloudError("InvalidParameterValue.DeleteTagsParamError", "DeleteTags must be a list of {TagKey}")
        delete = {self._key(t.get("TagKey")) for t in raw_delete or ()}
        if not replace and not delete:
            raise CloudError("InvalidParameter.Tag", "give ReplaceTags or DeleteTags")
        if delete & set(replace):
            raise CloudError("InvalidParameterValue.DeleteTagsParamError", "a key is both replaced and deleted")
        self._apply(group, replace, delete)
        return {}

    def tag(self, params: Mapping[str, Any]) -> dict[str, Any]:
        resources = self._resources(params)
        replace = self._pairs(params.get("Tags"), "Tags")
        if not replace:
            raise CloudError("MissingParameter", "Tags is required")
        return {"FailedResources": self._each(resources, replace, set())}

    def untag(self, params: Mapping[str, Any]) -> dict[str, Any]:
        resources = self._resources(params)
        keys = params.get("TagKeys")
        if not isinstance(keys, list) or not keys:
            raise CloudError("MissingParameter", "TagKeys is required")
        delete = {self._key(k) for k in keys}
        return {"FailedResources": self._each(resources, {}, delete)}

    def _each(self, resources: list[str], replace: Mapping[str, str], delete: set[str]) -> list[dict[str, str]]:
        """Tag each resource on its own: one that fails is reported in FailedResources, as the
        batch actions document ("partial failure"), and the others are still changed."""
        failed = []
        for resource in resources:
            try:
                self._apply(self._group(resource), replace, delete)
            except CloudError as exc:
                failed.append({"Resource": resource, "Code": exc.code, "Message": exc.message or exc.code})
        return failed

    @staticmethod
    def _resources(params: Mapping[str, Any]) -> list[str]:
        raw = params.get("ResourceList")
        if not isinstance(raw, list) or not raw:
            raise CloudError("MissingParameter", "ResourceList is required")
        if len(raw) > 50:
            raise CloudError("LimitExceeded.ResourceNumPerRequest", "at most 50 resources per call")
        return [str(r) for r in raw]

    def describe(self, params: Mapping[str, Any]) -> dict[str, Any]:
        for name in ("ServiceType", "ResourcePrefix", "ResourceRegion"):
            if params.get(name) in (None, ""):
                raise CloudError("MissingParameter", f"{name} is required")
        if params["ServiceType"] != "cvm":
            raise CloudError("InvalidParameterValue.ServiceTypeInvalid", "the fake serves ServiceType cvm only")
        if params["ResourcePrefix"] != "sg":
            raise CloudError("InvalidParameterValue.ResourcePrefixInvalid", "the fake serves ResourcePrefix sg only")
        if self._region() and params["ResourceRegion"] != self._region():
            raise CloudError("InvalidParameterValue.RegionInvalid", f"region {params['ResourceRegion']!r}")
        ids = params.get("ResourceIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise CloudError("InvalidParameterValue.ResourceIdInvalid", "ResourceIds must be a list of ids")
        offset, limit = _int(params.get("Offset"), 0), _int(params.get("Limit"), 15)
        rows = []
        groups = self._groups()
        for group_id in ids:
            group = groups.get(group_id)
            for tag in group["TagSet"] if group else ():
                rows.append({"TagKey": tag["Key"], "TagValue": tag["Value"], "ResourceId": group_id,
                             "TagKeyMd5": _md5(tag["Key"]), "TagValueMd5": _md5(tag["Value"]),
                             "ServiceType": "cvm", "Category": "Custom"})
        return {"TotalCount": len(rows), "Offset": offset, "Limit": limit, "Tags": rows[offset:offset + limit]}


def _int(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not str(value).isdigit():
        raise CloudError("InvalidParameterValue", f"{value!r} is not a non-negative integer")
    number = int(value)
    if number > 1000:
        raise CloudError("InvalidParameterValue", "Limit is at most 1000")
    return number
