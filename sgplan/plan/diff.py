"""`make_plan`: compare the desired state with the live one and emit resource changes plus the
ordered operations of DESIGN §6 (create → edit → bind → strip references → unbind → delete).

Pure: no I/O. Group identity lives in `match.py`, rule edit scripts in `rules.py`, bindings in
`bindings.py`; this module ties them together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import sgplan
from sgplan.analysis.access import Templates, gc_paused
from sgplan.analysis.exposure import TransientExposure
from sgplan.diagnostics import Diagnostic, error, has_errors, warning
from sgplan.model import (
    ADDRESS_TAG,
    DEFAULT_RULES_PER_DIRECTION,
    PREVENT_DESTROY_TAG,
    STACK_TAG,
    CloudState,
    DesiredState,
    Direction,
    GroupRef,
    Rule,
    SecurityGroup,
)
from sgplan.cloud.base import tag_resource
from sgplan.plan.bindings import binding_changes
from sgplan.plan.match import match_groups
from sgplan.plan.operation import Operation, Stage, placeholder
from sgplan.plan.plan import Fingerprint, Plan, ResourceChange
from sgplan.plan.ordering import make_units, safe_order, with_footprints
from sgplan.plan.rules import edit_script, rule_calls, rule_changes, widening_free_calls
from sgplan.plan.simulate import SimState
from sgplan.plan.templates import plan_templates

DIRECTIONS = (Direction.INGRESS, Direction.EGRESS)


def make_plan(desired: DesiredState, live: CloudState, *, cloud: str, region: str) -> tuple[Plan | None, list[Diagnostic]]:
    """The plan that makes `live` match `desired`, or None with error diagnostics.

    >>> plan, diags = make_plan(DesiredState(), CloudState(), cloud="file:x", region="ap-guangzhou")
    >>> plan.has_changes, diags
    (False, [])
    """
    # Planning allocates a value per rule of every group (before/after, edit scripts) and
    # makes no reference cycles: with an estate on the heap, each automatic collection would
    # rescan it, which made this stage grow faster than the estate (issue 8).
    with gc_paused():
        return _make_plan(desired, live, cloud=cloud, region=region)


def _make_plan(desired: DesiredState, live: CloudState, *, cloud: str, region: str) -> tuple[Plan | None, list[Diagnostic]]:
    stack = desired.settings.stack
    # Parameter templates first (issue 17): rules naming a template of this configuration get
    # its live id, or keep a GroupRef that becomes the placeholder of the template's create.
    templates = plan_templates(desired.templates, live, stack, desired.groups)
    if templates.ids:
        desired = replace(desired, groups=tuple(_with_template_ids(d, templates.ids) for d in desired.groups))
    matching, diags = match_groups(desired, live, stack)
    diags = list(diags) + templates.diags
    matched = matching.matched

    by_address = {d.address: d for d in desired.groups}
    replaced = {a: g for a, g in matched.items() if _needs_replace(by_address.get(a), g)}
    for d in desired.groups:
        g = matched.get(d.address)
        if g is not None and d.id is not None and g.project_id != d.project_id:
            diags.append(
                error(f"project_id of pinned group {d.id} cannot change ({g.project_id} → {d.project_id})", d.origin, d.address)
            )
    ids = {a: g.id for a, g in matched.items() if a not in replaced and g.id}
    new = [d.address for d in desired.groups if d.address not in ids]
    rewrite = {g.id: a for a, g in replaced.items() if g.id}  # old id → address of its new copy
    deleted_groups = list(matching.deletes) + list(replaced.values())
    deleted = {g.id: g.address or g.id for g in deleted_groups if g.id}
    resolve = {**ids, **{a: placeholder(a) for a in new}, **{a: placeholder(a) for a in templates.new}}

    groups = [_resolved_group(d, ids, rewrite) for d in desired.groups]
    diags += _check_rules(groups, set(ids) | set(new), deleted)

    changes: list[ResourceChange] = [c for c in templates.changes if "delete" not in c.actions]
    ops: list[Operation] = list(templates.ops)
    touched: dict[str, int] = {}
    hcl: dict[Rule, dict] = {}  # one before/after dict per distinct rule (see _hcl)
    alternatives: dict[str, tuple[Operation, ...]] = {}

    # Stage 1: create new groups (and replacements) in reference order.
    create_changes, create_ops, create_diags = _creates(
        [d for d in groups if d.address in new], resolve, stack, replaced, hcl
    )
    ops += create_ops
    diags += create_diags
    by_address = {c.address: c for c in create_changes}

    # Stage 2: edit existing groups in place.
    for d in groups:
        if d.address in by_address:
            changes.append(by_address[d.address])
            continue
        g = matched.get(d.address)
        if g is None:
            continue
        change, group_ops, group_diags = _update(d, g, resolve, alternatives, hcl, region)
        source = matching.moved.get(d.address)
        if source is not None and d.address not in replaced:
            group_ops = [*group_ops, _move_call(source, d, g, region)]
            change = replace(change, actions=change.actions if change.is_change else ("update",),
                             notes=(*change.notes, f"moved from {source}: the group keeps its id and rules"),
                             previous_address=source)
        changes.append(change)
        ops += group_ops
        diags += group_diags
        if group_ops:
            touched[g.id] = _version(g)

    # Groups to delete (removed from the configuration); replaced groups were shown above.
    for g in matching.deletes:
        if g.prevent_destroy:
            diags.append(error(f"{g.address} ({g.id}) has prevent_destroy set and would be deleted", address=g.address))
        changes.append(
            ResourceChange(
                address=g.address or g.id or "",
                type="security_group",
                name=_name(g.address or ""),
                actions=("delete",),
                before=_hcl(g, hcl),
                after=None,
                module_address=_module(g.address or ""),
                id=g.id,
            )
        )

    # Stages 3 and 5: bindings, and unbinding of groups that go away.
    bind_changes, bind_ops, bind_diags = binding_changes(
        desired.bindings, live, ids=ids, new=new, rewrite=rewrite, deleted={k: v for k, v in deleted.items() if k not in rewrite}
    )
    changes += bind_changes
    ops += bind_ops
    diags += bind_diags

    # Stages 4 and 6: strip references between groups being deleted, then delete them.
    for g in deleted_groups:
        version = _version(g)
        for direction in DIRECTIONS:
            current = g.rules(direction)
            kept = tuple(r for r in current if not (isinstance(r.security_group_id, str) and r.security_group_id in deleted and r.security_group_id != g.id))
            script = edit_script(current, kept)
            calls = rule_calls(
                script, current, kept, direction.value, group=g.id, address=g.address,
                stage=Stage.REMOVE_REFERENCES, version=version, resolve=resolve,
            )
            version += len(calls)
            ops += calls
        ops.append(
            Operation(
                stage=Stage.DELETE_GROUPS,
                service="vpc",
                action="DeleteSecurityGroup",
                params={"SecurityGroupId": g.id},
                address=g.address,
                group=g.id,
                summary=f"delete {g.address} ({g.id})",
            )
        )
        touched[g.id] = _version(g)

    changes += [c for c in templates.changes if "delete" in c.actions]

    instances = {}
    by_id = {i.instance_id: i for i in live.instances}
    for op in ops:
        for instance_id in op.instance_ids:
            instance = by_id.get(instance_id)
            if instance is not None:
                instances[instance_id] = instance.security_group_ids
    fingerprint = Fingerprint(
        groups=tuple(sorted(touched.items())),
        instances=tuple(sorted(instances.items())),
        config_hash=desired.config_hash,
        region=region,
        stack=stack,
        cloud=cloud,
    )
    if has_errors(diags):
        return None, diags
    ordered, exposures = _safe_sequence(sorted(ops, key=lambda op: op.stage), alternatives, live,
                                        [c for c in templates.changes if c.is_change])
    warnings_ = [d.message if not d.address else f"{d.address}: {d.message}" for d in diags]
    if exposures:
        warnings_.append(
            "no exposure-safe order exists for this change: during apply, "
            + "; ".join(str(x) for x in exposures[:5])
            + (f"; and {len(exposures) - 5} more" if len(exposures) > 5 else "")
            + " (apply refuses unless --allow-transient-exposure)"
        )
    plan = Plan(
        region=region,
        stack=stack,
        cloud=cloud,
        config_hash=desired.config_hash,
        fingerprint=fingerprint,
        resource_changes=tuple(changes),
        operations=tuple(ordered),
        outputs=desired.outputs,
        warnings=tuple(warnings_),
        sgplan_version=sgplan.__version__,
        transient_exposure=tuple(exposures),
    )
    return plan, diags


def with_usage(plan: Plan, usage: Mapping[str, Mapping[str, int]]) -> Plan:
    """`plan` with each group it deletes that other products still use (`usage`: group id →
    {"CLB": n, …}, from cloud/usage.group_usage) noted on its change and in the warnings: the
    API refuses such a delete (ResourceInUse) and apply refuses before its first call."""
    if not usage:
        return plan
    changes, warnings_ = [], list(plan.warnings)
    for change in plan.resource_changes:
        counts = usage.get(change.id or "") if "delete" in change.actions and change.type == "security_group" else None
        if counts:
            shown = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            note = (f"still used by {shown}: the cloud refuses to delete it until they are detached "
                    "(apply refuses before its first call)")
            change = replace(change, notes=(*change.notes, note))
            warnings_.append(f"{change.address}: {note}")
        changes.append(change)
    return replace(plan, resource_changes=tuple(changes), warnings=tuple(warnings_))


def with_template_users(plan: Plan, users: Mapping[str, Sequence[str]]) -> Plan:
    """`plan` with each template it deletes that rules outside this stack still name (`users`:
    template id → group ids, from cloud/reader.template_deletion_users) noted on its change and
    in the warnings: the API refuses the delete (ResourceInUse) and apply refuses before its
    first call (issue 17)."""
    if not users:
        return plan
    changes, warnings_ = [], list(plan.warnings)
    for change in plan.resource_changes:
        found = users.get(change.id or "") if "delete" in change.actions and change.type != "security_group" else None
        if found:
            shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            note = (f"cannot be deleted: still referenced by the rules of {shown}, not managed by this stack "
                    "(the cloud refuses with ResourceInUse; apply refuses before its first call)")
            change = replace(change, notes=(*change.notes, note))
            warnings_.append(f"{change.address}: {note}")
        changes.append(change)
    return replace(plan, resource_changes=tuple(changes), warnings=tuple(warnings_))


def _safe_sequence(
    ops: Sequence[Operation], alternatives: Mapping[str, tuple[Operation, ...]], live: CloudState,
    template_changes: Sequence[ResourceChange] = (),
) -> tuple[list[Operation], list[TransientExposure]]:
    """The calls in an exposure-safe order (DESIGN §6), each with its footprint, and what the
    chosen order would still expose when no safe order was found."""
    before = SimState.from_cloud(live)
    templates = Templates.from_state(live)
    if template_changes:
        # Both template contents under one Templates (issue 17): member edits switch the rules
        # naming a template to its planned contents at their place in the order.
        from sgplan.analysis.planned import planned_templates

        templates, renames = planned_templates(_Changes(tuple(template_changes)), live)
        holders = {g.id: set(g.template_ids) for g in (*live.address_template_groups, *live.service_template_groups)}
        switches = {}
        for change in template_changes:
            if change.id and change.id in renames:
                pairs = [(change.id, renames[change.id])]
                pairs += [(g, renames[g]) for g, members in holders.items() if change.id in members and g in renames]
                switches[change.id] = tuple(pairs)
        before = replace(before, template_renames=switches)
    ordered, exposures = safe_order(make_units(ops, dict(alternatives)), before, templates)
    return with_footprints(before, ordered), exposures


@dataclass(frozen=True)
class _Changes:
    """The template resource changes in the shape `planned_templates` reads (a plan's)."""

    resource_changes: tuple[ResourceChange, ...]


def _needs_replace(d: SecurityGroup | None, g: SecurityGroup) -> bool:
    return d is not None and d.id is None and g.project_id != d.project_id


def _version(g: SecurityGroup) -> int:
    try:
        return int(g.version or 0)
    except ValueError:
        return 0


def _module(address: str) -> str | None:
    module, _, _ = address.rpartition("security_group.")
    return module.rstrip(".") or None


def _name(address: str) -> str:
    return address.rpartition("security_group.")[2]


def _with_template_ids(d: SecurityGroup, ids: Mapping[str, str]) -> SecurityGroup:
    """`d` with references to templates that exist (managed or pinned) as their ids."""
    if not any(r.template_refs() for r in (*d.ingress, *d.egress)):
        return d
    return replace(d, ingress=tuple(r.resolved(ids) for r in d.ingress), egress=tuple(r.resolved(ids) for r in d.egress))


def _resolved_group(d: SecurityGroup, ids: Mapping[str, str], rewrite: Mapping[str, str]) -> SecurityGroup:
    """`d` with references to existing groups as ids and references to replaced groups as GroupRefs."""

    def fix(rule: Rule) -> Rule:
        if rule.security_group_id is None:
            return rule
        rule = rule.resolved(ids)
        sg = rule.security_group_id
        if isinstance(sg, str) and sg in rewrite:
            rule = replace(rule, security_group_id=GroupRef(rewrite[sg]))
        return rule

    if not any(r.security_group_id is not None for r in (*d.ingress, *d.egress)):
        return d
    return replace(d, ingress=tuple(fix(r) for r in d.ingress), egress=tuple(fix(r) for r in d.egress))


def _check_rules(groups: Sequence[SecurityGroup], known: set[str], deleted: Mapping[str, str]) -> list[Diagnostic]:
    """Problems the cloud would only report half-way through apply: duplicates, dangling refs."""
    diags = []
    for d in groups:
        for direction in DIRECTIONS:
            seen: dict[tuple, int] = {}
            for index, rule in enumerate(d.rules(direction)):
                key = rule.key()
                if key in seen:
                    diags.append(
                        error(
                            f"{direction.value} rule {index} duplicates rule {seen[key]} "
                            "(the cloud compares rules without their description)",
                            rule.origin or d.origin,
                            d.address,
                        )
                    )
                seen.setdefault(key, index)
                sg = rule.security_group_id
                if sg is None:
                    continue
                origin = rule.origin or d.origin
                if isinstance(sg, GroupRef) and sg.address not in known:
                    diags.append(error(f"reference to unknown group {sg.address}", origin, d.address))
                if isinstance(sg, str) and sg in deleted:
                    diags.append(error(f"rule refers to {sg}, which this plan deletes ({deleted[sg]})", origin, d.address))
    return diags


def _tags(d: SecurityGroup, stack: str) -> list[dict[str, str]]:
    tags = dict(d.tags)
    tags[STACK_TAG] = stack
    tags[ADDRESS_TAG] = d.address or ""
    if d.prevent_destroy:
        tags[PREVENT_DESTROY_TAG] = "true"
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _creates(
    new: Sequence[SecurityGroup], resolve: Mapping[str, str], stack: str, replaced: Mapping[str, SecurityGroup],
    hcl: dict[Rule, dict],
) -> tuple[list[ResourceChange], list[Operation], list[Diagnostic]]:
    """Create operations in an order where referenced new groups exist first.

    Rules that refer to the group itself or to a group in a reference cycle cannot be part of
    the create call (the id does not exist yet); they are inserted right after every group has
    been created, at their configured index, with Versions relative to the created group.
    """
    diags: list[Diagnostic] = []
    addresses = {d.address for d in new}
    remaining = list(new)
    created: set[str] = set()
    order: list[tuple[SecurityGroup, set[str]]] = []
    while remaining:
        pick = next(
            (d for d in remaining if _refs(d) & addresses - {d.address} <= created),
            remaining[0],
        )
        order.append((pick, set(created)))
        created.add(pick.address)
        remaining.remove(pick)

    changes, creates, follow_ups = [], [], []
    for d, before in order:
        placeholder_id = placeholder(d.address)
        body: dict[str, list] = {}
        partial: dict[Direction, tuple[Rule, ...]] = {}
        for direction in DIRECTIONS:
            rules = d.rules(direction)
            partial[direction] = tuple(r for r in rules if not (set(r.refs()) & addresses - before))
            body[direction.api] = [r.to_api(resolve) for r in partial[direction]]
        creates.append(
            Operation(
                stage=Stage.CREATE_GROUPS,
                service="vpc",
                action="CreateSecurityGroupWithPolicies",
                params={
                    "GroupName": d.name,
                    "GroupDescription": d.description,
                    "ProjectId": d.project_id,
                    "SecurityGroupPolicySet": body,
                    "Tags": _tags(d, stack),
                },
                address=d.address,
                group=placeholder_id,
                summary=f"create {d.address} ({len(d.ingress)} ingress, {len(d.egress)} egress rules)",
            )
        )
        offset = 0
        rule_lines = []
        for direction in DIRECTIONS:
            script = edit_script(partial[direction], d.rules(direction))
            calls = rule_calls(
                script, partial[direction], d.rules(direction), direction.value, group=placeholder_id,
                address=d.address, stage=Stage.CREATE_GROUPS, version=offset, relative=True, resolve=resolve,
            )
            offset += len(calls)
            follow_ups += calls
            rule_lines += rule_changes(edit_script((), d.rules(direction)), (), d.rules(direction), direction.value)
        old = replaced.get(d.address)
        if old is not None and (old.prevent_destroy or d.prevent_destroy):
            diags.append(
                error(f"{d.address} ({old.id}) has prevent_destroy set and would be replaced (project_id change)", d.origin, d.address)
            )
        changes.append(
            ResourceChange(
                address=d.address,
                type="security_group",
                name=_name(d.address),
                actions=("delete", "create") if old is not None else ("create",),
                before=_hcl(old, hcl) if old is not None else None,
                after=_hcl(d, hcl),
                module_address=_module(d.address),
                id=old.id if old is not None else None,
                rule_changes=tuple(rule_lines),
            )
        )
    return changes, creates + follow_ups, diags


def _hcl(g: SecurityGroup, memo: dict[Rule, dict]) -> dict:
    """`g.to_hcl()` with one dict per distinct rule, shared by every group that has the rule.

    Estates repeat rules across groups, and the plan holds before/after of every group (DESIGN
    §5): building each rule's dict once made this stage and the plan's memory grow with the
    distinct rules, not with all of them. The dicts are read-only, like the rest of a Plan.
    """
    def rules(direction: tuple[Rule, ...]) -> list[dict]:
        out = []
        for rule in direction:
            shown = memo.get(rule)
            if shown is None:
                shown = memo[rule] = rule.to_hcl()
            out.append(shown)
        return out

    return {
        "name": g.name,
        "description": g.description,
        "project_id": g.project_id,
        "tags": dict(g.tags),
        "ingress": rules(g.ingress),
        "egress": rules(g.egress),
    }


def _tag_call(d: SecurityGroup, g: SecurityGroup, region: str) -> Operation:
    """The one tag-service call that turns `g`'s user tags into `d`'s (DESIGN §3): keys added or
    changed go in ReplaceTags, keys gone in DeleteTags; keys that stay are not sent, and the
    ownership tags never are (`tags` holds user tags only; the guard checks it again)."""
    want, have = dict(d.tags), dict(g.tags)
    replace_tags = [{"TagKey": k, "TagValue": v} for k, v in sorted(want.items()) if have.get(k) != v]
    delete_tags = [{"TagKey": k} for k in sorted(set(have) - set(want))]
    params: dict = {"Resource": tag_resource(region, g.id or "")}
    if replace_tags:
        params["ReplaceTags"] = replace_tags
    if delete_tags:
        params["DeleteTags"] = delete_tags
    shown = [f"{t['TagKey']}={t['TagValue']}" for t in replace_tags] + [f"-{t['TagKey']}" for t in delete_tags]
    return Operation(
        stage=Stage.EDIT_GROUPS,
        service="tag",
        action="ModifyResourceTags",
        params=params,
        address=d.address,
        group=g.id,
        summary=f"update tags of {d.address} ({g.id}): {', '.join(shown)}",
    )


def _move_call(source: str, d: SecurityGroup, g: SecurityGroup, region: str) -> Operation:
    """A `moved` block's one write: the sgplan-address tag rewritten to the new address. It is
    its own operation (never merged with a user-tag change) because the guard lets an ownership
    tag through only in this exact shape, on a group the stack owns, to an address a moved
    block names."""
    return Operation(
        stage=Stage.EDIT_GROUPS,
        service="tag",
        action="ModifyResourceTags",
        params={"Resource": tag_resource(region, g.id or ""),
                "ReplaceTags": [{"TagKey": ADDRESS_TAG, "TagValue": d.address or ""}]},
        address=d.address,
        group=g.id,
        summary=f"move {source} to {d.address} ({g.id}): rewrite its {ADDRESS_TAG} tag",
    )


def _refs(d: SecurityGroup) -> set[str]:
    return {a for r in (*d.ingress, *d.egress) for a in r.refs()}


def _update(
    d: SecurityGroup, g: SecurityGroup, resolve: Mapping[str, str], alternatives: dict[str, tuple[Operation, ...]],
    hcl: dict[Rule, dict], region: str = "",
) -> tuple[ResourceChange, list[Operation], list[Diagnostic]]:
    """In-place changes of an existing group: attributes, then each direction's edit script.

    When another call sequence reaches the same rules more safely, it goes to `alternatives`.
    """
    ops: list[Operation] = []
    diags: list[Diagnostic] = []
    notes: list[str] = []
    if (d.name, d.description) != (g.name, g.description):
        ops.append(
            Operation(
                stage=Stage.EDIT_GROUPS,
                service="vpc",
                action="ModifySecurityGroupAttribute",
                params={"SecurityGroupId": g.id, "GroupName": d.name, "GroupDescription": d.description},
                address=d.address,
                group=g.id,
                summary=f"update name/description of {d.address} ({g.id})",
            )
        )
    if d.tags != g.tags and g.id:
        ops.append(_tag_call(d, g, region))
    if d.prevent_destroy and not g.prevent_destroy and d.id is None:
        note = "prevent_destroy is only recorded (as a tag) when sgplan creates the group"
        notes.append(note)
        diags.append(warning(note, d.origin, d.address))
    version = alt_version = _version(g)
    lines = []
    alternative = list(ops)  # the "inserts before deletes" sequence, offered to the ordering
    unchanged = True
    for direction in DIRECTIONS:
        live_rules, want = g.rules(direction), d.rules(direction)
        if live_rules == want:  # the common case at scale: one comparison instead of two alignments
            continue
        unchanged = False
        script = edit_script(live_rules, want)
        calls = rule_calls(
            script, live_rules, want, direction.value, group=g.id, address=d.address,
            stage=Stage.EDIT_GROUPS, version=version, resolve=resolve,
        )
        version += len(calls)
        ops += calls
        lines += rule_changes(script, live_rules, want, direction.value)
        alt = widening_free_calls(
            live_rules, want, direction.value, group=g.id or "", address=d.address, stage=Stage.EDIT_GROUPS,
            version=alt_version, resolve=resolve, quota=DEFAULT_RULES_PER_DIRECTION,
        )
        if alt is None:
            alt = rule_calls(
                script, live_rules, want, direction.value, group=g.id, address=d.address,
                stage=Stage.EDIT_GROUPS, version=alt_version, resolve=resolve,
            )
        alt_version += len(alt)
        alternative += alt
    if alternative != ops and g.id:
        alternatives[g.id] = tuple(alternative)
    before = _hcl(g, hcl)
    same = unchanged and (d.name, d.description, d.project_id, d.tags) == (g.name, g.description, g.project_id, g.tags)
    change = ResourceChange(
        address=d.address,
        type="security_group",
        name=_name(d.address),
        actions=("update",) if ops else ("no-op",),
        before=before,
        # Equal groups have equal HCL: share the dict rather than build it again (read-only).
        after=before if same else _hcl(d, hcl),
        module_address=_module(d.address),
        id=g.id,
        rule_changes=tuple(lines),
        notes=tuple(notes),
    )
    return change, ops, diags
