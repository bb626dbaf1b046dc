"""The fake's CVM side: instances, their ordered group lists, and asynchronous binding operations.

Semantics from reference/tencentcloud-sg-api.md §3: one group per Associate call (appended last =
lowest priority), at most 100 instances per call, at most 5 groups per instance, and every binding
change runs as an operation that shows `LatestOperationState` "OPERATING" until it finishes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from sgplan.cloud.base import CloudError
from sgplan.fakecloud.jsoncopy import copy_json
from sgplan.fakecloud.query import filters, id_list, page, tags_match

_INSTANCE_FILTERS = frozenset(
    {"security-group-id", "instance-id", "instance-name", "tag-key", "tag-value", "project-id", "zone", "instance-state",
     "vpc-id", "subnet-id", "private-ip-address", "public-ip-address", "uuid", "instance-charge-type"}
)


def _defaults(instance_id: str) -> dict[str, Any]:
    """Every Instance field the cvm api.json marks output_required, with a plausible value; a state
    file's own fields (say "Placement": {"Zone": …}) override these (issue 13 item 5)."""
    suffix = instance_id.removeprefix("ins-")
    return {
        "Placement": {"Zone": "ap-guangzhou-3", "ProjectId": 0},
        "InstanceType": "S5.MEDIUM2", "CPU": 2, "Memory": 2, "RestrictState": "NORMAL",
        "InstanceChargeType": "POSTPAID_BY_HOUR",
        "SystemDisk": {"DiskType": "CLOUD_PREMIUM", "DiskId": f"disk-{suffix}", "DiskSize": 50, "Encrypt": False,
                       "KmsKeyId": ""},
        "DataDisks": [], "PrivateIpAddresses": ["10.0.0.2"], "PublicIpAddresses": None,
        "InternetAccessible": {"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR", "InternetMaxBandwidthOut": 0},
        "VirtualPrivateCloud": {"VpcId": "vpc-fake0001", "SubnetId": "subnet-fake0001", "AsVpcGateway": False},
        "ImageId": "img-fake0001", "RenewFlag": "NOTIFY_AND_MANUAL_RENEW",
        "CreatedTime": "2020-01-01T00:00:00Z", "ExpiredTime": "", "OsName": "TencentOS Server 3.1",
        "LoginSettings": {}, "InstanceState": "RUNNING", "StopChargingMode": "NOT_APPLICABLE",
        "Uuid": f"00000000-0000-4000-8000-{suffix[-12:]:0>12}", "DisasterRecoverGroupId": "", "IPv6Addresses": None,
        "CamRoleName": None, "HpcClusterId": "", "RdmaIpAddresses": None, "DedicatedClusterId": "",
        "IsolatedSource": "NOTISOLATED", "DisasterRecoverGroupIds": [], "LicenseType": "TencentCloud",
        "DisableApiTermination": False, "HostName": f"VM-{suffix}", "DefaultLoginUser": "root",
        "DefaultLoginPort": 22, "LatestOperationErrorMsg": None,
    }


def _field(item: Mapping[str, Any], name: str) -> list[str]:
    """The values a filter compares for `name` (nested ones from Placement/VirtualPrivateCloud)."""
    full = {**_defaults(item["InstanceId"]), **item}
    if name == "zone":
        return [str((full.get("Placement") or {}).get("Zone", ""))]
    if name in ("vpc-id", "subnet-id"):
        return [str((full.get("VirtualPrivateCloud") or {}).get("VpcId" if name == "vpc-id" else "SubnetId", ""))]
    if name in ("private-ip-address", "public-ip-address"):
        return [str(a) for a in full.get("PrivateIpAddresses" if name[1] == "r" else "PublicIpAddresses") or ()]
    if name == "project-id":
        return [str((full.get("Placement") or {}).get("ProjectId", item.get("ProjectId", 0)))]
    field = {"uuid": "Uuid", "instance-charge-type": "InstanceChargeType", "instance-state": "InstanceState"}[name]
    return [str(full.get(field, ""))]
# ModifyInstancesAttribute may change exactly one of these per call (§3.3).
_ATTRIBUTES = ("SecurityGroups", "InstanceName", "HostName", "CamRoleName", "DisableApiTermination", "CamRoleType")


@dataclass(slots=True)
class _Operation:
    name: str
    until: float
    groups: list[str] | None  # the list that becomes current when the operation finishes
    request: str


class InstanceTable:
    """Instances by id (in state order) plus the binding operations still running.

    `group_exists` tells whether a security group id is known; `limits` holds the quotas
    `InstanceSecurityGroupLimit` and `SecurityGroupInstanceLimit`.
    """

    def __init__(
        self,
        instances: Iterable[Mapping[str, Any]],
        *,
        group_exists: Callable[[str], bool],
        limits: Mapping[str, int],
        clock: Callable[[], float] = time.time,
        bind_delay: float = 0.0,
        request_id: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._request_id = request_id
        self._items: dict[str, dict[str, Any]] = {i["InstanceId"]: dict(i) for i in instances}
        self._group_exists = group_exists
        self._limits = limits
        self._clock = clock
        self._bind_delay = bind_delay
        self._running: dict[str, _Operation] = {}
        self._last: dict[str, tuple[str, str, str]] = {}  # id -> (operation, state, request)
        self._requests = 0

    # -- views --------------------------------------------------------------------------------

    def settle(self) -> None:
        """Finish every operation whose delay has passed."""
        now = self._clock()
        for instance_id, op in list(self._running.items()):
            if now >= op.until:
                if op.groups is not None:
                    self._items[instance_id]["SecurityGroupIds"] = op.groups
                self._last[instance_id] = (op.name, "SUCCESS", op.request)
                del self._running[instance_id]

    def records(self) -> list[dict[str, Any]]:
        """Instances for the state file, running operations counted as done (a file cannot hold them)."""
        out = []
        for instance_id, item in self._items.items():
            record = dict(item)
            op = self._running.get(instance_id)
            if op is not None and op.groups is not None:
                record["SecurityGroupIds"] = op.groups
            record["SecurityGroupIds"] = list(record["SecurityGroupIds"])
            out.append(record)
        return out

    def bound_to(self, group_id: str) -> list[str]:
        """Instances that carry `group_id` now or will once their running operation ends."""
        out = []
        for instance_id, item in self._items.items():
            op = self._running.get(instance_id)
            pending = op.groups if op is not None and op.groups is not None else []
            if group_id in item["SecurityGroupIds"] or group_id in pending:
                out.append(instance_id)
        return out

    def _answer(self, instance_id: str) -> dict[str, Any]:
        """A new dict that shares no container with the table (Engine.handle skips its deep copy
        for DescribeInstances): the defaults are built per call, the instance's own fields (free
        form: a state file's Placement, say) are deep-copied."""
        item = copy_json(self._items[instance_id])
        operation, state, request = self._last.get(instance_id, ("", "SUCCESS", ""))
        return {
            **_defaults(instance_id),
            **{k: v for k, v in item.items() if k not in ("SecurityGroupIds", "Tags")},
            "SecurityGroupIds": item["SecurityGroupIds"],
            "Tags": item["Tags"],
            "LatestOperation": operation or None,
            "LatestOperationState": state,
            "LatestOperationRequestId": request or None,
        }

    # -- actions ------------------------------------------------------------------------------

    def describe(self, params: Mapping[str, Any]) -> dict[str, Any]:
        ids = id_list(params, "InstanceIds", malformed="InvalidInstanceId.Malformed")
        chosen = filters(
            params, _INSTANCE_FILTERS, invalid_key="InvalidFilter", max_filters=10, max_values=5, shape_error="InvalidFilter"
        )
        if ids and chosen:
            # The cvm list has no Coexist code: the common InvalidParameter.
            raise CloudError("InvalidParameter", "InstanceIds and Filters cannot be given together")
        for instance_id in ids:
            self._check_format(instance_id)
        if ids:
            matches = [i for i in ids if i in self._items]
        elif not chosen:  # the common case (a refresh lists everything): no per-item test
            matches = list(self._items)
        else:
            matches = [i for i, item in self._items.items() if all(self._match(item, n, v) for n, v in chosen)]
        # cvm's list has no …Range: a Limit past 100 is InvalidParameterValue.LimitExceeded there.
        rows, total = page(params, matches, text_ok=False, range_code="InvalidParameterValue.LimitExceeded")
        return {"TotalCount": total, "InstanceSet": [self._answer(i) for i in rows]}

    @staticmethod
    def _match(item: Mapping[str, Any], name: str, values: list[str]) -> bool:
        if name == "security-group-id":
            return any(g in values for g in item["SecurityGroupIds"])
        if name == "instance-id":
            return item["InstanceId"] in values
        if name == "instance-name":
            return item["InstanceName"] in values
        if name.startswith("tag"):
            return tags_match(item["Tags"], name, values)
        return any(v in values for v in _field(item, name))

    def associate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        group_id = self._single_group(params)
        targets = self._targets(params)
        limit = self._limits["InstanceSecurityGroupLimit"]
        plans: dict[str, list[str]] = {}
        for instance_id in targets:
            current = self._items[instance_id]["SecurityGroupIds"]
            if group_id in current:
                continue  # already bound: nothing to do, the position stays
            if len(current) + 1 > limit:
                raise CloudError(
                    "LimitExceeded.AssociateUSGLimitExceeded",
                    f"an instance can be bound with up to {limit} security groups ({instance_id})",
                )
            plans[instance_id] = [*current, group_id]  # appended last = lowest priority (§3.1)
        self._check_group_capacity({group_id: len(plans)})
        self._start("AssociateSecurityGroups", plans, targets)
        return {}

    def disassociate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        group_id = self._single_group(params)
        targets = self._targets(params)
        plans = {
            i: [g for g in self._items[i]["SecurityGroupIds"] if g != group_id]
            for i in targets
            if group_id in self._items[i]["SecurityGroupIds"]
        }
        self._start("DisassociateSecurityGroups", plans, targets)
        return {}

    def modify_attribute(self, params: Mapping[str, Any]) -> dict[str, Any]:
        given = [name for name in _ATTRIBUTES if params.get(name) is not None]
        if not given:
            raise CloudError("MissingParameter", "ModifyInstancesAttribute needs one attribute to change")
        if len(given) > 1:
            raise CloudError("InvalidParameter", f"only one attribute per call, got {', '.join(given)}")
        targets = self._targets(params)
        if given[0] == "InstanceName":
            name = str(params["InstanceName"])
            if not name or len(name) > 128:
                raise CloudError("InvalidParameterValue", "InstanceName must be 1-128 characters")
            for instance_id in targets:
                self._items[instance_id]["InstanceName"] = name
            return {}
        if given[0] != "SecurityGroups":
            return {}  # accepted and ignored: the fake models no host names or roles
        groups = params["SecurityGroups"]
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise CloudError("InvalidParameterValue", "SecurityGroups must be a list of ids")
        if len(set(groups)) != len(groups):
            raise CloudError("InvalidParameterValue", "SecurityGroups lists a group twice")
        limit = self._limits["InstanceSecurityGroupLimit"]
        if len(groups) > limit:
            raise CloudError(
                "LimitExceeded.AssociateUSGLimitExceeded", f"an instance can be bound with up to {limit} security groups"
            )
        for group_id in groups:
            self._check_group(group_id)
        added: dict[str, int] = {}
        for instance_id in targets:
            for group_id in set(groups) - set(self._items[instance_id]["SecurityGroupIds"]):
                added[group_id] = added.get(group_id, 0) + 1
        self._check_group_capacity(added)
        self._start("ModifyInstancesAttribute", {i: list(groups) for i in targets}, targets)
        return {}

    # -- validation and commit ----------------------------------------------------------------

    @staticmethod
    def _check_format(instance_id: str) -> None:
        if not instance_id.startswith("ins-") or len(instance_id) < 5:
            raise CloudError("InvalidInstanceId.Malformed", f"{instance_id!r} is not an instance id")

    def _check_group(self, group_id: str) -> None:
        if not self._group_exists(group_id):
            raise CloudError("InvalidSecurityGroupId.NotFound", f"security group {group_id} does not exist")

    def _single_group(self, params: Mapping[str, Any]) -> str:
        groups = id_list(params, "SecurityGroupIds", required=True, malformed="InvalidSgId.Malformed")
        if len(groups) != 1:
            # §3.1: the API binds exactly one group per call.
            raise CloudError("InvalidParameterValue.LimitExceeded", "exactly one security group per call")
        self._check_group(groups[0])
        return groups[0]

    def _targets(self, params: Mapping[str, Any]) -> list[str]:
        targets = id_list(params, "InstanceIds", required=True, malformed="InvalidInstanceId.Malformed")
        for instance_id in targets:
            self._check_format(instance_id)
            if instance_id not in self._items:
                raise CloudError("InvalidInstanceId.NotFound", f"instance {instance_id} does not exist")
            if instance_id in self._running:
                raise CloudError(
                    "OperationDenied.InstanceOperationInProgress", f"instance {instance_id} has an operation in progress"
                )
        return targets

    def _check_group_capacity(self, added: Mapping[str, int]) -> None:
        limit = self._limits["SecurityGroupInstanceLimit"]
        for group_id, count in added.items():
            if count and len(self.bound_to(group_id)) + count > limit:
                raise CloudError(
                    "LimitExceeded.CvmsVifsPerSecGroupLimitExceeded", f"{group_id} would carry more than {limit} instances"
                )

    def _start(self, operation: str, plans: Mapping[str, list[str]], targets: list[str]) -> None:
        """Commit (after all validation): every target runs `operation`, even those left unchanged."""
        self._requests += 1
        # LatestOperationRequestId is the RequestId the binding call answered (issue 13 item 6).
        request = self._request_id() or f"fake-{operation}-{self._requests}"
        until = self._clock() + self._bind_delay
        for instance_id in targets:
            groups = plans.get(instance_id)
            if self._bind_delay > 0:
                self._running[instance_id] = _Operation(operation, until, groups, request)
                self._last[instance_id] = (operation, "OPERATING", request)
            else:
                if groups is not None:
                    self._items[instance_id]["SecurityGroupIds"] = groups
                self._last[instance_id] = (operation, "SUCCESS", request)
