"""The cloud as the planner imagines it between two calls: `SimState` and `step(state, op)`.

Pure. Models only what decides access (rules in order, groups on instances), with the index
semantics of the rule-writing actions (reference §2.7–§2.9); groups a plan creates are keyed by
their placeholder (`${security_group.web.id}`), as the operations name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from sgplan.analysis.access import Templates
from sgplan.analysis.exposure import AccessView
from sgplan.model import TEMPLATE_FIELDS, CloudState, Direction, Rule, SecurityGroup
from sgplan.plan.operation import TEMPLATE_EDIT_ACTIONS, Operation


@dataclass(frozen=True, slots=True)
class SimState:
    """Groups by key (live id or placeholder) and each instance's group keys in binding order."""

    groups: Mapping[str, SecurityGroup]
    instances: Mapping[str, tuple[str, ...]]
    # Derived from `instances` (group key → carrying instances), built on first use. States that
    # share `instances` share it (`replace` copies it along); a binding change updates a copy.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Template contents (issue 17): a member edit of template `t` makes the rules naming `t` (and
    # the template groups holding it) name their planned contents instead, `t@planned` — the
    # keys `analysis.planned.planned_templates` gives both contents under. `template_renames`:
    # template id → the (old key, new key) pairs its edit switches; `edited`: keys switched so far.
    template_renames: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict, compare=False, repr=False)
    edited: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_cloud(cls, live: CloudState) -> "SimState":
        return cls({g.id: g for g in live.groups if g.id}, {i.instance_id: tuple(i.security_group_ids) for i in live.instances})

    def carriers(self, key: str) -> set[str]:
        """Instances whose policy includes group `key`."""
        return set(self._carrier_index().get(key, ()))

    def _carrier_index(self) -> dict[str, set[str]]:
        index = self.memo.get("carriers")
        if index is None:
            index = {}
            for instance_id, keys in self.instances.items():
                for key in keys:
                    index.setdefault(key, set()).add(instance_id)
            self.memo["carriers"] = index
        return index

    def rebound(self, targets: Mapping[str, tuple[str, ...]]) -> "SimState":
        """This state with some instances carrying other group lists."""
        memo: dict[str, Any] = {}
        index = self.memo.get("carriers")
        if index is not None:
            index = dict(index)
            copied: set[str] = set()
            for instance_id, target in targets.items():
                for key in (*self.instances.get(instance_id, ()), *target):
                    if key not in copied:
                        index[key] = set(index.get(key, ()))
                        copied.add(key)
                for key in self.instances.get(instance_id, ()):
                    index[key].discard(instance_id)
                for key in target:
                    index[key].add(instance_id)
            memo["carriers"] = index
        return replace(self, instances={**self.instances, **targets}, memo=memo)

    def view(self, templates: Templates, instances: Iterable[str], groups: Iterable[str]) -> AccessView:
        """An AccessView restricted to some instances (with all their groups) and some groups."""
        wanted = set(instances)
        chosen = {i: self.instances[i] for i in wanted if i in self.instances}
        keys = set(groups) | {k for ks in chosen.values() for k in ks}
        return AccessView({k: self.groups[k] for k in keys if k in self.groups}, chosen, templates)


def affected(state: SimState, op: Operation) -> tuple[set[str], set[str]]:
    """(instances, groups) whose policy `op` can change when applied to `state`."""
    if op.action == "ModifyInstancesAttribute":
        return set(op.params.get("InstanceIds") or ()), set()
    if op.action in TEMPLATE_EDIT_ACTIONS:
        # A template's contents: every group whose rules name it (or a group holding it).
        old = {a for a, _ in state.template_renames.get(str(op.group), ())}
        users = {k for k, g in state.groups.items() if old and _names_any(g, old)}
        return set().union(*(state.carriers(k) for k in users)) if users else set(), users
    key = op.params.get("SecurityGroupId") or op.group
    if key is None:
        return set(), set()
    return state.carriers(key), {key}


def step(state: SimState, op: Operation) -> SimState:
    """`state` after `op` (calls that do not change access return it unchanged)."""
    new = _step(state, op)
    if op.action in TEMPLATE_EDIT_ACTIONS and str(op.group) in state.template_renames:
        switch = dict(state.template_renames[str(op.group)])
        edited = {**state.edited, **switch}
        return replace(new, groups={k: _renamed(g, switch) for k, g in new.groups.items()}, edited=edited)
    if state.edited and new is not state and (op.is_rule_edit or op.action == "CreateSecurityGroupWithPolicies"):
        # Rules written after a template's edit name its planned contents too.
        key = op.params.get("SecurityGroupId") or op.group or ""
        if key in new.groups:
            return replace(new, groups={**new.groups, key: _renamed(new.groups[key], state.edited)})
    return new


def _names_any(group: SecurityGroup, keys: set[str]) -> bool:
    return any(getattr(r, n) in keys for r in (*group.ingress, *group.egress) for n in TEMPLATE_FIELDS)


def _renamed(group: SecurityGroup, switch: Mapping[str, str]) -> SecurityGroup:
    def fix(rule: Rule) -> Rule:
        changes = {n: switch[v] for n in TEMPLATE_FIELDS if isinstance(v := getattr(rule, n), str) and v in switch}
        return replace(rule, **changes) if changes else rule

    if not _names_any(group, set(switch)):
        return group
    return replace(group, ingress=tuple(fix(r) for r in group.ingress), egress=tuple(fix(r) for r in group.egress))


def _step(state: SimState, op: Operation) -> SimState:
    params = op.params
    if op.action == "CreateSecurityGroupWithPolicies":
        body = params.get("SecurityGroupPolicySet") or {}
        group = SecurityGroup(
            name=str(params.get("GroupName", "")),
            ingress=tuple(_rule(b) for b in body.get("Ingress") or ()),
            egress=tuple(_rule(b) for b in body.get("Egress") or ()),
            id=op.group,
            address=op.address,
        )
        return replace(state, groups={**state.groups, op.group or "": group})
    if op.action == "ModifyInstancesAttribute":
        target = tuple(params.get("SecurityGroups") or ())
        return state.rebound({i: target for i in params.get("InstanceIds") or ()})
    if op.action == "DeleteSecurityGroup":
        key = params["SecurityGroupId"]
        return replace(state, groups={k: g for k, g in state.groups.items() if k != key})
    if op.is_rule_edit:
        key = params["SecurityGroupId"]
        group = state.groups[key]
        policy_set = {k: v for k, v in params["SecurityGroupPolicySet"].items() if k != "Version"}
        for api_direction, bodies in policy_set.items():
            direction = Direction.INGRESS if api_direction == "Ingress" else Direction.EGRESS
            rules = _edit(list(group.rules(direction)), op.action, bodies)
            group = group.with_rules(direction, tuple(rules))
        return replace(state, groups={**state.groups, key: group})
    return state


def _rule(body: Mapping[str, Any]) -> Rule:
    return Rule.from_api({k: v for k, v in body.items() if k != "PolicyIndex"})


def _edit(rules: list[Rule], action: str, bodies: list[dict[str, Any]]) -> list[Rule]:
    if action == "DeleteSecurityGroupPolicies":
        doomed = {int(b["PolicyIndex"]) for b in bodies}
        return [r for i, r in enumerate(rules) if i not in doomed]
    if action in ("ReplaceSecurityGroupPolicy", "ReplaceSecurityGroupPolicies"):
        for body in bodies:
            rules[int(body["PolicyIndex"])] = _rule(body)
        return rules
    # CreateSecurityGroupPolicies: a run shares one PolicyIndex (inserted in order there), or appends.
    index = bodies[0].get("PolicyIndex") if bodies else None
    at = len(rules) if index is None else int(index)
    rules[at:at] = [_rule(b) for b in bodies]
    return rules
