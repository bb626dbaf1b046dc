"""The state a plan leads to, as an AccessView, and the analysis the plan carries.

Reads a plan's resource changes (their `after` values, DESIGN §5) on top of the live state, so
the analysis needs nothing from the planner's internals. A group still to be created is keyed
by its reference spelling, `security_group.web.id`, which is also how the plan's bindings and
rules name it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sgplan.analysis.access import Evaluator, Templates, gc_paused
from sgplan.analysis.checks import Scope, run_checks
from sgplan.analysis.contracts import ContractChecker, ContractResult, with_before
from sgplan.analysis.exposure import AccessView, changed_subjects, compare
from sgplan.model import CloudState, Expect, Rule, SecurityGroup, make_tags

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


def before_view(live: CloudState) -> AccessView:
    return AccessView.from_state(live)


def after_view(plan: Any, live: CloudState, desired_groups: tuple[SecurityGroup, ...] = ()) -> AccessView:
    """The groups and bindings once `plan` is applied to `live`.

    `desired_groups` (optional) lend their source positions and `ignore_findings` to the
    planned groups with the same address, so findings point at the HCL.
    """
    groups: dict[str, SecurityGroup] = {g.id or g.address or g.name: g for g in live.groups}
    instances = {i.instance_id: tuple(i.security_group_ids) for i in live.instances}
    for change in plan.resource_changes:
        if change.type == "security_group":
            actions = tuple(change.actions)
            if "delete" in actions and change.id:
                groups.pop(change.id, None)
            if change.after is None or actions == ("no-op",):
                continue
            key = change.id if change.id and "create" not in actions else f"{change.address}.id"
            groups[key] = _group(change.after, key=key, address=change.address, live=groups.get(key))
        elif change.type == "binding" and change.after is not None and change.id:
            instances[change.id] = tuple(change.after.get("security_groups", ()))
    if desired_groups:
        by_address = {d.address: d for d in desired_groups if d.address}
        for key, group in list(groups.items()):
            source = by_address.get(group.address)
            if source is not None:
                groups[key] = _with_origins(group, source)
    return AccessView(groups, instances, Templates.from_state(live))


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
                  expects: tuple[Expect, ...] = (), bound: tuple[str, ...] = ()) -> Any:
    """`plan` with its exposure changes, findings and contract results filled in (CLI workflow).

    Findings are limited to what the plan changes in access: groups whose rules change (or
    that are new) and instances whose group list or groups change. A plan that leaves a group
    alone does not repeat its old findings; `sgplan check` reports everything.

    Every contract (`expects`) is proven on the planned state and, to tell "this change breaks
    it" from "it was already broken", on the live state; `bound` is the instances a contract
    without `instances` covers.
    """
    with gc_paused():
        after = after_view(plan, live, desired_groups)
        before = before_view(live)
        evaluator = Evaluator(after.templates)
        changes = compare(before, after, evaluator)
        instances, groups = changed_subjects(before, after, evaluator)
        scope = Scope(frozenset(instances), frozenset(groups))
        findings = run_checks(after, scope=scope, evaluator=evaluator) if instances or groups else []
        results: list[ContractResult] = []
        if expects:
            checker = ContractChecker(evaluator)
            results = with_before(checker.check(after, expects, bound), checker.check(before, expects, bound))
    return replace(plan, exposure_changes=tuple(changes), findings=tuple(findings), contract_results=tuple(results))
