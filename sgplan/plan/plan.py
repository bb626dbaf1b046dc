"""The `Plan` value: resource changes, ordered operations and the live fingerprint they rest on.

Data only (no I/O): `planfile.py` writes and reads it, `render/` shows it, `apply/` executes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sgplan.model import Output, Rule
from sgplan.plan.operation import Operation

# 2: an explicit schema (no class names in the file), `config_dir` for apply to re-derive from.
FORMAT_VERSION = "2"

# Rule change kinds, as the text renderer marks them.
INSERT = "insert"
DELETE = "delete"
REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class RuleChange:
    """One rule-level edit of a group's direction.

    `index` is the position in the *live* list for a delete and in the *desired* list for an
    insert or a replacement (so every line shows where the rule is, or ends up).
    """

    kind: str  # INSERT | DELETE | REPLACE
    direction: str  # "ingress" | "egress"
    index: int
    rule: Rule | None = None  # the new rule (insert, replace)
    old: Rule | None = None  # the removed rule (delete, replace)


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """One line of `resource_changes` (DESIGN §5): a group or one instance's binding."""

    address: str
    type: str  # "security_group" | "binding"
    name: str
    actions: tuple[str, ...]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    module_address: str | None = None
    id: str | None = None
    rule_changes: tuple[RuleChange, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "tags are only set at creation"
    previous_address: str | None = None  # the address a `moved` block moves the group from

    @property
    def is_change(self) -> bool:
        return self.actions != ("no-op",)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the plan read and will touch: `apply PLANFILE` refuses when any of it moved."""

    groups: tuple[tuple[str, int], ...] = ()  # (group id, Version) of every touched group
    instances: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (instance id, its ordered groups)
    config_hash: str = ""
    region: str = ""
    stack: str = ""
    cloud: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """A computed plan. `operations` are in apply order (stages of DESIGN §6)."""

    region: str
    stack: str
    cloud: str
    config_hash: str
    fingerprint: Fingerprint
    resource_changes: tuple[ResourceChange, ...] = ()
    operations: tuple[Operation, ...] = ()
    outputs: tuple[Output, ...] = ()
    exposure_changes: tuple[Any, ...] = ()  # filled by sgplan.analysis
    findings: tuple[Any, ...] = ()  # filled by sgplan.analysis
    warnings: tuple[str, ...] = ()
    format_version: str = FORMAT_VERSION
    sgplan_version: str = ""
    transient_exposure: tuple[Any, ...] = field(default=())  # filled by sgplan.analysis (DESIGN §6)
    config_dir: str = ""  # the configuration `apply PLANFILE` re-plans from (set by the CLI)
    contract_results: tuple[Any, ...] = ()  # filled by sgplan.analysis: one per `expect` block

    @property
    def violated_contracts(self) -> tuple[Any, ...]:
        """The contracts the planned state breaks: such a plan is an error and apply refuses it."""
        return tuple(r for r in self.contract_results if getattr(r, "violated", False))

    @property
    def has_changes(self) -> bool:
        return bool(self.operations)

    @property
    def summary(self) -> dict[str, int]:
        """Counts per action; a replacement counts once as create and once as delete."""
        counts = {"create": 0, "update": 0, "delete": 0, "import": 0, "no_op": 0}
        for change in self.resource_changes:
            for action in change.actions:
                key = "no_op" if action == "no-op" else action
                counts[key] += 1
        return counts
