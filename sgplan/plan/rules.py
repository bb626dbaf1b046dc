"""Ordered rule alignment (LCS) and the minimal edit script that turns a live rule list into the
desired one with Create/Delete/ReplaceSecurityGroupPolicies calls, each carrying its Version.

Pure: `plan/diff.py` calls it per group and direction; the calls it returns are `Operation`s.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Mapping, Sequence

from sgplan.model import Rule
from sgplan.plan.operation import Operation, Stage
from sgplan.plan.plan import DELETE, INSERT, REPLACE, RuleChange


def align(live: Sequence[Rule], desired: Sequence[Rule]) -> list[tuple[int, int]]:
    """Pairs (live index, desired index) of a longest common subsequence under full equality.

    >>> a, b, c = Rule("ACCEPT", "ALL", cidr_block="1.0.0.0/8"), Rule("DROP", "ALL", cidr_block="2.0.0.0/8"), Rule("ACCEPT", "ICMP", cidr_block="3.0.0.0/8")
    >>> align([a, b], [c, a, b])
    [(0, 1), (1, 2)]
    """
    n, m = len(live), len(desired)
    head = 0
    while head < n and head < m and live[head] == desired[head]:
        head += 1
    tail = 0
    while tail < n - head and tail < m - head and live[n - 1 - tail] == desired[m - 1 - tail]:
        tail += 1
    middle_live = live[head : n - tail]
    middle_desired = desired[head : m - tail]
    pairs = [(i, i) for i in range(head)]
    pairs += [(head + i, head + j) for i, j in _lcs(middle_live, middle_desired)]
    pairs += [(n - tail + k, m - tail + k) for k in range(tail)]
    return pairs


def _lcs(a: Sequence[Rule], b: Sequence[Rule]) -> list[tuple[int, int]]:
    n, m = len(a), len(b)
    if not n or not m:
        return []
    # lengths[i][j] = LCS length of a[i:], b[j:]
    lengths = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = lengths[i], lengths[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if a[i] == b[j] else max(below[j], row[j + 1])
    pairs = []
    i = j = 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i += 1
            j += 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


@dataclass(frozen=True, slots=True)
class RuleScript:
    """The edits of one direction: live indices to delete, (live, desired) pairs to replace in
    place, desired indices to insert. Rules not named stay where they are."""

    deletes: tuple[int, ...] = ()
    replaces: tuple[tuple[int, int], ...] = ()
    inserts: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.deletes or self.replaces or self.inserts)


def edit_script(live: Sequence[Rule], desired: Sequence[Rule]) -> RuleScript:
    """The minimal edit script: a delete and an insert in the same gap become a replacement
    (rules that differ only in their description pair first, see `_gap_pairs`).

    A replacement is only paired when its new rule cannot collide (DuplicatePolicy, reference
    §2.7/§2.9: duplicates compare everything but the description) with another live rule that is
    still present while replacements run: deletes have already happened then, kept rules and the
    desired list have no duplicates, so only other replaced-away rules can collide.
    """
    pairs = align(live, desired)
    gaps: list[tuple[list[int], list[int]]] = []
    prev_i = prev_j = -1
    for i, j in [*pairs, (len(live), len(desired))]:
        gaps.append((list(range(prev_i + 1, i)), list(range(prev_j + 1, j))))
        prev_i, prev_j = i, j
    candidates = [pair for dels, ins in gaps for pair in _gap_pairs(live, desired, dels, ins)]
    replaced_keys: dict[tuple, set[int]] = {}
    for d, _ in candidates:
        replaced_keys.setdefault(live[d].key(), set()).add(d)
    replaces = []
    for d, s in candidates:
        if replaced_keys.get(desired[s].key(), set()) - {d}:
            continue
        replaces.append((d, s))
    paired_live = {d for d, _ in replaces}
    paired_desired = {s for _, s in replaces}
    deletes = tuple(d for dels, _ in gaps for d in dels if d not in paired_live)
    inserts = tuple(s for _, ins in gaps for s in ins if s not in paired_desired)
    return RuleScript(deletes, tuple(replaces), inserts)


def _gap_pairs(live: Sequence[Rule], desired: Sequence[Rule], dels: list[int], ins: list[int]) -> list[tuple[int, int]]:
    """Replacement candidates in one gap, in order (positions stay right only for monotone pairs).

    Rules that differ only in their description pair first (a longest common subsequence of
    keys): such a replacement changes no access and cannot collide. The rest pair up in order
    between them. Pairing the first live rule with the first desired one regardless would, for
    live [a, x, b] and desired [a', b'], replace x by b' — which collides with b (still present)
    and so becomes a delete plus an insert: one call more, and a rule that changes access.
    """
    if not dels or not ins:
        return []
    anchors = [(dels[i], ins[j]) for i, j in _lcs([live[d].key() for d in dels], [desired[s].key() for s in ins])]
    pairs: list[tuple[int, int]] = []
    prev_d, prev_s = dels[0] - 1, ins[0] - 1
    for d, s in [*anchors, (dels[-1] + 1, ins[-1] + 1)]:
        between_dels = [x for x in dels if prev_d < x < d]
        between_ins = [y for y in ins if prev_s < y < s]
        pairs += zip(between_dels, between_ins)
        if d <= dels[-1]:
            pairs.append((d, s))
        prev_d, prev_s = d, s
    return pairs


def rule_changes(script: RuleScript, live: Sequence[Rule], desired: Sequence[Rule], direction: str) -> tuple[RuleChange, ...]:
    """The script as display lines, in the order of the final list (deletes at their old place)."""
    changes = [RuleChange(DELETE, direction, d, old=live[d]) for d in script.deletes]
    changes += [RuleChange(REPLACE, direction, s, rule=desired[s], old=live[d]) for d, s in script.replaces]
    changes += [RuleChange(INSERT, direction, s, rule=desired[s]) for s in script.inserts]
    order = {DELETE: 0, REPLACE: 1, INSERT: 1}
    return tuple(sorted(changes, key=lambda c: (c.index, order[c.kind])))


def _runs(indices: Sequence[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for index in sorted(indices):
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _ranges(indices: Sequence[int]) -> str:
    """`3-5, 9` for [3, 4, 5, 9]."""
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in _runs(indices))


def rule_calls(
    script: RuleScript,
    live: Sequence[Rule],
    desired: Sequence[Rule],
    direction: str,
    *,
    group: str,
    address: str | None,
    stage: Stage,
    version: int,
    relative: bool = False,
    resolve: Mapping[str, str] | None = None,
) -> list[Operation]:
    """The calls that carry out `script`, in an order that keeps indices right and avoids transient
    duplicates: one delete call (descending indices, positions before the delete, §2.8), then the
    replacements, then each run of inserts top-down as one call at a shared PolicyIndex (§2.7).

    `version` is the Version the first call expects; each call expects one more. With `relative`
    (a group this plan creates) the Version is only known at apply time: the calls carry
    `version_offset` and no Version param.
    """
    api_direction = "Ingress" if direction == "ingress" else "Egress"
    calls: list[Operation] = []
    count = len(live)
    label = address or group

    def emit(action: str, rules: list[dict], summary: str, count_after: int, extra: Mapping[str, str] | None = None) -> None:
        expected = version + len(calls)
        policy_set: dict = {api_direction: rules}
        if not relative:
            policy_set = {"Version": str(expected), **policy_set}
        calls.append(
            Operation(
                stage=stage,
                service="vpc",
                action=action,
                params={"SecurityGroupId": group, "SecurityGroupPolicySet": policy_set, **(extra or {})},
                address=address,
                group=group,
                expected_version=None if relative else expected,
                version_offset=expected if relative else None,
                direction=direction,
                expected_count=count_after,
                summary=summary,
            )
        )

    if script.deletes:
        indices = sorted(script.deletes, reverse=True)
        count -= len(indices)
        emit(
            "DeleteSecurityGroupPolicies",
            [{"PolicyIndex": i} for i in indices],
            f"delete {direction} rule{'s' if len(indices) > 1 else ''} "
            f"{', '.join(str(i) for i in sorted(indices))} of {label}",
            count,
        )
    inserted = sorted(script.inserts)
    replacements = []
    for _, s in sorted(script.replaces, key=lambda pair: pair[1]):
        # After the deletes and before the inserts the list is the desired one minus the inserts.
        position = s - bisect_left(inserted, s)
        replacements.append((position, {"PolicyIndex": position, **desired[s].to_api(resolve)}))
    if len(replacements) == 1:
        position, body = replacements[0]
        emit("ReplaceSecurityGroupPolicy", [body], f"replace {direction} rule {position} of {label}", count)
    elif replacements:
        # One batch call (reference §2.10, UpdateType "Policy": content only, indices kept) for
        # every replacement of the direction. The cloud checks duplicates on the list after the
        # whole batch, which is the list the single calls would end on; and the group passes
        # through fewer intermediate states (a subset of those of the single calls).
        positions = [position for position, _ in replacements]
        emit(
            "ReplaceSecurityGroupPolicies",
            [body for _, body in replacements],
            f"replace {direction} rules {_ranges(positions)} of {label}",
            count,
            extra={"UpdateType": "Policy"},
        )
    for run in _runs(inserted):
        start = run[0]
        count += len(run)
        append = run[-1] == len(desired) - 1
        bodies = []
        for s in run:
            body = desired[s].to_api(resolve)
            bodies.append(body if append else {"PolicyIndex": start, **body})
        what = f"{len(run)} {direction} rule{'s' if len(run) > 1 else ''}"
        summary = f"append {what} to {label}" if append else f"insert {what} at index {start} of {label}"
        emit("CreateSecurityGroupPolicies", bodies, summary, count)
    return calls


def widening_free_calls(
    live: Sequence[Rule],
    desired: Sequence[Rule],
    direction: str,
    *,
    group: str,
    address: str | None,
    stage: Stage,
    version: int,
    resolve: Mapping[str, str] | None = None,
    quota: int | None = None,
) -> list[Operation] | None:
    """The "inserts first" variant of `rule_calls`: every new rule goes in (top-down, in desired
    order) while the old rules are still there, then one call deletes the old ones.

    Why it is safe: in every intermediate list, all live rules keep their relative order and the
    new rules present are a prefix (in desired order) of the new rules, merged by the LCS. A
    packet first matched by an old or kept rule is decided as in the live list; one first matched
    by a new rule is decided as in the desired list. So the group decides each packet as it did
    before or as it will after — never a third way (per group; across groups the planner checks).

    None when this variant cannot run: a new rule would duplicate an old rule that is still
    present (DuplicatePolicy, reference §2.7), the temporary list would pass `quota`, or the
    script has nothing to insert or nothing to delete (then `rule_calls` is already as good).
    """
    pairs = align(live, desired)
    kept_live = {i for i, _ in pairs}
    kept_desired = {j for _, j in pairs}
    old = [i for i in range(len(live)) if i not in kept_live]
    new = [j for j in range(len(desired)) if j not in kept_desired]
    if not old or not new:
        return None
    old_keys = {live[i].key() for i in old}
    if any(desired[j].key() in old_keys for j in new):
        return None
    if quota is not None and len(live) + len(new) > quota:
        return None
    # The merged list: kept rules in order; in each gap the new rules first, then the old ones.
    merged: list[tuple[str, int]] = []
    prev_i = prev_j = -1
    for i, j in [*pairs, (len(live), len(desired))]:
        merged += [("new", s) for s in range(prev_j + 1, j)]
        merged += [("old", d) for d in range(prev_i + 1, i)]
        if i < len(live):
            merged.append(("kept", i))
        prev_i, prev_j = i, j
    api_direction = "Ingress" if direction == "ingress" else "Egress"
    label = address or group
    calls: list[Operation] = []
    count = len(live)

    def emit(action: str, rules: list[dict], summary: str, count_after: int) -> None:
        expected = version + len(calls)
        calls.append(
            Operation(
                stage=stage,
                service="vpc",
                action=action,
                params={"SecurityGroupId": group, "SecurityGroupPolicySet": {"Version": str(expected), api_direction: rules}},
                address=address,
                group=group,
                expected_version=expected,
                direction=direction,
                expected_count=count_after,
                summary=summary,
            )
        )

    # Inserted top-down, every element before a new rule in `merged` is present when it goes in,
    # so its PolicyIndex is its position in `merged`.
    positions = [p for p, (kind, _) in enumerate(merged) if kind == "new"]
    for run in _runs(positions):
        start = run[0]
        count += len(run)
        append = run[-1] == len(merged) - 1
        bodies = []
        for p in run:
            body = desired[merged[p][1]].to_api(resolve)
            bodies.append(body if append else {"PolicyIndex": start, **body})
        what = f"{len(run)} {direction} rule{'s' if len(run) > 1 else ''}"
        summary = f"append {what} to {label}" if append else f"insert {what} at index {start} of {label}"
        emit("CreateSecurityGroupPolicies", bodies, summary + " (before removing the rules they replace)", count)
    doomed = sorted((p for p, (kind, _) in enumerate(merged) if kind == "old"), reverse=True)
    count -= len(doomed)
    emit(
        "DeleteSecurityGroupPolicies",
        [{"PolicyIndex": p} for p in doomed],
        f"delete {direction} rule{'s' if len(doomed) > 1 else ''} {', '.join(str(p) for p in sorted(doomed))} of {label}",
        count,
    )
    return calls
