"""A plan as markdown for a pull-request comment (`plan --markdown`, `show --markdown`).

Sections: summary, exposure widened then narrowed (one row per distinct change, naming its
instances), destroy warnings, findings, then the rule diff folded in `<details>`. Pure (plan →
text); kept under GitHub's 65,536-character comment limit with a visible note when cut.
"""

from __future__ import annotations

from typing import Any, Iterable

from sgplan.analysis.exposure import group_changes
from sgplan.plan.plan import DELETE, INSERT, Plan, ResourceChange, RuleChange
from sgplan.render.escape import md_code, md_fence, md_text, visible

MAX_CHARS = 65_000  # GitHub rejects comments over 65,536 characters; keep room for the note
TRUNCATED = "\n\n> ⚠️ **Output truncated**: the plan is too long for one comment. Run `sgplan plan` for the full plan.\n"
_SEVERITY_ICON = {"high": "🔴", "medium": "🟠", "low": "🟡"}


# Everything that comes from configuration or cloud goes through `_cell`/`_code` (prose, table
# cells) or `md_fence` (the diff): see sgplan/render/escape.py and docs/rendering.md.
def _cell(text: Any) -> str:
    """Foreign text safe in prose and table cells: cannot end a cell, a line or add markup."""
    return md_text(text)


def _code(text: Any, *, in_table: bool = False) -> str:
    """Foreign text as inline code that no backtick, pipe or newline in it can end."""
    return md_code(text, in_table=in_table)


def _summary(plan: Plan) -> str:
    s = plan.summary
    if not plan.has_changes:
        return "**No changes.** The cloud matches the configuration."
    parts = [f"{s['create']} to create", f"{s['update']} to update", f"{s['delete']} to destroy"]
    if s.get("import"):
        parts.append(f"{s['import']} to import")
    return f"**Plan:** {', '.join(parts)}."


_SHOWN_INSTANCES = 3  # per merged exposure row; the rest is counted


def _instances_cell(ids: tuple[str, ...]) -> str:
    shown = ", ".join(_code(i, in_table=True) for i in ids[:_SHOWN_INSTANCES])
    more = len(ids) - _SHOWN_INSTANCES
    return f"{shown} (+{more} more)" if more > 0 else shown


def _exposure(plan: Plan) -> list[str]:
    """Exposure rows, one per distinct change: instances with the same change share a row."""
    changes = list(plan.exposure_changes)
    lines = ["### Exposure"]
    if not changes:
        lines.append("No change in access.")
        return lines
    for effect, title in (("opened", "⚠️ Access widened"), ("closed", "Access narrowed")):
        items = group_changes(c for c in changes if getattr(c, "effect", "") == effect)
        if not items:
            continue
        lines += ["", f"**{title}**", "", "| instance / group | direction | protocol | ports | peer |", "|---|---|---|---|---|"]
        for ids, c in items:
            lines.append(
                f"| {_instances_cell(ids)} | {_cell(c.direction)} | {_cell(c.protocol)} | {_cell(c.ports)} | {_code(c.peer, in_table=True)} |"
            )
    return lines


def _destroys(plan: Plan) -> list[str]:
    deleted = [c for c in plan.resource_changes if DELETE in c.actions and c.type == "security_group"]
    emptied = [
        c
        for c in plan.resource_changes
        if c.type == "binding" and c.is_change and c.after is not None and not c.after.get("security_groups")
    ]
    if not deleted and not emptied:
        return []
    lines = ["### 🛑 Destructive changes", ""]
    for c in deleted:
        verb = "replaced (destroyed, then created)" if "create" in c.actions else "destroyed"
        lines.append(f"- {_code(c.address)} ({_code(c.id) if c.id else 'new'}) will be **{verb}**")
    for c in emptied:
        lines.append(f"- instance {_code(c.id)} will be left with **no security groups** ({_code(c.address)})")
    lines += ["", "`apply --auto-approve` needs `--allow-destroy` for these."]
    return lines


def _findings(plan: Plan) -> list[str]:
    findings = list(plan.findings)
    if not findings:
        return []
    lines = ["### Findings", "", "| severity | check | where | message |", "|---|---|---|---|"]
    for f in findings:
        icon = _SEVERITY_ICON.get(f.severity, "")
        lines.append(
            f"| {icon} {_cell(f.severity)} | {_code(f.rule, in_table=True)} | {_code(f.address, in_table=True)} | {_cell(f.message)} |"
        )
    return lines


def _contracts(plan: Plan) -> list[str]:
    results = list(getattr(plan, "contract_results", ()) or ())
    if not results:
        return []
    broken = sum(1 for r in results if r.violated)
    title = f"### ❌ Contracts: {broken} of {len(results)} violated" if broken else f"### ✅ Contracts: all {len(results)} hold"
    lines = [title, "", "| | contract | verdict | counterexample | decided by |", "|---|---|---|---|---|"]
    for r in results:
        cx = r.counterexample
        example = decided = ""
        if r.violated and cx is not None:
            verb = "accepts" if cx.accepted else "does not accept"
            more = f" (+{cx.more_instances} more)" if cx.more_instances else ""
            example = f"{_code(cx.instance_id, in_table=True)}{more} {verb} {_code(cx.flow(), in_table=True)}"
            decided = _cell(cx.decided_by)
            if cx.origin is not None:
                decided += f" ({_code(f'{cx.origin.file}:{cx.origin.line}', in_table=True)})"
        lines.append(f"| {'❌' if r.violated else '✅'} | {_code(r.address, in_table=True)} | "
                     f"{_cell(r.decision + ': ' + r.change)} | {example} | {decided} |")
    return lines


def _transient(plan: Plan) -> list[str]:
    items = list(getattr(plan, "transient_exposure", ()) or ())
    if not items:
        return []
    lines = ["### ⚠️ Transient exposure during apply", ""]
    lines += [f"- {_cell(item)}" for item in items]
    return lines


def _rule_line(rc: RuleChange) -> str:
    sign = {INSERT: "+", DELETE: "-"}.get(rc.kind, "~")
    rule = rc.rule if rc.kind != DELETE else rc.old
    text = _rule_text(rule)
    if rc.kind not in (INSERT, DELETE) and rc.old is not None:
        return f"~ {rc.direction}[{rc.index}] {_rule_text(rc.old)}  →  {text}"
    return f"{sign} {rc.direction}[{rc.index}] {text}"


def _rule_text(rule: Any) -> str:
    if rule is None:
        return ""
    text = f"{rule.action} {rule.service} {rule.peer}"
    return f"{text}  # {rule.description}" if rule.description else text


def _resource_block(c: ResourceChange) -> list[str]:
    symbol = {"create": "+", "delete": "-", "update": "~", "import": "<="}.get(c.actions[-1], "~")
    if tuple(c.actions) == ("delete", "create"):
        symbol = "-/+"
    head = f"{symbol} {c.address}" + (f" ({c.id})" if c.id else "")
    lines = [head]
    if c.type == "binding":
        before = (c.before or {}).get("security_groups", [])
        after = (c.after or {}).get("security_groups", [])
        lines.append(f"    security_groups: [{', '.join(before)}] → [{', '.join(after)}]")
    for rc in c.rule_changes:
        lines.append("    " + _rule_line(rc))
    for note in c.notes:
        lines.append(f"    # {note}")
    return lines


def _diff(plan: Plan) -> list[str]:
    changes = [c for c in plan.resource_changes if c.is_change]
    if not changes:
        return []
    body: list[str] = []
    for c in changes:
        body += _resource_block(c)
    # The fence is longer than any backtick run in the body and every body line is `visible`, so
    # nothing in a description can close it, start a line, or end the `<details>` block.
    return ["<details><summary>Rule-level changes</summary>", "", *md_fence(body, "diff"), "", "</details>"]


def _join(sections: Iterable[list[str]]) -> str:
    # Last line of defence: any hidden character that escaped a field-level escape is shown, never
    # emitted (our own text has none; a no-op on every plan we know how to build).
    return "\n\n".join("\n".join(visible(line) for line in s) for s in sections if s) + "\n"


def render_markdown(plan: Plan, *, limit: int = MAX_CHARS) -> str:
    """The plan as GitHub-flavoured markdown, at most `limit` characters plus the truncation note."""
    head = [["## sgplan plan", "", _summary(plan)], _contracts(plan), _exposure(plan), _destroys(plan), _transient(plan),
            _findings(plan)]
    text = _join(head + [_diff(plan)])
    if len(text) <= limit:
        return text
    # Too long: keep the summary, exposure and warnings; cut the diff (then anything) to fit.
    text = _join(head)
    if len(text) > limit:
        cut = text[:limit]
        text = cut[: cut.rfind("\n") + 1] if "\n" in cut else cut
    return text.rstrip("\n") + TRUNCATED
