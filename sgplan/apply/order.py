"""The plan's operations as data for execution: stages → waves → independent call chains.

Within a wave, chains touch different groups (or instances) and need nothing from one another,
so they may run in parallel; the calls of one chain run in order. A wave starts only after the
waves before it, and a stage only after the stages before it (DESIGN §6). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sgplan.plan.operation import Operation, Stage, placeholder_address

CREATE_ACTIONS = frozenset({"CreateSecurityGroupWithPolicies"})


@dataclass(frozen=True, slots=True)
class Chain:
    """Calls that must run one after another (one group, or one instance batch)."""

    key: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class StagePlan:
    stage: Stage
    waves: tuple[tuple[Chain, ...], ...]


def schedule(operations: Sequence[Operation]) -> list[StagePlan]:
    """Group `operations` (in plan order) into stages, waves and chains.

    A call that needs the id of a group created in the same stage goes into a wave after that
    create; the other calls on its group follow it there, so a chain's order is kept.

    >>> from sgplan.plan.operation import placeholder
    >>> a = Operation(Stage.CREATE_GROUPS, "vpc", "CreateSecurityGroupWithPolicies", {}, address="security_group.a", group=placeholder("security_group.a"))
    >>> b = Operation(Stage.CREATE_GROUPS, "vpc", "CreateSecurityGroupWithPolicies", {"P": [{"SecurityGroupId": placeholder("security_group.a")}]}, address="security_group.b", group=placeholder("security_group.b"))
    >>> [[c.key for c in wave] for wave in schedule([a, b])[0].waves]
    [['${security_group.a.id}'], ['${security_group.b.id}']]
    """
    stages: list[StagePlan] = []
    for stage in sorted({op.stage for op in operations}):
        ops = [op for op in operations if op.stage == stage]
        waves: list[dict[str, list[Operation]]] = []
        chain_wave: dict[str, int] = {}
        created_in: dict[str, int] = {}
        for index, op in enumerate(ops):
            key = op.group or op.address or f"#{index}"
            needs = set(op.depends_on())
            own = placeholder_address(op.group)
            if own is not None and op.action not in CREATE_ACTIONS:
                needs.add(own)
            wave = max([created_in[a] + 1 for a in needs if a in created_in] + [chain_wave.get(key, 0)])
            chain_wave[key] = wave
            while len(waves) <= wave:
                waves.append({})
            waves[wave].setdefault(key, []).append(op)
            if op.action in CREATE_ACTIONS and op.address:
                created_in[op.address] = wave
        stages.append(
            StagePlan(Stage(stage), tuple(tuple(Chain(k, tuple(v)) for k, v in w.items()) for w in waves if w))
        )
    return stages
