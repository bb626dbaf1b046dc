"""Exposure-safe ordering (DESIGN §6): pick an order of the plan's calls in which no state between
two calls allows traffic that neither the live state nor the planned one allows.

Pure. The calls come in *units* that must stay together and in order (the calls on one group share
its Version sequence and index arithmetic; a binding call is a unit of its own). A unit may offer
several *variants* (e.g. "inserts before deletes" for a group's rule edits). `safe_order` walks the
units greedily: it takes the first ready unit, in DESIGN §6 stage order, whose every intermediate
state passes the check of `sgplan.analysis.exposure.transient_exposure`; when none passes it takes
the first ready one anyway and reports what would be exposed.

Constraints between units: a call that names a group the plan creates comes after that create;
deletions come last (after every binding, edit and reference removal, so nothing still uses the
group). Everything else — edits, bindings, unbinding, reference removal — may interleave.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from sgplan.analysis.access import Evaluator, RuleKeys, Templates
from sgplan.analysis.exposure import TransientExposure, transient_exposure
from sgplan.model import GroupRef, SecurityGroup
from sgplan.plan.operation import CREATE_ACTIONS, Operation, Stage, placeholder, placeholder_address
from sgplan.plan.simulate import SimState, affected, step

SEARCH_LIMIT = 400  # units beyond which a failed default order is not searched (quadratic scan)


@dataclass(frozen=True, slots=True)
class Unit:
    """Calls that run together, in order; `variants[0]` is the default."""

    key: str
    stage: Stage
    variants: tuple[tuple[Operation, ...], ...]

    def needs(self) -> set[str]:
        """Placeholders of created groups this unit needs (besides its own group)."""
        found: set[str] = set()
        made: set[str] = set()
        for op in self.variants[0]:
            found |= {placeholder(a) for a in op.depends_on()}
            if op.action in CREATE_ACTIONS and op.group:
                made.add(op.group)
            elif op.group and placeholder_address(op.group):
                found.add(op.group)
        return found - made


def make_units(operations: Sequence[Operation], alternatives: dict[str, tuple[Operation, ...]] | None = None) -> list[Unit]:
    """Units from the planner's default sequence; `alternatives` maps a group key to another
    sequence for its stage-2 calls."""
    alternatives = alternatives or {}
    units: list[Unit] = []
    index: dict[tuple[Stage, str, bool], int] = {}
    for number, op in enumerate(operations):
        if op.action == "ModifyInstancesAttribute" or op.group is None:
            units.append(Unit(f"#{number}", op.stage, ((op,),)))
            continue
        # A create's follow-up calls (rules naming groups created after it) are a unit of their own.
        slot = (op.stage, op.group, op.action == "CreateSecurityGroupWithPolicies")
        if slot in index:
            unit = units[index[slot]]
            units[index[slot]] = replace(unit, variants=(unit.variants[0] + (op,),))
        else:
            index[slot] = len(units)
            units.append(Unit(op.group, op.stage, ((op,),)))
    out = []
    for unit in units:
        alt = alternatives.get(unit.key) if unit.stage is Stage.EDIT_GROUPS else None
        out.append(replace(unit, variants=unit.variants + (alt,)) if alt and alt != unit.variants[0] else unit)
    return out


@dataclass
class _Checker:
    """Checks the states an order passes through. One `evaluator` serves the whole ordering, so a
    group's rule list is evaluated once however many states it appears in.

    Before any set work, each subject a call can change (its carrying instances, or the group
    itself when nothing carries it) is compared by access keys: a subject whose policy in the
    new state equals its policy before the whole plan or after it cannot be exposed (that is
    exactly the test `transient_exposure` starts with), so most calls need no evaluation at all.
    Only the subjects left go to `transient_exposure`, with the views it would otherwise get.
    """

    before: SimState
    after: SimState
    templates: Templates
    evaluator: Evaluator
    _keys: dict[int, tuple[SecurityGroup, tuple, tuple]] = field(default_factory=dict)
    # Rule keys by rule object: the simulated states share the live groups' rule objects.
    _rule_keys: RuleKeys = field(default_factory=RuleKeys)

    def run(self, state: SimState, ops: Sequence[Operation], first_step: int) -> tuple[SimState, list[TransientExposure]]:
        """Apply `ops` to `state`, checking the state after each call."""
        found: list[TransientExposure] = []
        for offset, op in enumerate(ops):
            instances, groups = affected(state, op)
            new = step(state, op)
            instances |= affected(new, op)[0]
            if instances or groups:
                for item in self._check(new, instances, groups):
                    found.append(TransientExposure(first_step + offset, item.change))
            state = new
        return state, found

    def _check(self, new: SimState, instances: set[str], groups: set[str]) -> list[TransientExposure]:
        ends = (self.before, self.after)
        exposed = sorted(i for i in instances if not self._settled(new, ends, (s.instances.get(i, ()) for s in (new, *ends))))
        # A group is its own subject only when no instance in question carries it in any state
        # (as `exposure._subjects` decides on the views below).
        alone = [g for g in groups if not any(g in s.instances.get(i, ()) for i in instances for s in (new, *ends))]
        exposed_groups = [g for g in alone if not self._settled(new, ends, ((g,), (g,), (g,)))]
        if not exposed and not exposed_groups:
            return []
        views = [s.view(self.templates, exposed, exposed_groups) for s in (*ends, new)]
        return transient_exposure(views[0], views[1], [views[2]], self.evaluator)

    def _settled(self, new: SimState, ends: tuple[SimState, SimState], lists: Iterable[tuple[str, ...]]) -> bool:
        """Whether the subject with these group lists (in `new`, before, after) has, in both
        directions, the same access in `new` as at one end."""
        mid_list, old_list, new_list = lists
        mid = self._policy(new, mid_list)
        old = self._policy(ends[0], old_list)
        end = self._policy(ends[1], new_list)
        if mid is None or old is None or end is None:
            return False
        return all(m == o or m == e for m, o, e in zip(mid, old, end))

    def _policy(self, state: SimState, keys: tuple[str, ...]) -> tuple[tuple, tuple] | None:
        """(ingress, egress) access keys of a group list in `state`; None when a rule names a
        group by address (its resolution depends on the view: leave it to the full check)."""
        ingress, egress = [], []
        for key in keys:
            group = state.groups.get(key)
            if group is None:
                ingress.append(())
                egress.append(())
                continue
            cached = self._keys.get(id(group))
            if cached is None or cached[0] is not group:
                if any(isinstance(r.security_group_id, GroupRef) for r in (*group.ingress, *group.egress)):
                    cached = (group, None, None)
                else:
                    cached = (group, self._rule_keys(group.ingress), self._rule_keys(group.egress))
                # The group object is kept so that its id cannot be reused while cached.
                self._keys[id(group)] = cached
            if cached[1] is None:
                return None
            ingress.append(cached[1])
            egress.append(cached[2])
        return tuple(ingress), tuple(egress)


def final_state(before: SimState, operations: Sequence[Operation]) -> SimState:
    state = before
    for op in operations:
        state = step(state, op)
    return state


def safe_order(units: Sequence[Unit], before: SimState, templates: Templates) -> tuple[list[Operation], list[TransientExposure]]:
    """The calls in a safe order, and the exposures of the chosen order (empty when it is safe)."""
    after = final_state(before, [op for u in units for op in u.variants[0]])
    checker = _Checker(before, after, templates, Evaluator(templates))
    default = [op for u in _default_order(units) for op in u.variants[0]]
    _, exposures = checker.run(before, default, 0)
    if not exposures:
        return default, []
    if len(units) > SEARCH_LIMIT:
        return default, exposures
    return _greedy(units, before, checker)


def _default_order(units: Sequence[Unit]) -> list[Unit]:
    return sorted(units, key=lambda u: u.stage)  # stable: keeps the planner's order within a stage


def _greedy(units: Sequence[Unit], before: SimState, checker: _Checker) -> tuple[list[Operation], list[TransientExposure]]:
    remaining = _default_order(units)
    created: set[str] = set()
    order: list[Operation] = []
    exposures: list[TransientExposure] = []
    state = before
    while remaining:
        ready = [u for u in remaining if _ready(u, remaining, created)]
        choice = None
        for unit in ready:
            for variant in unit.variants:
                new_state, found = checker.run(state, variant, len(order))
                if not found:
                    choice = (unit, variant, new_state, found)
                    break
            if choice:
                break
        if choice is None:
            unit = ready[0]
            # No safe unit now: take the variant that exposes least and report it.
            tries = [(v, *checker.run(state, v, len(order))) for v in unit.variants]
            variant, new_state, found = min(tries, key=lambda t: len(t[2]))
            choice = (unit, variant, new_state, found)
        unit, variant, state, found = choice
        order += variant
        exposures += found
        remaining.remove(unit)
        for op in variant:
            if op.action in CREATE_ACTIONS and op.group:
                created.add(op.group)
    return order, exposures


def _ready(unit: Unit, remaining: Sequence[Unit], created: set[str]) -> bool:
    if not unit.needs() <= created:
        return False
    if unit.stage is Stage.DELETE_GROUPS:
        return all(u.stage in (Stage.DELETE_GROUPS, Stage.DELETE_TEMPLATES) for u in remaining)
    if unit.stage is Stage.DELETE_TEMPLATES:  # after every rule that names them is gone (issue 17)
        return all(u.stage is Stage.DELETE_TEMPLATES for u in remaining)
    return True


def footprint(state: SimState, op: Operation) -> tuple[str, ...]:
    """What `op` touches: `i:<instance>` whose policy it moves, `w:<group>` whose rules or
    existence it changes, `r:<group>` whose rules start or stop counting for an instance.

    Two calls may run at the same time when no instance and no written group is shared and
    neither reads a group the other writes: then every instance (and group) sees the calls that
    concern it in the checked order, whatever the interleaving.
    """
    instances, groups = affected(state, op)
    keys = {f"i:{i}" for i in instances} | {f"w:{g}" for g in groups}
    if op.action == "ModifyInstancesAttribute":
        for instance_id in op.params.get("InstanceIds") or ():
            keys |= {f"r:{g}" for g in state.instances.get(instance_id, ())}
        keys |= {f"r:{g}" for g in op.params.get("SecurityGroups") or ()}
    return tuple(sorted(keys))


def with_footprints(before: SimState, operations: Sequence[Operation]) -> list[Operation]:
    """The operations with `affects` filled from the state each one meets (for parallel apply)."""
    out = []
    state = before
    for op in operations:
        out.append(replace(op, affects=footprint(state, op)))
        state = step(state, op)
    return out


__all__ = ["Unit", "make_units", "safe_order", "with_footprints", "footprint", "final_state"]
