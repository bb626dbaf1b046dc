"""The state a plan leads to, as an AccessView, and the analysis the plan carries.

Reads a plan's resource changes (their `after` values, DESIGN §5) on top of the live state, so
the analysis needs nothing from the planner's internals. A group still to be created is keyed
by its reference spelling, `security_group.web.id`, which is also how the plan's bindings and
rules name it.
"""

from __future__ import annotations

import operator
from dataclasses import replace
from typing import Any, Callable

from sgplan.analysis.access import Evaluator, Templates, gc_paused
from sgplan.analysis.checks import Scope, run_checks
from sgplan.analysis.contracts import ContractChecker, ContractResult, with_before
from sgplan.analysis.exposure import AccessView, Comparison
from sgplan.model import (
    TEMPLATE_FIELDS,
    TEMPLATE_KINDS,
    AddressTemplate,
    AddressTemplateGroup,
    CloudState,
    Expect,
    Rule,
    SecurityGroup,
    ServiceTemplate,
    ServiceTemplateGroup,
    make_tags,
)

_TEMPLATE_CLASSES = {"address_template": AddressTemplate, "address_template_group": AddressTemplateGroup,
                     "service_template": ServiceTemplate, "service_template_group": ServiceTemplateGroup}

_RULE_FIELDS = frozenset(Rule.__dataclass_fields__) - {"origin"}


def _rule(data: dict[str, Any]) -> Rule:
    return Rule(**{k: v for k, v in data.items() if k in _RULE_FIELDS})


def _group(after: dict[str, Any], *, key: str, address: str | None, live: SecurityGroup | None) -> SecurityGroup:
    base = live or SecurityGroup(name=after.get("name", ""))
    return replace(
        base,
        name=after.get("name", base.name),
        description=after.get("description", base.description),
        project_id=str(after.get("project_id", base.project_id)),
        tags=make_tags(after.get("tags", {})),
        ingress=tuple(_rule(r) for r in after.get("ingress", [])),
        egress=tuple(_rule(r) for r in after.get("egress", [])),
        id=key if key.startswith("sg-") else None,
        address=address or base.address,
    )


PLANNED_SUFFIX = "@planned"


def planned_templates(plan: Any, live: CloudState) -> tuple[Templates, dict[str, str]]:
    """Template contents before and after `plan` in one `Templates` (issue 17), and the renames
    that tell them apart: a template (or template group) whose contents the plan changes keeps
    its live id for the before contents and is `<id>@planned` for the after contents, so one
    shared Evaluator serves both views. A template still to be created is keyed as rules name it
    before apply, `address_template.office.id`."""
    before = Templates.from_state(live)
    changed = False
    lists = {kind: {t.id: t for t in getattr(live, attr)} for kind, (attr, _) in TEMPLATE_KINDS.items()}
    for change in plan.resource_changes:
        if change.type not in TEMPLATE_KINDS or not change.is_change:
            continue
        changed = True
        table = lists[change.type]
        if change.after is None:
            continue  # deleted after every rule naming it is gone: the after view has no user
        key = change.id if change.id and "create" not in change.actions else f"{change.address}.id"
        member_attr = TEMPLATE_KINDS[change.type][1]
        table[key] = _TEMPLATE_CLASSES[change.type](key, str(change.after.get("name", "")),
                                                    tuple(change.after.get(member_attr, ())))
        if key != change.id:
            # The planner's simulation names a template still to be created by its placeholder.
            spelled = "${" + key + "}"
            table[spelled] = replace(table[key], id=spelled)
    if not changed:
        return before, {}
    state = replace(live, **{attr: tuple(lists[kind].values()) for kind, (attr, _) in TEMPLATE_KINDS.items()})
    after = Templates.from_state(state)
    renames: dict[str, str] = {}
    addresses, services = dict(before.addresses), dict(before.services)
    for merged, old, new in ((addresses, before.addresses, after.addresses), (services, before.services, after.services)):
        for key, members in new.items():
            if key in old and old[key] != members:
                renames[key] = key + PLANNED_SUFFIX
            merged[renames.get(key, key)] = members
    return Templates(addresses, services), renames


def _renamed(group: SecurityGroup, renames: dict[str, str]) -> SecurityGroup:
    """`group` with its rules naming the after contents of changed templates."""

    def fix(rule: Rule) -> Rule:
        changes = {n: renames[v] for n in TEMPLATE_FIELDS if isinstance(v := getattr(rule, n), str) and v in renames}
        return replace(rule, **changes) if changes else rule

    ingress, egress = tuple(fix(r) for r in group.ingress), tuple(fix(r) for r in group.egress)
    if all(map(operator.is_, ingress, group.ingress)) and all(map(operator.is_, egress, group.egress)):
        return group  # no rule names a changed template: the same group (and its rules as written)
    return replace(group, ingress=ingress, egress=egress)


def before_view(live: CloudState) -> AccessView:
    return AccessView.from_state(live)


def after_view(plan: Any, live: CloudState, desired_groups: tuple[SecurityGroup, ...] = ()) -> AccessView:
    """The groups and bindings once `plan` is applied to `live`.

    `desired_groups` (optional) lend their source positions and `ignore_findings` to the
    planned groups with the same address, so findings point at the HCL.
    """
    groups: dict[str, SecurityGroup] = {g.id or g.address or g.name: g for g in live.groups}
    # The live group each planned group keeps the rules of (AccessView.same_rules_as): every group
    # the plan does not rebuild (lending positions keeps rules equal, see `_with_origins`).
    kept = dict(groups)
    instances = {i.instance_id: tuple(i.security_group_ids) for i in live.instances}
    for change in plan.resource_changes:
        if change.type == "security_group":
            actions = tuple(change.actions)
            if "delete" in actions and change.id:
                groups.pop(change.id, None)
                kept.pop(change.id, None)
            if change.after is None or actions == ("no-op",):
                continue
            key = change.id if change.id and "create" not in actions else f"{change.address}.id"
            groups[key] = _group(change.after, key=key, address=change.address, live=groups.get(key))
            kept.pop(key, None)
        elif change.type == "binding" and change.after is not None and change.id:
            instances[change.id] = tuple(change.after.get("security_groups", ()))
    if desired_groups:
        by_address = {d.address: d for d in desired_groups if d.address}
        for key, group in list(groups.items()):
            source = by_address.get(group.address)
            if source is not None:
                groups[key] = _with_origins(group, source)
    templates, renames = planned_templates(plan, live)
    if renames:
        renamed = {k: _renamed(g, renames) for k, g in groups.items()}
        kept = {k: g for k, g in kept.items() if renamed[k] is groups[k]}
        groups = renamed
    return AccessView(groups, instances, templates, same_rules_as=kept)


def live_view(live: CloudState, desired_groups: tuple[SecurityGroup, ...] = ()) -> AccessView:
    """The live state as a view, its groups lent the configured positions where they agree
    (`sgplan verify`: a violation then names the HCL line of a rule that is still as configured)."""
    view = before_view(live)
    if not desired_groups:
        return view
    by_address = {d.address: d for d in desired_groups if d.address}
    groups = {key: (_with_origins(g, by_address[g.address]) if g.address in by_address else g)
              for key, g in view.groups.items()}
    return AccessView(groups, view.instances, view.templates)


def _with_origins(group: SecurityGroup, source: SecurityGroup) -> SecurityGroup:
    """`group` with the configured group's positions (rules matched by index when they agree)."""

    def carry(rules: tuple[Rule, ...], configured: tuple[Rule, ...]) -> tuple[Rule, ...]:
        if len(rules) != len(configured):
            return rules
        if rules == configured:  # every rule equal (the common case): the configured ones, in one C loop
            return configured
        # An equal configured rule is the same value with its position: use it as is (copying
        # 100,000 rules with `replace` cost a second at estate scale).
        return tuple(
            c if r == c else (replace(r, origin=c.origin) if r.key()[:5] == c.key()[:5] else r)
            for r, c in zip(rules, configured)
        )

    return replace(
        group,
        ingress=carry(group.ingress, source.ingress),
        egress=carry(group.egress, source.egress),
        ignore_findings=source.ignore_findings,
        origin=source.origin,
    )


def annotate_plan(plan: Any, live: CloudState, desired_groups: tuple[SecurityGroup, ...] = (),
                  expects: tuple[Expect, ...] = (), bound: tuple[str, ...] = (), exposure_memo: Any = None,
                  findings_cache: Callable[[Callable[[], list]], list] | None = None) -> Any:
    """`plan` with its exposure changes, findings and contract results filled in (CLI workflow).

    Findings are limited to what the plan changes in access: groups whose rules change (or
    that are new) and instances whose group list or groups change. A plan that leaves a group
    alone does not repeat its old findings; `sgplan check` reports everything.

    Every contract (`expects`) is proven on the planned state and, to tell "this change breaks
    it" from "it was already broken", on the live state; `bound` is the instances a contract
    without `instances` covers. `exposure_memo` (exposure_memo.ExposureMemo) reuses the
    differences of earlier runs for instances whose groups did not change in access;
    `findings_cache(compute)` may answer the findings without computing them (findings_cache.py).
    """
    with gc_paused():
        after = after_view(plan, live, desired_groups)
        before = before_view(live)
        evaluator = Evaluator(after.templates)
        # One comparison for the exposure changes and the findings' scope: each group's rules
        # are compared (and signed) once.
        comparison = Comparison(before, after, evaluator)
        changes = comparison.changes(exposure_memo)

        def scoped() -> list:
            instances, groups = comparison.changed_subjects()
            scope = Scope(frozenset(instances), frozenset(groups))
            if not instances and not groups:
                return []
            return run_checks(after, scope=scope, evaluator=evaluator, signature=comparison.new_layers.signature)

        findings = scoped() if findings_cache is None else findings_cache(scoped)
        results: list[ContractResult] = []
        if expects:
            checker = ContractChecker(evaluator)
            results = with_before(checker.check(after, expects, bound), checker.check(before, expects, bound))
    plan = _template_notes(plan, live, after, changes)
    return replace(plan, exposure_changes=tuple(changes), findings=tuple(findings), contract_results=tuple(results))


def _template_notes(plan: Any, live: CloudState, after: AccessView, changes: list[Any]) -> Any:
    """Each template whose members change notes the exposure it causes, instance by instance
    ("widened: ins-… TCP 22 from 198.51.100.0/24, via address_template.office"), issue 17."""
    edited = {c.id: c for c in plan.resource_changes
              if c.type in TEMPLATE_KINDS and c.id and c.actions == ("update",)}
    if not edited or not changes:
        return plan
    # Renamed key (the after contents) → addresses of the edited templates behind it.
    via: dict[str, set[str]] = {f"{i}{PLANNED_SUFFIX}": {c.address} for i, c in edited.items()}
    for group in (*live.address_template_groups, *live.service_template_groups):
        behind = {edited[t].address for t in group.template_ids if t in edited}
        if behind:
            via.setdefault(f"{group.id}{PLANNED_SUFFIX}", set()).update(behind)
    causes: dict[str, set[str]] = {}  # instance (or group key) → template addresses its rules use
    for key, group in after.groups.items():
        used = {a for r in (*group.ingress, *group.egress) for n in TEMPLATE_FIELDS
                if isinstance(v := getattr(r, n), str) for a in via.get(v, ())}
        if used:
            causes.setdefault(key, set()).update(used)
    for instance_id, keys in after.instances.items():
        for key in keys:
            if key in causes:
                causes.setdefault(instance_id, set()).update(causes[key])
    notes: dict[str, list[str]] = {}
    for change in changes:
        for address in sorted(causes.get(change.instance_id, ())):
            word = "widened" if change.effect == "opened" else "narrowed"
            notes.setdefault(address, []).append(f"{word}: {change.instance_id} {change.flow}, via {address}")
    if not notes:
        return plan
    updated = tuple(replace(c, notes=(*c.notes, *notes.get(c.address, ()))) if c.id in edited else c
                    for c in plan.resource_changes)
    return replace(plan, resource_changes=updated)
