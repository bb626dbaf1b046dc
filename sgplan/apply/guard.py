"""The executor's last line of defence: a client wrapper that refuses any write outside the scope
the configuration gives, however the operations were obtained (DESIGN §5, issue 11).

A plan file is untrusted and `apply PLANFILE` re-derives its operations, but the executor does
not rely on that: every write call passes through `GuardedClient`, which checks the call's own
parameters (after placeholder substitution, so a tampered `group` field cannot hide a real id)
against what the cloud says *now*:

- a group may be written only when it carries the tag `sgplan-stack = <stack>`, is pinned by the
  configuration (`id = "sg-…"`), or was created by this run (with the stack's tags);
- an instance may be bound only when a binding of the configuration names it, or when the call
  only removes groups that this stack manages (the unbind that precedes deleting a group);
- a tag write (`tag` ModifyResourceTags) may name only one security group of the client's region
  that the stack owns or the configuration pins, and never a `sgplan-*` key (the ownership tags
  are set at creation and never edited);
- a parameter template (address/service template or template group, issue 17) may be created
  only with the stack's tag, and renamed, edited member by member or deleted only when it carries
  `sgplan-stack = <stack>`, is pinned by the configuration (`id = "ipm-…"`), or was created by
  this run; a template group created or edited may hold only templates that exist;
- an action the guard does not know is refused: a new kind of write must be added here first.

Reads pass through. A refusal raises `CloudError("sgplan.OutOfScope", …)` before anything is
sent; apply reports it like any failed call and makes no further call on that group.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Iterable

from sgplan.cloud.base import ApiClient, CloudError
from sgplan.model import ADDRESS_TAG, STACK_TAG

OUT_OF_SCOPE = "sgplan.OutOfScope"

# Group writes whose target is `SecurityGroupId` (one group).
_GROUP_WRITES = frozenset({
    "CreateSecurityGroupPolicies",
    "DeleteSecurityGroupPolicies",
    "ReplaceSecurityGroupPolicy",
    "ReplaceSecurityGroupPolicies",
    "ModifySecurityGroupAttribute",
    "DeleteSecurityGroup",
})
_CREATES = frozenset({"CreateSecurityGroupWithPolicies"})
_BINDINGS = frozenset({"ModifyInstancesAttribute", "AssociateSecurityGroups", "DisassociateSecurityGroups"})
_TAG_WRITES = frozenset({"ModifyResourceTags"})
_TAG_RESOURCE = re.compile(r"^qcs::cvm:(?P<region>[a-z0-9-]+):uin/[0-9]*:sg/(?P<id>sg-[A-Za-z0-9]+)$")
_OWN_TAG_PREFIX = "sgplan-"
# Parameter-template writes (issue 17): action → (kind of the target, the field naming it).
_TEMPLATE_CREATES = {
    "CreateAddressTemplate": "AddressTemplate",
    "CreateAddressTemplateGroup": "AddressTemplateGroup",
    "CreateServiceTemplate": "ServiceTemplate",
    "CreateServiceTemplateGroup": "ServiceTemplateGroup",
}
_TEMPLATE_WRITES = {
    "ModifyAddressTemplateAttribute": "AddressTemplateId",
    "DeleteAddressTemplate": "AddressTemplateId",
    "ModifyAddressTemplateGroupAttribute": "AddressTemplateGroupId",
    "DeleteAddressTemplateGroup": "AddressTemplateGroupId",
    "ModifyServiceTemplateAttribute": "ServiceTemplateId",
    "DeleteServiceTemplate": "ServiceTemplateId",
    "ModifyServiceTemplateGroupAttribute": "ServiceTemplateGroupId",
    "DeleteServiceTemplateGroup": "ServiceTemplateGroupId",
    "AddTemplateMember": "TemplateId",
    "DeleteTemplateMember": "TemplateId",
    "ModifyTemplateMember": "TemplateId",
}
# Template id prefix → (Describe action, its answer's list, its id filter), longest prefix first.
_TEMPLATE_READS = (
    ("ipmg-", "DescribeAddressTemplateGroups", "AddressTemplateGroupSet", "address-template-group-id"),
    ("ppmg-", "DescribeServiceTemplateGroups", "ServiceTemplateGroupSet", "service-template-group-id"),
    ("ipm-", "DescribeAddressTemplates", "AddressTemplateSet", "address-template-id"),
    ("ppm-", "DescribeServiceTemplates", "ServiceTemplateSet", "service-template-id"),
)
# Never sent by sgplan (DESIGN §6: a full reset skips the Version check): refused outright.
_FORBIDDEN = frozenset({"ModifySecurityGroupPolicies"})


def is_read(action: str) -> bool:
    return action.startswith("Describe")


@dataclass(frozen=True)
class Scope:
    """What the configuration lets apply touch."""

    stack: str
    pinned: frozenset[str] = frozenset()  # group (and template) ids pinned with `id = "sg-…"`
    instances: frozenset[str] = frozenset()  # instance ids some binding names
    moved_to: frozenset[str] = frozenset()  # addresses `moved` blocks move a group to

    @classmethod
    def of(cls, stack: str, pinned: Iterable[str], instances: Iterable[str], moved_to: Iterable[str] = ()) -> "Scope":
        return cls(stack, frozenset(pinned), frozenset(instances), frozenset(moved_to))


class GuardedClient:
    """An ApiClient that lets through reads and only the writes `scope` allows."""

    def __init__(self, inner: ApiClient, scope: Scope) -> None:
        if not scope.stack:
            raise ValueError("a guarded apply needs the configuration's stack")
        self.inner = inner
        self.scope = scope
        self.region = getattr(inner, "region", None)
        self.thread_safe = bool(getattr(inner, "thread_safe", False))
        self._created: set[str] = set()
        self._owned: dict[str, bool] = {}  # group id → tagged with the stack (cached per run)
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # calls, retries, map, close … of the inner client
        return getattr(self.inner, name)

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if not is_read(action):
            self._check(service, action, params)
        response = self.inner.call(service, action, params)
        if action in _CREATES and isinstance(response, dict) and isinstance(response.get("SecurityGroup"), dict):
            created = response["SecurityGroup"].get("SecurityGroupId")
            if isinstance(created, str):
                with self._lock:
                    self._created.add(created)
                    self._owned[created] = True
        if action in _TEMPLATE_CREATES and isinstance(response, dict):
            item = response.get(_TEMPLATE_CREATES[action])
            created = item.get(f"{_TEMPLATE_CREATES[action]}Id") if isinstance(item, dict) else None
            if isinstance(created, str):
                with self._lock:
                    self._created.add(created)
                    self._owned[created] = True
        return response

    # -- checks ----------------------------------------------------------------------------------

    def _check(self, service: str, action: str, params: dict[str, Any]) -> None:
        if action in _FORBIDDEN:
            self._refuse(f"{action} is never sent by sgplan (it would reset a group without a Version check)")
        if service == "vpc" and action in _CREATES:
            self._check_create(params)
        elif service == "vpc" and action in _GROUP_WRITES:
            self._check_group(action, params.get("SecurityGroupId"))
        elif service == "vpc" and action in _TEMPLATE_CREATES:
            self._check_template_create(action, params)
        elif service == "vpc" and action in _TEMPLATE_WRITES:
            self._check_template(action, params)
        elif service == "cvm" and action in _BINDINGS:
            self._check_binding(action, params)
        elif service == "tag" and action in _TAG_WRITES:
            self._check_tags(action, params)
        else:
            self._refuse(f"{service} {action} is not a write sgplan's executor knows")

    def _check_create(self, params: dict[str, Any]) -> None:
        tags = params.get("Tags")
        stacks = [t.get("Value") for t in tags or () if isinstance(t, dict) and t.get("Key") == STACK_TAG]
        if stacks != [self.scope.stack]:
            self._refuse(f"CreateSecurityGroupWithPolicies without the tag {STACK_TAG} = {self.scope.stack}")

    def _check_template_create(self, action: str, params: dict[str, Any]) -> None:
        tags = params.get("Tags")
        stacks = [t.get("Value") for t in tags or () if isinstance(t, dict) and t.get("Key") == STACK_TAG]
        if stacks != [self.scope.stack]:
            self._refuse(f"{action} without the tag {STACK_TAG} = {self.scope.stack}")
        for member in params.get("AddressTemplateIds") or params.get("ServiceTemplateIds") or ():
            if not isinstance(member, str) or not (member in self._created or self._template(member) is not None):
                self._refuse(f"{action} would hold {member!r}, which does not exist")

    def _check_template(self, action: str, params: dict[str, Any]) -> None:
        template_id = params.get(_TEMPLATE_WRITES[action])
        if not isinstance(template_id, str):
            self._refuse(f"{action} without a template id")
        if template_id in self.scope.pinned or template_id in self._created:
            return
        with self._lock:
            known = self._owned.get(template_id)
        if known is None:
            found = self._template(template_id)
            known = found is not None and any(
                isinstance(t, dict) and t.get("Key") == STACK_TAG and t.get("Value") == self.scope.stack
                for t in found.get("TagSet") or ())
            with self._lock:
                self._owned[template_id] = known
        if not known:
            self._refuse(f"{action} on {template_id}, a template that is neither tagged with stack "
                         f"{self.scope.stack!r} nor pinned by the configuration")

    def _template(self, template_id: str) -> dict[str, Any] | None:
        """The live template (or template group) `template_id`, None when there is none."""
        for prefix, describe, listing, name in _TEMPLATE_READS:
            if template_id.startswith(prefix):
                try:
                    body = self.inner.call("vpc", describe, {"Filters": [{"Name": name, "Values": [template_id]}]})
                except CloudError as exc:
                    if "NotFound" in exc.code or exc.code.startswith("InvalidParameter"):
                        return None
                    raise
                items = body.get(listing) if isinstance(body, dict) else None
                id_field = listing[: -len("Set")] + "Id"
                return next((i for i in items or () if isinstance(i, dict) and i.get(id_field) == template_id), None)
        return None

    def _check_group(self, action: str, group_id: Any) -> None:
        if not isinstance(group_id, str):
            self._refuse(f"{action} without a group id")
        if group_id in self.scope.pinned or self._owns(group_id):
            return
        self._refuse(f"{action} on {group_id}, a group that is neither tagged with stack "
                     f"{self.scope.stack!r} nor pinned by the configuration")

    def _check_tags(self, action: str, params: dict[str, Any]) -> None:
        match = _TAG_RESOURCE.match(str(params.get("Resource") or ""))
        if match is None:
            self._refuse(f"{action} on {str(params.get('Resource'))[:80]!r}, which is not a security group")
        if self.region and match["region"] != self.region:
            self._refuse(f"{action} on a group of region {match['region']}, not {self.region}")
        keys = []
        for name in ("ReplaceTags", "DeleteTags"):
            items = params.get(name) or []
            if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
                self._refuse(f"{action} with a malformed {name}")
            keys += [str(t.get("TagKey")) for t in items]
        own = sorted(k for k in keys if k.lower().startswith(_OWN_TAG_PREFIX))
        if own and self._is_move(params):
            # A `moved` block's rewrite: only the address, only on a group this stack owns (a
            # pinned group carries no ownership tags), only to an address a moved block names.
            if not self._owns(match["id"]):
                self._refuse(f"{action} would move {match['id']}, a group not tagged with stack {self.scope.stack!r}")
            return
        if own:
            self._refuse(f"{action} would change the ownership tag {own[0]} (set only at creation)")
        self._check_group(action, match["id"])

    def _is_move(self, params: dict[str, Any]) -> bool:
        """Whether `params` is exactly a moved block's address rewrite (nothing else in the call)."""
        if set(params) != {"Resource", "ReplaceTags"}:
            return False
        items = params["ReplaceTags"]
        if len(items) != 1 or set(items[0]) != {"TagKey", "TagValue"} or items[0]["TagKey"] != ADDRESS_TAG:
            return False
        return items[0]["TagValue"] in self.scope.moved_to

    def _check_binding(self, action: str, params: dict[str, Any]) -> None:
        instances = params.get("InstanceIds")
        if not isinstance(instances, list) or not all(isinstance(i, str) for i in instances):
            self._refuse(f"{action} without a list of instance ids")
        groups = params.get("SecurityGroups", params.get("SecurityGroupIds"))
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            self._refuse(f"{action} without a list of group ids")
        for group_id in groups if action != "DisassociateSecurityGroups" else ():
            if not (group_id in self.scope.pinned or group_id in self._created) and not self._exists(group_id):
                self._refuse(f"{action} would bind {group_id}, which does not exist")
        unnamed = [i for i in instances if i not in self.scope.instances]
        if not unnamed:
            return
        # An instance no binding names may only lose groups this stack manages (they are being
        # deleted, DESIGN §3): its new list must be its current one minus such groups.
        current = self._instance_groups(unnamed)
        for instance_id in unnamed:
            now = current.get(instance_id)
            if now is None:
                self._refuse(f"{action} on {instance_id}, an instance that no binding names and that does not exist")
            if action == "DisassociateSecurityGroups":
                removed, after = [g for g in groups if g in now], [g for g in now if g not in groups]
            elif action == "ModifyInstancesAttribute":
                removed, after = [g for g in now if g not in groups], list(groups)
            else:
                removed, after = [], now + ["(added)"]
            kept = [g for g in now if g not in removed]
            if after != kept or not removed or not all(self._owns(g) for g in removed):
                self._refuse(f"{action} on {instance_id}, an instance that no binding of the configuration names")

    # -- the cloud's answers -----------------------------------------------------------------------

    def _owns(self, group_id: str) -> bool:
        with self._lock:
            known = self._owned.get(group_id)
        if known is not None:
            return known
        groups = self._describe(group_id)
        owned = any(isinstance(t, dict) and t.get("Key") == STACK_TAG and t.get("Value") == self.scope.stack
                    for g in groups for t in g.get("TagSet") or ())
        with self._lock:
            self._owned[group_id] = owned
        return owned

    def _exists(self, group_id: str) -> bool:
        return bool(self._describe(group_id))

    def _describe(self, group_id: str) -> list[dict[str, Any]]:
        try:
            body = self.inner.call("vpc", "DescribeSecurityGroups", {"SecurityGroupIds": [group_id]})
        except CloudError as exc:
            if "NotFound" in exc.code or exc.code.startswith("InvalidParameterValue"):
                return []
            raise
        groups = body.get("SecurityGroupSet") if isinstance(body, dict) else None
        return [g for g in groups or () if isinstance(g, dict) and g.get("SecurityGroupId") == group_id]

    def _instance_groups(self, instance_ids: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for start in range(0, len(instance_ids), 100):
            body = self.inner.call("cvm", "DescribeInstances",
                                   {"InstanceIds": instance_ids[start:start + 100], "Limit": 100})
            for instance in (body.get("InstanceSet") if isinstance(body, dict) else None) or ():
                if isinstance(instance, dict) and isinstance(instance.get("InstanceId"), str):
                    found[instance["InstanceId"]] = [g for g in instance.get("SecurityGroupIds") or () if isinstance(g, str)]
        return found

    @staticmethod
    def _refuse(message: str) -> None:
        raise CloudError(OUT_OF_SCOPE, f"refused by sgplan: {message}")
