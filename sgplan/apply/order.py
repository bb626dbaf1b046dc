"""The plan's operations as data for execution: batches of independent call chains.

The planner's order is exposure-checked (`plan/ordering.py`), so apply keeps it: consecutive calls
go into one batch as long as their footprints (`Operation.affects`) are apart and none needs a
group created by another chain of the batch. Chains of a batch may run in parallel, the calls of
one chain run in order, and a batch starts only when the one before it has finished. Whatever the
interleaving inside a batch, each instance and group sees its calls in the checked order. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from sgplan.plan.operation import CREATE_ACTIONS as _CREATES
from sgplan.plan.operation import TEMPLATE_DELETE_ACTIONS, Operation, placeholder_address

CREATE_ACTIONS = _CREATES
DELETE_ACTIONS = frozenset({"DeleteSecurityGroup"}) | TEMPLATE_DELETE_ACTIONS


def _delete_kind(op: Operation) -> str | bool:
    """Group deletes, template deletes and everything else go in separate batches: a template
    is deleted only after the groups whose rules named it (issue 17)."""
    if op.action in TEMPLATE_DELETE_ACTIONS:
        return "template"
    return op.action in DELETE_ACTIONS


@dataclass(frozen=True, slots=True)
class Chain:
    """Calls that must run one after another (one group, or one instance batch)."""

    key: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """Chains that may run at the same time."""

    chains: tuple[Chain, ...]

    @property
    def size(self) -> int:
        return sum(len(c.operations) for c in self.chains)


@dataclass
class _Open:
    chains: dict[str, list[Operation]] = field(default_factory=dict)
    touched: dict[str, set[str]] = field(default_factory=dict)  # chain → footprint
    created: dict[str, str] = field(default_factory=dict)  # address → chain that creates it
    deletes: str | bool | None = None  # what the batch deletes (_delete_kind; None: empty)

    def accepts(self, key: str, op: Operation) -> bool:
        # Deletions go in batches of their own: a group may be referenced by the rules of
        # another (DESIGN §6 removes those references first), which footprints do not show.
        if self.deletes is not None and self.deletes != _delete_kind(op):
            return False
        needs = set(op.depends_on())
        own = placeholder_address(op.group)
        if own is not None and op.action not in CREATE_ACTIONS:
            needs.add(own)
        if any(self.created.get(a, key) != key for a in needs):
            return False
        mine = set(op.affects)
        return not any(_clash(mine, theirs) for other, theirs in self.touched.items() if other != key)

    def add(self, key: str, op: Operation) -> None:
        self.deletes = _delete_kind(op)
        self.chains.setdefault(key, []).append(op)
        self.touched.setdefault(key, set()).update(op.affects)
        if op.action in CREATE_ACTIONS and op.address:
            self.created[op.address] = key

    def close(self) -> Batch:
        return Batch(tuple(Chain(k, tuple(v)) for k, v in self.chains.items()))


def _clash(a: set[str], b: set[str]) -> bool:
    """Footprints clash on a shared instance or written group, or a write meeting a read."""
    if any(not x.startswith("r:") for x in a & b):
        return True
    writes_a = {x[2:] for x in a if x.startswith("w:")}
    writes_b = {x[2:] for x in b if x.startswith("w:")}
    reads_a = {x[2:] for x in a if x.startswith("r:")}
    reads_b = {x[2:] for x in b if x.startswith("r:")}
    return bool(writes_a & reads_b or writes_b & reads_a)


def schedule(operations: Sequence[Operation]) -> list[Batch]:
    """Cut the ordered `operations` into batches of independent chains.

    A call without a footprint (an older plan file) runs alone, which keeps the plain order.

    >>> from sgplan.plan.operation import Stage
    >>> a = Operation(Stage.EDIT_GROUPS, "vpc", "ReplaceSecurityGroupPolicy", {}, group="sg-a", affects=("i:ins-1", "w:sg-a"))
    >>> b = Operation(Stage.EDIT_GROUPS, "vpc", "ReplaceSecurityGroupPolicy", {}, group="sg-b", affects=("i:ins-2", "w:sg-b"))
    >>> c = Operation(Stage.EDIT_GROUPS, "vpc", "ReplaceSecurityGroupPolicy", {}, group="sg-c", affects=("i:ins-1", "w:sg-c"))
    >>> [[ch.key for ch in batch.chains] for batch in schedule([a, b, c])]
    [['sg-a', 'sg-b'], ['sg-c']]
    """
    batches: list[Batch] = []
    current = _Open()
    for index, op in enumerate(operations):
        key = op.group or (",".join(op.instance_ids) if op.instance_ids else None) or op.address or f"#{index}"
        if not op.affects:
            key = f"#{index}"
        if current.chains and (not op.affects or not current.accepts(key, op)):
            batches.append(current.close())
            current = _Open()
        current.add(key, op)
        if not op.affects:
            batches.append(current.close())
            current = _Open()
    if current.chains:
        batches.append(current.close())
    return batches
