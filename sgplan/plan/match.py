"""Identity (DESIGN §3): which live group each configured group is, and which live groups go.

Pure: returns the pairing and diagnostics; `diff.py` turns it into changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sgplan.diagnostics import Diagnostic, error, warning
from sgplan.model import CloudState, DesiredState, SecurityGroup


@dataclass(frozen=True, slots=True)
class Matching:
    """`matched` maps a configured address to its live group; `deletes` are live groups to remove."""

    matched: dict[str, SecurityGroup] = field(default_factory=dict)
    deletes: tuple[SecurityGroup, ...] = ()
    moved: dict[str, str] = field(default_factory=dict)  # new address → the address its live group carries


def match_groups(desired: DesiredState, live: CloudState, stack: str) -> tuple[Matching, list[Diagnostic]]:
    """Pair configured groups with live ones.

    A pinned block (`id = "sg-…"`) is the live group with that id (missing → error). Otherwise the
    live group tagged with this stack and the block's address. Managed groups (stack tag = stack)
    that no block claims are deleted; that includes a second group carrying an address already
    matched (left behind when an apply stopped half-way through a replacement).
    """
    diags: list[Diagnostic] = []
    by_id = {g.id: g for g in live.groups if g.id}
    matched: dict[str, SecurityGroup] = {}
    used: set[str] = set()
    for d in desired.groups:
        if d.id is None:
            continue
        g = by_id.get(d.id)
        if g is None:
            diags.append(error(f"security group {d.id} pinned by {d.address} does not exist", d.origin, d.address))
            continue
        if d.id in used:
            diags.append(error(f"security group {d.id} is pinned by more than one block", d.origin, d.address))
            continue
        matched[d.address] = g
        used.add(d.id)

    # No stack (a configuration that declares nothing): nothing is managed, nothing deleted.
    managed = [g for g in live.groups if stack and g.stack == stack and g.address and g.id not in used]
    pinned_addresses = {d.address for d in desired.groups if d.id is not None}
    by_address: dict[str, list[SecurityGroup]] = {}
    for g in managed:
        by_address.setdefault(g.address or "", []).append(g)
    for d in desired.groups:
        if d.id is not None:
            continue
        candidates = [g for g in by_address.get(d.address, ()) if g.id not in used]
        if not candidates:
            continue
        # Prefer the copy that already has the configured project (a half-done replacement), then
        # the one whose state matches, then the oldest id for a stable choice.
        best = candidates[0] if len(candidates) == 1 else min(
            candidates, key=lambda g: (g.project_id != d.project_id, not _same(g, d), g.id or "")
        )
        matched[d.address] = best
        used.add(best.id)

    # `moved` blocks: a block whose address has no live group takes the group left at the old
    # address (DESIGN §3: same id and rules; only its sgplan-address tag is rewritten).
    moved: dict[str, str] = {}
    declared = {d.address: d for d in desired.groups}
    for move in desired.moves:
        source, target = move
        d = declared.get(target)
        if d is None or d.id is not None:
            continue
        candidates = [g for g in by_address.get(source, ()) if g.id not in used]
        if not candidates:
            continue
        if target in matched:
            # Both ends exist: which group is the target is ambiguous. Terraform refuses it too.
            held = matched[target]
            via = f" (moved from {moved[target]})" if target in moved else ""
            diags.append(error(
                f"moved: {source} ({', '.join(sorted(g.id or '?' for g in candidates))}) and {target} "
                f"({held.id}{via}) both exist; a moved block may only move to an address that has no group yet "
                "(remove the moved block, or delete one of the two groups first)",
                getattr(move, "origin", None) or d.origin, target))
            continue
        best = min(candidates, key=lambda g: (g.project_id != d.project_id, not _same(g, d), g.id or ""))
        matched[target] = best
        used.add(best.id)
        moved[target] = source

    deletes = []
    for g in managed:
        if g.id in used:
            continue
        if g.address in pinned_addresses:
            diags.append(
                warning(
                    f"live group {g.id} carries the address {g.address}, which is pinned to another group; "
                    "it is left alone",
                    address=g.address,
                )
            )
            continue
        deletes.append(g)
    return Matching(matched, tuple(sorted(deletes, key=lambda g: (g.address or "", g.id or ""))), moved), diags


def _same(live: SecurityGroup, desired: SecurityGroup) -> bool:
    return (live.name, live.description, live.ingress, live.egress) == (
        desired.name,
        desired.description,
        desired.ingress,
        desired.egress,
    )
