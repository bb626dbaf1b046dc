"""A plan as markdown for a pull-request comment (`plan --markdown`, `show --markdown`).

Sections: summary, exposure widened then narrowed (one row per distinct change, naming its
instances), destroy warnings, findings, the plan's warnings, then the rule diff folded in `<details>`. Pure (plan →
text); kept under GitHub's 65,536-character comment limit with a visible note when cut.
"""

from __future__ import annotations

from typing import Any, Iterable

from sgplan.analysis.exposure import summarize
from sgplan.plan.plan import DELETE, Plan
from sgplan.render.escape import md_code, md_fence, md_text, visible
from sgplan.render.text import UNBIND_NAME, resource_lines

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
        return "**No changes.** Your security groups match the configuration."
    # The text plan's closing line, word for word.
    text = f"{s['create']} to add, {s['update']} to change, {s['delete']} to destroy"
    if s.get("import"):
        text += f", {s['import']} to import"
    return f"**Plan:** {text}."


def _header(plan: Plan) -> list[str]:
    """Which stack, region and cloud this plan is for (a reviewer compares it with the pipeline)."""
    cloud = str(plan.cloud or "-")
    if cloud.startswith(("http://", "https://")) or cloud.startswith("file:"):
        cloud = cloud.split(":", 1)[0]  # the kind only: a path or endpoint says nothing to a reviewer
    return [f"**Stack** {_code(plan.stack or '-')} · **region** {_code(plan.region or '-')} · **cloud** {_code(cloud)}"]


_SHOWN_INSTANCES = 3  # per merged exposure row; the rest is counted


def _instances_cell(ids: tuple[str, ...]) -> str:
    shown = ", ".join(_code(i, in_table=True) for i in ids[:_SHOWN_INSTANCES])
    more = len(ids) - _SHOWN_INSTANCES
    return f"{shown} (+{more} more)" if more > 0 else shown


def _exposure(plan: Plan) -> list[str]:
    """Exposure rows, one per distinct change: instances with the same change share a row."""
    changes = list(plan.exposure_changes)
    lines = ["### Exposure changes"]
    if not changes:
        lines.append("No change in access.")
        return lines
    for effect, title in (("opened", "⚠️ Access widened"), ("closed", "Access narrowed")):
        items = summarize(c for c in changes if getattr(c, "effect", "") == effect)
        if not items:
            continue
        lines += ["", f"**{title}**", "", "| instance / group | direction | protocol | ports | peer |", "|---|---|---|---|---|"]
        for c in items:
            peers = ", ".join(_code(p, in_table=True) for p in c.shown_peers)
            if c.excepted:
                peers += " except " + ", ".join(_code(p, in_table=True) for p in c.excepted)
            lines.append(
                f"| {_instances_cell(c.instance_ids)} | {_cell(c.direction)} | {_cell(c.protocol)} | {_cell(c.ports)} | {peers} |"
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
        where = f" ({_code(c.address)})" if c.name != UNBIND_NAME else ""
        lines.append(f"- instance {_code(c.id)} will be left with **no security groups**{where}")
    lines += ["", "`apply --auto-approve` needs `--allow-destroy` for these."]
    return lines


def _warnings(plan: Plan) -> list[str]:
    """The plan's warnings (each once; a resource's note already in the diff is left out, as the text plan does)."""
    shown = {f"{c.address}: {note}" for c in plan.resource_changes if c.is_change or c.notes for note in c.notes}
    unique = [w for w in dict.fromkeys(plan.warnings) if w not in shown]
    if not unique:
        return []
    return ["### ⚠️ Warnings", "", *[f"- {_cell(w)}" for w in unique]]


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


_MARKS = ("-/+", "<=~", "<=", "+", "-", "~")
# GitHub's `diff` grammar colours a line by its first character: `+` inserted, `-` deleted,
# `!` changed. The text plan's `~` (and import's `<=`) become `!`; the words stay the text plan's.
_COLUMN_ONE = {"-/+": "!", "<=~": "!", "<=": "!", "~": "!", "+": "+", "-": "-"}


def diff_line(line: str) -> str:
    """A text-plan line with its change marker moved to column 1; other lines get two spaces so
    that nothing but a marker stands in column 1."""
    line = line[2:] if line.startswith("  ") else line  # the text plan's margin: column 1 is the marker's
    body = line.lstrip(" ")
    indent = len(line) - len(body)
    for mark in _MARKS:
        if body.startswith(mark + " "):
            return f"{_COLUMN_ONE[mark]} {' ' * indent}{body}"
    return f"  {line}" if line else ""


def _diff(plan: Plan) -> list[str]:
    changes = [c for c in plan.resource_changes if c.is_change]
    if not changes:
        return []
    lines = resource_lines(plan)
    while lines and not lines[-1]:
        lines.pop()
    body = [diff_line(line) for line in lines]
    # The fence is longer than any backtick run in the body and every body line is `visible`, so
    # nothing in a description can close it, start a line, or end the `<details>` block.
    return ["<details><summary>Resource changes</summary>", "", *md_fence(body, "diff"), "", "</details>"]


def _join(sections: Iterable[list[str]]) -> str:
    # Last line of defence: any hidden character that escaped a field-level escape is shown, never
    # emitted (our own text has none; a no-op on every plan we know how to build).
    return "\n\n".join("\n".join(visible(line) for line in s) for s in sections if s) + "\n"


def render_markdown(plan: Plan, *, limit: int = MAX_CHARS) -> str:
    """The plan as GitHub-flavoured markdown, at most `limit` characters plus the truncation note."""
    head = [["## sgplan plan", "", *_header(plan), "", _summary(plan)], _contracts(plan), _exposure(plan), _destroys(plan), _transient(plan),
            _findings(plan), _warnings(plan)]
    text = _join(head + [_diff(plan)])
    if len(text) <= limit:
        return text
    # Too long: keep the summary, exposure and warnings; cut the diff (then anything) to fit.
    text = _join(head)
    if len(text) > limit:
        cut = text[:limit]
        text = cut[: cut.rfind("\n") + 1] if "\n" in cut else cut
    return text.rstrip("\n") + TRUNCATED
