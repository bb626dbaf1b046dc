"""Parameter-template write actions of the fake (issue 17): create, rename, member edits, delete
of address templates (`ipm-`), address template groups (`ipmg-`), service templates (`ppm-`)
and service template groups (`ppmg-`).

Semantics from vpc api.json / examples.json as tccli ships them (docs/tencent-api.md, "Parameter
templates"); where the metadata is silent the choice is written next to the code:
- Member syntax: an address is an IPv4/IPv6 address, CIDR block or `a-b` range of one family; a
  service is `tcp|udp:PORTS` (`80`, `8000-8010`, `80,443`, `all`) or `icmp|icmpv6|gre|all`
  (case-insensitive, stored lower-case as the examples answer `tcp: 8080` spelled lower).
- A member given twice, or added when present → InvalidParameterValue (the common code: the
  action's own list is not in the metadata tccli ships).
- DeleteTemplateMember / ModifyTemplateMember of a member that is not there → ResourceNotFound.
- ModifyTemplateMember is atomic: every original must exist, then the originals are removed and
  the new members take the place of the first original (the rest appended), in one step.
- Deleting a template a security-group rule or a template group still names → ResourceInUse.
- Quotas (state `Limits`), the names and values of DescribeTemplateLimits' documented example:
  AddressTemplateMemberLimit / ServiceTemplateMemberLimit (members per template, 20),
  AddressTemplateGroupMemberLimit / ServiceTemplateGroupMemberLimit (templates per group, 20);
  and TemplateLimit (templates of one kind per region, 1000, not in the metadata) → LimitExceeded.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from sgplan.cloud.base import CloudError
from sgplan.cloud.policy import blank
from sgplan.model import MAX_TEMPLATE_NAME, canonical_address, canonical_service

TEMPLATE_LIMITS = {
    "TemplateLimit": 1000,
    "AddressTemplateMemberLimit": 20,
    "AddressTemplateGroupMemberLimit": 20,
    "ServiceTemplateMemberLimit": 20,
    "ServiceTemplateGroupMemberLimit": 20,
}
_MEMBER_LIMIT = {"AddressTemplates": "AddressTemplateMemberLimit",
                 "AddressTemplateGroups": "AddressTemplateGroupMemberLimit",
                 "ServiceTemplates": "ServiceTemplateMemberLimit",
                 "ServiceTemplateGroups": "ServiceTemplateGroupMemberLimit"}


# kind → (id prefix, id field, name field, member field, singular answer key)
KINDS: dict[str, tuple[str, str, str, str, str]] = {
    "AddressTemplates": ("ipm-", "AddressTemplateId", "AddressTemplateName", "AddressSet", "AddressTemplate"),
    "AddressTemplateGroups": ("ipmg-", "AddressTemplateGroupId", "AddressTemplateGroupName", "AddressTemplateIdSet",
                              "AddressTemplateGroup"),
    "ServiceTemplates": ("ppm-", "ServiceTemplateId", "ServiceTemplateName", "ServiceSet", "ServiceTemplate"),
    "ServiceTemplateGroups": ("ppmg-", "ServiceTemplateGroupId", "ServiceTemplateGroupName", "ServiceTemplateIdSet",
                              "ServiceTemplateGroup"),
}
_MEMBER_OF = {"AddressTemplateGroups": "AddressTemplates", "ServiceTemplateGroups": "ServiceTemplates"}

MUTATING = frozenset({
    "CreateAddressTemplate", "ModifyAddressTemplateAttribute", "DeleteAddressTemplate",
    "CreateAddressTemplateGroup", "ModifyAddressTemplateGroupAttribute", "DeleteAddressTemplateGroup",
    "CreateServiceTemplate", "ModifyServiceTemplateAttribute", "DeleteServiceTemplate",
    "CreateServiceTemplateGroup", "ModifyServiceTemplateGroupAttribute", "DeleteServiceTemplateGroup",
    "AddTemplateMember", "DeleteTemplateMember", "ModifyTemplateMember",
})


class TemplateService:
    """The write actions over the engine's template lists (`templates()` gives the live dict)."""

    def __init__(
        self,
        templates: Callable[[], dict[str, list[dict[str, Any]]]],
        groups: Callable[[], Mapping[str, Mapping[str, Any]]],
        limits: Callable[[], Mapping[str, int]],
        new_suffix: Callable[[], str],
        now: Callable[[], str],
    ) -> None:
        self._templates = templates
        self._groups = groups
        self._limits = limits
        self._suffix = new_suffix
        self._now = now

    def handlers(self) -> dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]]:
        out: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {}
        for kind, (_, _, _, _, singular) in KINDS.items():
            out[f"Create{singular}"] = lambda p, kind=kind: self._create(kind, p)
            out[f"Modify{singular}Attribute"] = lambda p, kind=kind: self._modify(kind, p)
            out[f"Delete{singular}"] = lambda p, kind=kind: self._delete(kind, p)
        out["DescribeTemplateLimits"] = lambda p: {
            "TemplateLimit": {name: self._limit(name) for name in _MEMBER_LIMIT.values()}}
        out["AddTemplateMember"] = lambda p: self._members(p, "add")
        out["DeleteTemplateMember"] = lambda p: self._members(p, "delete")
        out["ModifyTemplateMember"] = lambda p: self._members(p, "modify")
        return out

    # -- helpers ------------------------------------------------------------------------------

    def _limit(self, name: str) -> int:
        return int(self._limits().get(name, TEMPLATE_LIMITS[name]))

    @staticmethod
    def _name(params: Mapping[str, Any], field: str, required: bool) -> str | None:
        value = params.get(field)
        if blank(value):
            if required:
                raise CloudError("MissingParameter", f"{field} is required")
            return None
        if not isinstance(value, str):
            raise CloudError("InvalidParameterValue", f"{field} must be a string")
        if len(value) > MAX_TEMPLATE_NAME:
            raise CloudError("InvalidParameterValue", f"{field} is longer than {MAX_TEMPLATE_NAME} characters")
        return value

    def _find(self, kind: str, template_id: Any) -> dict[str, Any]:
        prefix, id_field = KINDS[kind][0], KINDS[kind][1]
        if blank(template_id):
            raise CloudError("MissingParameter", f"{id_field} is required")
        if not isinstance(template_id, str) or not template_id.startswith(prefix):
            raise CloudError("InvalidParameterValue", f"{template_id!r} is not a {prefix}… id")
        for item in self._templates()[kind]:
            if item[id_field] == template_id:
                return item
        raise CloudError("ResourceNotFound", f"{template_id} does not exist")

    def _canonical(self, kind: str, member: Any) -> str:
        if not isinstance(member, str) or not member.strip():
            raise CloudError("InvalidParameterValue", f"{member!r} is not a template member")
        try:
            if kind == "AddressTemplates":
                return canonical_address(member)
            if kind == "ServiceTemplates":
                return canonical_service(member)
        except ValueError as exc:
            raise CloudError("InvalidParameterValue", str(exc)) from None
        self._find(_MEMBER_OF[kind], member)  # a group's member is a template that exists
        return member

    def _check_members(self, kind: str, members: list[str]) -> None:
        if len(set(members)) != len(members):
            raise CloudError("InvalidParameterValue", "a member is given twice")
        limit_name = _MEMBER_LIMIT[kind]
        if len(members) > self._limit(limit_name):
            raise CloudError("LimitExceeded", f"more than {self._limit(limit_name)} members in one template")

    def _given_members(self, kind: str, params: Mapping[str, Any], plain: str, extra: str | None,
                       extra_field: str | None) -> tuple[list[str], dict[str, str]] | None:
        """(members, descriptions) from the plain list or the *Extra list; None when neither is given."""
        descriptions: dict[str, str] = {}
        if extra and not blank(params.get(extra)):
            raw = params[extra]
            if not isinstance(raw, list) or not all(isinstance(i, Mapping) for i in raw):
                raise CloudError("InvalidParameterValue", f"{extra} must be a list of objects")
            members = []
            for item in raw:
                member = self._canonical(kind, item.get(extra_field))
                members.append(member)
                descriptions[member] = str(item.get("Description") or "")
            return members, descriptions
        raw = params.get(plain)
        if blank(raw):
            return None
        if not isinstance(raw, list):
            raise CloudError("InvalidParameterValue", f"{plain} must be a list")
        return [self._canonical(kind, m) for m in raw], descriptions

    def _set_members(self, kind: str, item: dict[str, Any], members: list[str], descriptions: Mapping[str, str]) -> None:
        item[KINDS[kind][3]] = list(members)
        now = self._now()
        if kind == "AddressTemplates":
            old = {e.get("Address"): e for e in item.get("AddressExtraSet") or []}
            item["AddressExtraSet"] = [{"Address": m, "Description": descriptions.get(m, (old.get(m) or {}).get("Description", "")),
                                        "UpdatedTime": now} for m in members]
        elif kind == "ServiceTemplates":
            old = {e.get("Service"): e for e in item.get("ServiceExtraSet") or []}
            item["ServiceExtraSet"] = [{"Service": m, "Description": descriptions.get(m, (old.get(m) or {}).get("Description", "")),
                                        "UpdatedTime": now} for m in members]

    def _referenced_by(self, kind: str, template_id: str) -> list[str]:
        """Groups whose rules, and template groups whose members, name `template_id`."""
        spec, field = {
            "AddressTemplates": ("AddressTemplate", "AddressId"),
            "AddressTemplateGroups": ("AddressTemplate", "AddressGroupId"),
            "ServiceTemplates": ("ServiceTemplate", "ServiceId"),
            "ServiceTemplateGroups": ("ServiceTemplate", "ServiceGroupId"),
        }[kind]
        users = [
            group_id for group_id, group in self._groups().items()
            if any((rule.get(spec) or {}).get(field) == template_id
                   for d in ("Ingress", "Egress") for rule in group["SecurityGroupPolicySet"][d])
        ]
        for group_kind, member_kind in _MEMBER_OF.items():
            if member_kind == kind:
                users += [g[KINDS[group_kind][1]] for g in self._templates()[group_kind]
                          if template_id in g[KINDS[group_kind][3]]]
        return users

    # -- actions ------------------------------------------------------------------------------

    def _create(self, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
        prefix, id_field, name_field, member_field, singular = KINDS[kind]
        name = self._name(params, name_field, required=True)
        if kind in _MEMBER_OF:
            given = self._given_members(kind, params, member_field.replace("IdSet", "Ids"), None, None)
            if given is None:
                raise CloudError("MissingParameter", f"{member_field.replace('IdSet', 'Ids')} is required")
        else:
            plain, extra, extra_field = (("Addresses", "AddressesExtra", "Address") if kind == "AddressTemplates"
                                         else ("Services", "ServicesExtra", "Service"))
            given = self._given_members(kind, params, plain, extra, extra_field) or ([], {})
        members, descriptions = given
        self._check_members(kind, members)
        tags = params.get("Tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, Mapping) and not blank(t.get("Key")) for t in tags):
            raise CloudError("InvalidParameterValue", "Tags must be a list of {Key, Value}")
        if len({str(t["Key"]) for t in tags}) != len(tags):
            raise CloudError("InvalidParameterValue", "a tag key is given twice")
        items = self._templates()[kind]
        if len(items) >= self._limit("TemplateLimit"):
            raise CloudError("LimitExceeded", f"the region already has {len(items)} {kind}")
        taken = {i[id_field] for i in items}
        new_id = prefix + self._suffix()
        while new_id in taken:
            new_id = prefix + self._suffix()
        item: dict[str, Any] = {
            id_field: new_id,
            name_field: name,
            "CreatedTime": self._now(),
            "TagSet": [{"Key": str(t["Key"]), "Value": "" if t.get("Value") is None else str(t["Value"])} for t in tags],
        }
        self._set_members(kind, item, members, descriptions)
        items.append(item)
        answer = dict(item)
        if kind == "AddressTemplateGroups":
            answer["AddressTemplateSet"] = []
        if kind == "ServiceTemplateGroups":
            answer["ServiceTemplateSet"] = []
        return {singular: answer}

    def _modify(self, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
        _, id_field, name_field, member_field, _ = KINDS[kind]
        item = self._find(kind, params.get(id_field))
        name = self._name(params, name_field, required=False)
        if kind in _MEMBER_OF:
            given = self._given_members(kind, params, member_field.replace("IdSet", "Ids"), None, None)
        else:
            plain, extra, extra_field = (("Addresses", "AddressesExtra", "Address") if kind == "AddressTemplates"
                                         else ("Services", "ServicesExtra", "Service"))
            given = self._given_members(kind, params, plain, extra, extra_field)
        if given is not None:
            self._check_members(kind, given[0])
        if name is not None:
            item[name_field] = name
        if given is not None:
            self._set_members(kind, item, *given)
        return {}

    def _delete(self, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
        id_field = KINDS[kind][1]
        item = self._find(kind, params.get(id_field))
        users = self._referenced_by(kind, item[id_field])
        if users:
            raise CloudError("ResourceInUse", f"{item[id_field]} is still used by {', '.join(users[:5])}")
        self._templates()[kind].remove(item)
        return {}

    @staticmethod
    def _stored(kind: str, member: str) -> str:
        """A stored member in canonical spelling (a state file may spell it otherwise)."""
        try:
            if kind == "AddressTemplates":
                return canonical_address(member)
            if kind == "ServiceTemplates":
                return canonical_service(member)
        except ValueError:
            pass
        return member

    def _kind_of(self, template_id: Any) -> str:
        if blank(template_id):
            raise CloudError("MissingParameter", "TemplateId is required")
        if isinstance(template_id, str):
            # Longest prefix first: `ipmg-` is not an `ipm-` id.
            for kind, (prefix, *_rest) in sorted(KINDS.items(), key=lambda kv: -len(kv[1][0])):
                if template_id.startswith(prefix):
                    return kind
        raise CloudError("InvalidParameterValue", f"{template_id!r} is not a template id (ipm-, ipmg-, ppm-, ppmg-)")

    def _member_list(self, kind: str, params: Mapping[str, Any], field: str) -> tuple[list[str], dict[str, str]]:
        raw = params.get(field)
        if blank(raw):
            raise CloudError("MissingParameter", f"{field} is required")
        if not isinstance(raw, list) or not all(isinstance(m, Mapping) for m in raw):
            raise CloudError("InvalidParameterValue", f"{field} must be a list of {{Member, Description}}")
        members = [self._canonical(kind, m.get("Member")) for m in raw]
        if len(set(members)) != len(members):
            raise CloudError("InvalidParameterValue", f"{field}: a member is given twice")
        return members, {m: str(r.get("Description") or "") for m, r in zip(members, raw)}

    def _members(self, params: Mapping[str, Any], how: str) -> dict[str, Any]:
        kind = self._kind_of(params.get("TemplateId"))
        item = self._find(kind, params["TemplateId"])
        current = [self._stored(kind, m) for m in item[KINDS[kind][3]]]
        if how == "modify":
            originals, _ = self._member_list(kind, params, "OriginalTemplateMember")
            new, descriptions = self._member_list(kind, params, "TemplateMember")
            missing = [m for m in originals if m not in current]
            if missing:
                raise CloudError("ResourceNotFound", f"{', '.join(missing)} is not a member of {params['TemplateId']}")
            at = min(current.index(m) for m in originals)
            kept = [m for m in current if m not in originals]
            clash = [m for m in new if m in kept]
            if clash:
                raise CloudError("InvalidParameterValue", f"{', '.join(clash)} is already a member")
            result = [*kept[:at], *new, *kept[at:]]
        else:
            given, descriptions = self._member_list(kind, params, "TemplateMember")
            if how == "add":
                present = [m for m in given if m in current]
                if present:
                    raise CloudError("InvalidParameterValue", f"{', '.join(present)} is already a member")
                result = current + given
            else:
                missing = [m for m in given if m not in current]
                if missing:
                    raise CloudError("ResourceNotFound", f"{', '.join(missing)} is not a member of {params['TemplateId']}")
                result = [m for m in current if m not in given]
        self._check_members(kind, result)
        self._set_members(kind, item, result, descriptions)
        return {}
