"""Planning parameter templates (issue 17): match configured template blocks to live templates,
and plan creates, member-level edits, renames and deletes.

Identity as for groups (DESIGN §3): a template created by sgplan carries `sgplan-stack` and
`sgplan-address` from its create call; a pinned `id` adopts an existing template (no tags added,
never deleted). A managed template whose block is gone is deleted after every rule that names it
has gone (stage DELETE_TEMPLATES, after the groups' stages).

Member changes are the minimal atomic call per template (docs/tencent-api.md, "Parameter
templates"): AddTemplateMember (only additions), DeleteTemplateMember (only removals) or
ModifyTemplateMember (both, in one atomic step). Never delete + create for a member change.
Members are compared as sets (a template is a set: order does not change what it matches).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from sgplan.diagnostics import Diagnostic, error, warning
from sgplan.model import (
    ADDRESS_TAG,
    STACK_TAG,
    TEMPLATE_FIELDS,
    TEMPLATE_KINDS,
    CloudState,
    GroupRef,
    SecurityGroup,
    TemplateSpec,
)
from sgplan.plan.operation import Operation, Stage, placeholder
from sgplan.plan.plan import ResourceChange

# HCL kind → (API name stem, id field, name field, members field of Create, rule field)
_API: dict[str, tuple[str, str, str, str]] = {
    "address_template": ("AddressTemplate", "AddressTemplateId", "AddressTemplateName", "Addresses"),
    "address_template_group": ("AddressTemplateGroup", "AddressTemplateGroupId", "AddressTemplateGroupName",
                               "AddressTemplateIds"),
    "service_template": ("ServiceTemplate", "ServiceTemplateId", "ServiceTemplateName", "Services"),
    "service_template_group": ("ServiceTemplateGroup", "ServiceTemplateGroupId", "ServiceTemplateGroupName",
                               "ServiceTemplateIds"),
}
# Members per template and per template group: DescribeTemplateLimits' documented default.
DEFAULT_MEMBER_QUOTA = 20
# Creation order: templates before the groups that hold them.
_ORDER = ("address_template", "service_template", "address_template_group", "service_template_group")
_RULE_FIELD = {"address_template": "address_template_id", "address_template_group": "address_template_group_id",
               "service_template": "service_template_id", "service_template_group": "service_template_group_id"}


@dataclass(frozen=True, slots=True)
class LiveTemplate:
    """A live template of any kind, its members as the API lists them."""

    kind: str
    id: str
    name: str
    members: tuple[str, ...]
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def stack(self) -> str | None:
        return dict(self.tags).get(STACK_TAG)

    @property
    def address(self) -> str | None:
        return dict(self.tags).get(ADDRESS_TAG)


def live_templates(live: CloudState) -> list[LiveTemplate]:
    out = []
    for kind, (attr, members) in TEMPLATE_KINDS.items():
        for item in getattr(live, attr):
            out.append(LiveTemplate(kind, item.id, item.name, tuple(getattr(item, members)), tuple(item.tags)))
    return out


@dataclass
class TemplatePlan:
    ids: dict[str, str] = field(default_factory=dict)  # address → live id (managed or pinned)
    new: list[str] = field(default_factory=list)  # addresses this plan creates
    changes: list[ResourceChange] = field(default_factory=list)
    ops: list[Operation] = field(default_factory=list)
    diags: list[Diagnostic] = field(default_factory=list)
    deleted: dict[str, str] = field(default_factory=dict)  # id → address of templates deleted
    # Template contents after the plan: key (live id, or `<address>.id` for a new one) → members,
    # members of groups spelled as keys too (analysis/planned.py reads them from `after`).


def _canonical(kind: str, member: str) -> str:
    from sgplan.model import canonical_address, canonical_service

    try:
        if kind == "address_template":
            return canonical_address(member)
        if kind == "service_template":
            return canonical_service(member)
    except ValueError:
        pass
    return member


# `[module.m["k"].]<kind>.<label>[key]`: keys may hold dots, so the address is split from its end.
_LOCAL = re.compile(r'(?:^|\.)(?P<kind>address_template_group|address_template|service_template_group|service_template)'
                    r'\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\[(?:\d+|"(?:[^"\\]|\\.)*")\])?)$')


def _module(address: str) -> str | None:
    """`module.m["k"]` of `module.m["k"].address_template.x["a"]`; None at the root."""
    match = _LOCAL.search(address)
    if match is None:
        head, _, _ = address.rpartition(".")
        head, _, _ = head.rpartition(".")
        return head or None
    return address[: match.start()] or None


def _name(address: str) -> str:
    """The local name, key included: `x["a.b"]` of `address_template.x["a.b"]`."""
    match = _LOCAL.search(address)
    return match.group("name") if match else address.rpartition(".")[2]


def plan_templates(desired: Sequence[TemplateSpec], live: CloudState, stack: str | None,
                   desired_groups: Sequence[SecurityGroup] = ()) -> TemplatePlan:
    result = TemplatePlan()
    if not desired and not any(t.stack == stack for t in live_templates(live) if stack):
        return result
    by_id = {t.id: t for t in live_templates(live)}
    managed = {t.address: t for t in by_id.values() if stack and t.stack == stack and t.address}
    matched: dict[str, LiveTemplate] = {}
    for spec in desired:
        if spec.id is not None:
            found = by_id.get(spec.id)
            if found is None or found.kind != spec.kind:
                result.diags.append(error(f"{spec.kind} id {spec.id} does not exist in this region", spec.origin,
                                          spec.address))
                continue
            matched[spec.address] = found
        elif spec.address in managed and managed[spec.address].kind == spec.kind:
            matched[spec.address] = managed[spec.address]
    result.ids = {a: t.id for a, t in matched.items()}
    result.new = [s.address for s in desired if s.address not in matched]
    resolve = {**result.ids, **{a: placeholder(a) for a in result.new}}

    def member_ids(spec: TemplateSpec) -> list[str]:
        return [resolve.get(m.address, str(m)) if isinstance(m, GroupRef) else str(m) for m in spec.members]

    for spec in desired:
        if len(spec.members) > DEFAULT_MEMBER_QUOTA:
            # Not an error: an account's quota may be raised; the API answers LimitExceeded otherwise.
            result.diags.append(warning(
                f"{len(spec.members)} members: more than the default quota of {DEFAULT_MEMBER_QUOTA} per template "
                "(DescribeTemplateLimits); the cloud refuses it unless the account's quota is higher",
                spec.origin, spec.address))
    for kind in _ORDER:
        stem, id_field, name_field, members_field = _API[kind]
        for spec in (s for s in desired if s.kind == kind):
            member_attr = TEMPLATE_KINDS[kind][1]
            # Members in the spelling rules use: a live id, or `address_template.x.id` for a new one.
            after = {"name": spec.name, member_attr: [result.ids.get(m.address, str(m)) if isinstance(m, GroupRef)
                                                      else m for m in spec.members]}
            current = matched.get(spec.address)
            if current is None:
                if spec.address not in result.new:
                    continue
                params: dict[str, Any] = {name_field: spec.name, members_field: member_ids(spec)}
                if stack:
                    params["Tags"] = [{"Key": STACK_TAG, "Value": stack}, {"Key": ADDRESS_TAG, "Value": spec.address}]
                result.ops.append(Operation(
                    stage=Stage.CREATE_TEMPLATES, service="vpc", action=f"Create{stem}", params=params,
                    address=spec.address, group=placeholder(spec.address),
                    summary=f"create {spec.address} ({len(spec.members)} members)",
                ))
                result.changes.append(ResourceChange(
                    address=spec.address, type=kind, name=_name(spec.address), actions=("create",),
                    before=None, after=after, module_address=_module(spec.address)))
                continue
            before = {"name": current.name, member_attr: list(current.members)}
            live_members = [_canonical(kind, m) for m in current.members]
            wanted = member_ids(spec)
            added = [m for m in wanted if m not in live_members]
            removed = [current.members[i] for i, m in enumerate(live_members) if m not in wanted]
            ops: list[Operation] = []
            if current.name != spec.name:
                ops.append(Operation(
                    stage=Stage.CREATE_TEMPLATES, service="vpc", action=f"Modify{stem}Attribute",
                    params={id_field: current.id, name_field: spec.name}, address=spec.address, group=current.id,
                    summary=f"rename {spec.address} ({current.id}): {current.name} → {spec.name}"))
            if added or removed:
                if added and removed:
                    action = "ModifyTemplateMember"
                    params = {"TemplateId": current.id,
                              "OriginalTemplateMember": [{"Member": m} for m in removed],
                              "TemplateMember": [{"Member": m} for m in added]}
                elif added:
                    action, params = "AddTemplateMember", {"TemplateId": current.id,
                                                           "TemplateMember": [{"Member": m} for m in added]}
                else:
                    action, params = "DeleteTemplateMember", {"TemplateId": current.id,
                                                              "TemplateMember": [{"Member": m} for m in removed]}
                parts = [f"+{m}" for m in added] + [f"-{m}" for m in removed]
                ops.append(Operation(
                    stage=Stage.CREATE_TEMPLATES, service="vpc", action=action, params=params,
                    address=spec.address, group=current.id,
                    summary=f"update members of {spec.address} ({current.id}): {', '.join(parts)}"))
            notes: tuple[str, ...] = ()
            if added or removed:
                notes = (f"members: {', '.join([f'+{m}' for m in added] + [f'-{m}' for m in removed])}",)
            result.ops.extend(ops)
            result.changes.append(ResourceChange(
                address=spec.address, type=kind, name=_name(spec.address),
                actions=("update",) if ops else ("no-op",), before=before,
                after=after,
                module_address=_module(spec.address), id=current.id, notes=notes))

    # Managed templates whose block is gone: deleted after the rules (and groups) naming them.
    configured = {s.address for s in desired}
    doomed = sorted((t for a, t in managed.items() if a not in configured and t.id not in result.ids.values()),
                    key=lambda t: (_ORDER.index(t.kind) * -1, t.address or ""))
    result.deleted = {t.id: t.address or t.id for t in doomed}
    for t in doomed:
        stem, id_field, _, _ = _API[t.kind]
        address = t.address or t.id
        result.ops.append(Operation(
            stage=Stage.DELETE_TEMPLATES, service="vpc", action=f"Delete{stem}", params={id_field: t.id},
            address=address, group=t.id, summary=f"delete {address} ({t.id})"))
        result.changes.append(ResourceChange(
            address=address, type=t.kind, name=_name(address), actions=("delete",),
            before={"name": t.name, TEMPLATE_KINDS[t.kind][1]: list(t.members)}, after=None,
            module_address=_module(address), id=t.id))
    # A kept template group may not hold a template this plan deletes, nor may a kept rule name one.
    for spec in desired:
        for m in spec.members:
            if isinstance(m, str) and m in result.deleted:
                result.diags.append(error(f"{spec.address} holds {m} ({result.deleted[m]}), which this plan deletes",
                                          spec.origin, spec.address))
    for g in desired_groups:
        for rule in (*g.ingress, *g.egress):
            for name in TEMPLATE_FIELDS:
                value = getattr(rule, name)
                if isinstance(value, str) and value in result.deleted:
                    result.diags.append(error(f"{name}: {value} is {result.deleted[value]}, which this plan deletes",
                                              rule.origin, g.address))
    return result


def template_users(deleted: Mapping[str, str], groups: Iterable[SecurityGroup], managed: set[str]) -> dict[str, list[str]]:
    """Template id → ids of the groups outside `managed` whose rules name it (they keep it alive)."""
    out: dict[str, list[str]] = {}
    for g in groups:
        if not g.id or g.id in managed:
            continue
        for rule in (*g.ingress, *g.egress):
            for name in TEMPLATE_FIELDS:
                value = getattr(rule, name)
                if isinstance(value, str) and value in deleted:
                    users = out.setdefault(value, [])
                    if g.id not in users:
                        users.append(g.id)
    return out


_KIND_BY_PREFIX = (("ipmg-", "AddressTemplateGroup"), ("ppmg-", "ServiceTemplateGroup"),
                   ("ipm-", "AddressTemplate"), ("ppm-", "ServiceTemplate"))
_MEMBER_FIELD = {"AddressTemplate": "AddressSet", "AddressTemplateGroup": "AddressTemplateIdSet",
                 "ServiceTemplate": "ServiceSet", "ServiceTemplateGroup": "ServiceTemplateIdSet"}


def template_kind_of(template_id: str) -> str | None:
    """The API kind ("AddressTemplate", …) of a template id by its prefix."""
    return next((kind for prefix, kind in _KIND_BY_PREFIX if template_id.startswith(prefix)), None)


def member_field_of(kind: str) -> str:
    return _MEMBER_FIELD[kind]
