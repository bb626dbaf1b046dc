"""The plan as Terraform-like text: per resource the attribute and rule-level changes, then the
numbered API steps, outputs, and the closing `Plan: …` line. Pure (value → str).
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Iterable

from sgplan.analysis.exposure import ExposureSummary, summarize
from sgplan.model import Output, Rule
from sgplan.plan.plan import DELETE, INSERT, REPLACE, Plan, ResourceChange, RuleChange
from sgplan.render.escape import quoted, visible

UNBIND_NAME = "(unbind)"  # sgplan.plan.bindings.UNBIND_ADDRESS: instances no binding names

_SYMBOLS = {
    ("create",): "+",
    ("update",): "~",
    ("delete",): "-",
    ("delete", "create"): "-/+",
    ("import",): "<=",
    ("import", "update"): "<=~",
    ("no-op",): " ",
}
_VERBS = {
    ("create",): "will be created",
    ("update",): "will be updated in place",
    ("delete",): "will be destroyed",
    ("delete", "create"): "must be replaced",
    ("import",): "will be imported",
    ("import", "update"): "will be imported and updated",
    ("no-op",): "",
}
_COLORS = {"+": "32", "~": "33", "-": "31", "-/+": "35", "<=": "36", "<=~": "36"}
UNKNOWN = "(known after apply)"


class _Out:
    def __init__(self, color: bool) -> None:
        self.lines: list[str] = []
        self.color = color

    def add(self, text: str = "", symbol: str | None = None) -> None:
        # Every line passes here, so no field can bring a raw control byte, escape sequence, bidi
        # control or newline to the terminal; only the colour codes added below are raw.
        text = visible(text)
        if self.color and symbol in _COLORS and symbol in text:
            code = _COLORS[symbol]
            head, _, tail = text.partition(symbol)
            text = f"{head}\x1b[{code}m{symbol}\x1b[0m{tail}"
        self.lines.append(text)


def render_plan(plan: Plan, *, color: bool = False) -> str:
    """The whole plan for a terminal; `color` adds ANSI colours to the change markers."""
    out = _Out(color)
    changes = [c for c in plan.resource_changes if c.is_change or c.notes]
    if not plan.has_changes:
        for change in changes:
            _resource(out, change, group_names(plan))
        _outputs(out, plan.outputs)
        _warnings(out, plan.warnings, _shown_notes(plan))
        _contracts(out, plan)
        if out.lines and out.lines[-1]:
            out.add()
        out.add("No changes. Your security groups match the configuration.")
        return "\n".join(out.lines) + "\n"

    out.add(f"sgplan will perform the following actions (stack {plan.stack!r}, region {plan.region or '-'}):")
    out.add()
    groups = group_names(plan)
    for change in changes:
        _resource(out, change, groups)
    out.add("Steps:")
    for number, op in enumerate(plan.operations, 1):
        out.add(f"  {number:>2}. [{op.stage.title}] {op.action}: {op.summary}")
    out.add()
    exposure = getattr(plan, "exposure_changes", ())
    if exposure:
        out.add("Exposure changes:")
        for line in exposure_lines(exposure):
            out.add(f"  {line}")
        out.add()
    if plan.transient_exposure:
        out.add("No exposure-safe order exists: these steps would briefly allow traffic that neither")
        out.add("the current nor the planned state allows (apply needs --allow-transient-exposure):")
        for item in plan.transient_exposure:
            out.add(f"  after step {item.step + 1}: {_exposure_line(item.change)}")
        out.add()
    if plan.findings:
        out.add("Findings:")
        for finding in plan.findings:
            out.add(f"  [{finding.severity}] {finding.rule}: {finding.address}: {finding.message}")
        out.add()
    _contracts(out, plan)
    _outputs(out, plan.outputs)
    _warnings(out, plan.warnings, _shown_notes(plan))
    s = plan.summary
    out.add(f"Plan: {s['create']} to add, {s['update']} to change, {s['delete']} to destroy.")
    return "\n".join(out.lines) + "\n"


def instances_text(ids: tuple[str, ...], shown: int = 3) -> str:
    """`ins-a, ins-b, ins-c (+2 more)`."""
    return ", ".join(ids[:shown]) + (f" (+{len(ids) - shown} more)" if len(ids) > shown else "")


def exposure_lines(changes: Iterable[Any]) -> list[str]:
    """The exposure section as a person states it, one line per instances/direction/protocol/ports:
    `ins-a: UDP 123 to 0.0.0.0/0 except 10.0.0.10/32: closed` (shared by text and markdown)."""
    return [f"{instances_text(s.instance_ids)}: {s}" for s in summarize(changes)]


def resource_lines(plan: Plan) -> list[str]:
    """The text plan's resource blocks (no colour), as the markdown diff shows them verbatim."""
    out = _Out(False)
    groups = group_names(plan)
    for change in plan.resource_changes:
        if change.is_change:
            _resource(out, change, groups)
    return out.lines


def contract_line(result: Any) -> str:
    """One contract verdict: `✓ …holds` or `✗ …violated (…): counterexample (file:line)`."""
    mark = "✗" if result.violated else "✓"
    line = f"{mark} {result.message()}"
    cx = result.counterexample
    if result.violated and cx is not None and cx.origin is not None:
        line += f" ({cx.origin.file}:{cx.origin.line})"
    elif not result.violated and result.change == "fixed":
        line += " (fixed by this change)"
    return line


def _contracts(out: _Out, plan: Plan) -> None:
    results = getattr(plan, "contract_results", ())
    if not results:
        return
    if out.lines and out.lines[-1]:
        out.add()
    out.add("Contracts:")
    for result in results:
        out.add(f"  {contract_line(result)}")
    out.add()


def _resource(out: _Out, change: ResourceChange, groups: dict[str, tuple[str, str]] | None = None) -> None:
    symbol = _SYMBOLS.get(change.actions, "~")
    verb = _VERBS.get(change.actions, "will change")
    ident = f" ({change.id})" if change.id and change.type != "binding" and change.actions != ("create",) else ""
    address = change.address
    if change.type == "binding" and change.name == UNBIND_NAME:
        # Not a binding of the configuration: an instance that loses a group being deleted.
        address = f"instance {change.id} (named by no binding; loses groups being deleted)"
    moved_from = getattr(change, "previous_address", None)
    pure_move = bool(moved_from) and change.actions == ("update",) and _only_moved(change)
    if pure_move:
        # As Terraform words a move with nothing else to change (and marks no attribute).
        out.add(f"  # {moved_from} has moved to {address}{ident}")
        symbol = " "
    else:
        header = f"  # {address}{ident} {verb}".rstrip()
        out.add(header if change.is_change else f"  # {address}{ident}")
        if moved_from:
            out.add(f"  # (moved from {moved_from})")
    if change.type == "binding":
        _binding(out, change, symbol, groups or {})
    elif change.type == "security_group":
        _group(out, change, symbol)
    else:
        _generic(out, change, symbol)
    for note in change.notes:
        if moved_from and not pure_move and note.startswith(f"moved from {moved_from}:"):
            continue  # the `# (moved from …)` line above says it
        out.add(f"      # note: {note}")
    out.add("    }")
    out.add()


def _only_moved(change: ResourceChange) -> bool:
    """Whether a moved group's change is the move alone (its attributes and rules unchanged)."""
    return change.before == change.after and not change.rule_changes


def group_names(plan: Plan) -> dict[str, tuple[str, str]]:
    """Group id (or `<address>.id` of a group to create) → (address, name), for binding diffs."""
    found: dict[str, tuple[str, str]] = {}
    for c in plan.resource_changes:
        if c.type != "security_group":
            continue
        name = str((c.after or c.before or {}).get("name") or c.name)
        if c.id:
            found[c.id] = (c.address, name)
        found[f"{c.address}.id"] = (c.address, name)
    return found


def group_label(value: str, groups: dict[str, tuple[str, str]]) -> str:
    """`security_group.ssh ("ssh-prod", sg-ssh00001)`; a group to create shows its id as unknown."""
    known = groups.get(value)
    pending = value.endswith(".id") and "security_group." in value
    if known is None:
        return _group_id(value)
    address, name = known
    return f"{address} ({quoted(name)}, {UNKNOWN if pending else visible(value)})"


def binding_diff(before: list[str], after: list[str]) -> list[tuple[str, str]]:
    """The ordered group lists as (mark, id) lines: ` ` kept, `-` removed, `+` added; a group
    that moved in the priority order shows as removed at its old place and added at its new one."""
    lines: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [(" ", v) for v in before[i1:i2]]
        else:
            lines += [("-", v) for v in before[i1:i2]]
            lines += [("+", v) for v in after[j1:j2]]
    return lines


def _binding(out: _Out, change: ResourceChange, symbol: str, groups: dict[str, tuple[str, str]]) -> None:
    instance = change.id or ""
    if change.name == UNBIND_NAME:
        out.add(f"  {symbol} instance {quoted(instance)} {{", symbol)
    else:
        out.add(f"  {symbol} binding {quoted(_label(change.name))} {quoted(instance)} {{", symbol)
    before = (change.before or {}).get("security_groups", [])
    after = (change.after or {}).get("security_groups", [])
    if before != after and change.before is not None:
        out.add("      ~ security_groups = [", "~")
        for mark, value in binding_diff(list(before), list(after)):
            out.add(f"          {mark} {group_label(value, groups)}", mark if mark != " " else None)
        out.add("        ]")
    else:
        out.add("        security_groups = [")
        for value in after:
            out.add(f"            {group_label(value, groups)}")
        out.add("        ]")


def _generic(out: _Out, change: ResourceChange, symbol: str) -> None:
    """A resource type this renderer has no layout for (e.g. templates): its changed attributes."""
    out.add(f"  {symbol} {change.type} {quoted(_label(change.name))} {{", symbol)
    before, after = change.before or {}, change.after or {}
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if change.before is None:
            out.add(f"        {key} = {_value(new)}")
        elif change.after is None:
            out.add(f"        {key} = {_value(old)}")
        elif old != new:
            out.add(f"      ~ {key}: {_value(old)} -> {_value(new)}", "~")


def _group_list(ids: list[str]) -> str:
    return "[" + ", ".join(_group_id(i) for i in ids) + "]"


def _group_id(value: str) -> str:
    # A reference to a group this plan creates is shown as such: its id is not known yet.
    if value.endswith(".id") and "security_group." in value:
        return f"{visible(value[:-3])} {UNKNOWN}"
    return quoted(value)


def _label(name: str) -> str:
    """The block label of an expanded block's name (`tier["a"]` → `tier`): as in Terraform, the
    header line above it carries the full address with the key."""
    cut = name.find("[")
    return name[:cut] if cut > 0 else name


def _group(out: _Out, change: ResourceChange, symbol: str) -> None:
    out.add(f"  {symbol} security_group {quoted(_label(change.name))} {{", symbol)
    before, after = change.before, change.after
    if change.actions == ("create",) or change.actions == ("delete", "create"):
        out.add(f"        id          = {UNKNOWN}")
    if after is not None and before is not None:
        for key in ("name", "description", "project_id", "tags"):
            if before.get(key) != after.get(key):
                mark = "-/+" if key == "project_id" and change.actions == ("delete", "create") else "~"
                out.add(f"      {mark} {key}: {_value(before.get(key))} -> {_value(after.get(key))}", mark)
    elif after is not None:
        for key in ("name", "description", "project_id", "tags"):
            out.add(f"        {key:<11} = {_value(after.get(key))}")
    elif before is not None:
        out.add(f"        name        = {_value(before.get('name'))}")
        listed = [(d, i, rule) for d in ("ingress", "egress") for i, rule in enumerate(before.get(d) or [])]
        width = max((len(f"{d}[{i}]") for d, i, _ in listed), default=0)
        for direction, index, rule in listed:
            out.add(f"      - {f'{direction}[{index}]':<{width}}  {_rule_text(rule, direction)}", "-")
        return
    # Rule positions in one column (`ingress[9]` and `egress[10]` alike): deletes name the rule's
    # place in the current list, inserts and replacements its place in the planned one.
    width = max((len(f"{rc.direction}[{rc.index}]") for rc in change.rule_changes), default=0)
    for rc in change.rule_changes:
        out.add(_rule_change_line(rc, width), {INSERT: "+", DELETE: "-", REPLACE: "~"}[rc.kind])


def _rule_change_line(rc: RuleChange, width: int = 0) -> str:
    where = f"{rc.direction}[{rc.index}]".ljust(width)
    if rc.kind == INSERT:
        return f"      + {where}  {_rule_text(rc.rule, rc.direction)}"
    if rc.kind == DELETE:
        return f"      - {where}  {_rule_text(rc.old, rc.direction)}"
    return f"      ~ {where}  {_rule_text(rc.old, rc.direction)}  ->  {_rule_text(rc.rule, rc.direction)}"


def _rule_text(rule: Rule | dict[str, Any] | None, direction: str) -> str:
    """`ACCEPT TCP:22 from 10.0.0.0/8  "ssh from office"`."""
    if rule is None:
        return ""
    if isinstance(rule, dict):
        values = dict(rule)
        rule = Rule(**{k: v for k, v in values.items() if k in Rule.__dataclass_fields__ and k != "origin"})
    peer = rule.peer
    shown = _group_id(str(peer)) if peer is not None and str(peer).endswith(".id") else str(peer)
    text = f"{rule.action} {rule.service} {'from' if direction == 'ingress' else 'to'} {shown}"
    if rule.description:
        text += f"  {quoted(rule.description)}"
    return text


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, str):
        return quoted(value)
    return json.dumps(value, ensure_ascii=False)


def _key(key: Any) -> str:
    """A tag key bare when it is a plain word, quoted otherwise (a key may hold `=` or spaces)."""
    text = str(key)
    return text if text and all(c.isalnum() or c in "_-.:/@" for c in text) else quoted(text)


def render_applied(created: dict[str, str], outputs: tuple[Output, ...] | list[Output]) -> str:
    """After apply: the ids of the created resources, then the outputs with their final values."""
    out = _Out(False)
    if created:
        out.add("Created:")
        for address, ident in sorted(created.items()):
            out.add(f"  {address} = {quoted(ident)}")
        out.add()
    _outputs(out, tuple(outputs))
    return "\n".join(out.lines).rstrip("\n") + "\n" if out.lines else ""


def _outputs(out: _Out, outputs: tuple[Output, ...]) -> None:
    if not outputs:
        return
    out.add("Outputs:")
    for o in outputs:
        if o.sensitive:
            shown = "(sensitive value)"
        elif not o.known:
            shown = UNKNOWN
        else:
            shown = quoted(o.value) if isinstance(o.value, str) else json.dumps(o.value, ensure_ascii=False)
        out.add(f"  {o.name} = {shown}")
    out.add()


def _warnings(out: _Out, warnings: tuple[str, ...], shown: set[str] = frozenset()) -> None:
    # A warning says once what it says: repeats, and notes already shown in their resource's
    # block (`address: note`), are left out.
    unique = [w for w in dict.fromkeys(warnings) if w not in shown]
    for warning in unique:
        out.add(f"Warning: {warning}")
    if unique:
        out.add()


def _shown_notes(plan: Plan) -> set[str]:
    return {f"{c.address}: {note}" for c in plan.resource_changes if c.is_change or c.notes for note in c.notes}


def _exposure_line(item: Any) -> str:
    """`ins-aaaa1111: TCP 22 from 0.0.0.0/0: opened`."""
    if hasattr(item, "flow"):
        return f"{item.instance_id}: {item}"
    get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
    service = f"{get('protocol')} {get('ports')}" if get("protocol") in ("TCP", "UDP") else str(get("protocol"))
    where = "from" if get("direction") == "ingress" else "to"
    return f"{get('instance_id')}: {service} {where} {get('peer')}: {get('effect')}"
