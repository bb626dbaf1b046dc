"""Binding changes (DESIGN §3, §6): each named instance gets exactly its listed groups in order;
instances that carry a group being deleted lose it (or get its replacement) first.

Pure: returns resource changes and `ModifyInstancesAttribute` operations grouped per target list.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from sgplan.diagnostics import Diagnostic, error
from sgplan.model import Binding, CloudState, GroupRef
from sgplan.plan.operation import Operation, Stage, placeholder
from sgplan.plan.plan import ResourceChange

MAX_INSTANCES_PER_CALL = 100  # reference §3.3
UNBIND_ADDRESS = "binding.(unbind)"  # resource address prefix for instances no binding names


def binding_changes(
    bindings: Sequence[Binding],
    live: CloudState,
    *,
    ids: Mapping[str, str],
    new: Iterable[str],
    rewrite: Mapping[str, str],
    deleted: Mapping[str, str],
) -> tuple[list[ResourceChange], list[Operation], list[Diagnostic]]:
    """Changes for configured bindings (stage 3) and for the unbinding of deleted groups (stage 5).

    `ids` maps addresses of existing groups to ids, `new` lists addresses the plan creates,
    `rewrite` maps ids of groups being replaced to their address (their new copy takes their
    place), `deleted` maps ids of groups being deleted to their address.
    """
    new = set(new)
    changes: list[ResourceChange] = []
    diags: list[Diagnostic] = []
    targets: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # instance → (params, display)
    named: set[str] = set()
    by_id = {i.instance_id: i for i in live.instances}  # CloudState.instance scans: quadratic at 5,000
    for b in bindings:
        named.add(b.instance_id)
        instance = by_id.get(b.instance_id)
        if instance is None:
            diags.append(error(f"instance {b.instance_id} named in {b.address} does not exist", b.origin, b.resource_address))
            continue
        params, display = [], []
        for entry in b.security_groups:
            if isinstance(entry, GroupRef) and entry.address in ids:
                entry = ids[entry.address]
            if isinstance(entry, str) and entry in rewrite:
                entry = GroupRef(rewrite[entry])
            if isinstance(entry, str) and entry in deleted:
                diags.append(
                    error(f"{b.address} binds {entry}, which this plan deletes ({deleted[entry]})", b.origin, b.resource_address)
                )
            if isinstance(entry, GroupRef):
                if entry.address not in new:
                    diags.append(error(f"{b.address} refers to unknown group {entry.address}", b.origin, b.resource_address))
                params.append(placeholder(entry.address))
                display.append(str(entry))
            else:
                params.append(entry)
                display.append(entry)
        before = list(instance.security_group_ids)
        changed = tuple(params) != instance.security_group_ids
        if changed:
            targets[b.instance_id] = (tuple(params), tuple(display))
        changes.append(_change(b.resource_address, b.address, before, display, instance.instance_id, changed))
    ops = _calls(targets, Stage.SET_BINDINGS)

    unbind: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for instance in live.instances:
        if instance.instance_id in named:
            continue
        if not any(g in deleted or g in rewrite for g in instance.security_group_ids):
            continue
        params, display = [], []
        for g in instance.security_group_ids:
            if g in rewrite:
                params.append(placeholder(rewrite[g]))
                display.append(str(GroupRef(rewrite[g])))
            elif g not in deleted:
                params.append(g)
                display.append(g)
        unbind[instance.instance_id] = (tuple(params), tuple(display))
        address = f'{UNBIND_ADDRESS}["{instance.instance_id}"]'
        changes.append(_change(address, UNBIND_ADDRESS, list(instance.security_group_ids), display, instance.instance_id, True))
    ops += _calls(unbind, Stage.UNBIND_DELETED)
    return changes, ops, diags


def _change(address: str, block: str, before: list[str], after: Sequence[str], instance_id: str, changed: bool) -> ResourceChange:
    module, _, rest = block.rpartition("binding.")
    return ResourceChange(
        address=address,
        type="binding",
        name=rest,
        actions=("update",) if changed else ("no-op",),
        before={"security_groups": before},
        after={"security_groups": list(after)},
        module_address=module.rstrip(".") or None,
        id=instance_id,
    )


def _calls(targets: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]], stage: Stage) -> list[Operation]:
    """One ModifyInstancesAttribute per distinct ordered target list and per 100 instances."""
    by_target: dict[tuple[str, ...], list[str]] = {}
    display: dict[tuple[str, ...], tuple[str, ...]] = {}
    for instance_id, (params, shown) in targets.items():
        by_target.setdefault(params, []).append(instance_id)
        display[params] = shown
    ops = []
    for params, instance_ids in by_target.items():
        instance_ids = sorted(instance_ids)
        for start in range(0, len(instance_ids), MAX_INSTANCES_PER_CALL):
            chunk = instance_ids[start : start + MAX_INSTANCES_PER_CALL]
            shown = ", ".join(display[params]) or "no groups"
            who = chunk[0] if len(chunk) == 1 else f"{len(chunk)} instances ({chunk[0]}, …)"
            ops.append(
                Operation(
                    stage=stage,
                    service="cvm",
                    action="ModifyInstancesAttribute",
                    params={"InstanceIds": list(chunk), "SecurityGroups": list(params)},
                    instance_ids=tuple(chunk),
                    summary=f"set the groups of {who} to [{shown}]",
                )
            )
    return ops
