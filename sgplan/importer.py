"""`sgplan import`: live groups → idiomatic HCL (pure; the CLI reads the cloud and writes files).

Each imported group is pinned with `id = "sg-…"` (DESIGN §3) and written with its rules in
their exact order; instances that carry imported groups get `binding` blocks, so planning the
generated configuration against the same live state is empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from sgplan.diagnostics import Diagnostic, error, warning
from sgplan.hcl.write import Attribute, Block, Comment, Expr, Item, render
from sgplan.model import SERVICE_FIELDS, SOURCE_FIELDS, TEMPLATE_FIELDS, TEMPLATE_KINDS, CloudState, Rule, SecurityGroup

BINDINGS_FILE = "bindings.sg.hcl"
TEMPLATES_FILE = "templates.sg.hcl"
_MAX_LABEL = 64
_NOT_LABEL = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True, slots=True)
class ImportedBinding:
    """Instances that carry the same ordered group list; `security_groups` are live ids."""

    label: str
    instance_ids: tuple[str, ...]
    security_groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What `import` writes: groups by label (label order), bindings, and the stack to use.

    `stack` goes into the `sgplan` block the output always carries (see `stack_for`).
    """

    groups: tuple[tuple[str, SecurityGroup], ...]
    bindings: tuple[ImportedBinding, ...]
    stack: str = "imported"
    # Templates the imported rules name (and the members of template groups among them), each
    # written as a pinned block (issue 17): (kind, label, live template), kind a TEMPLATE_KINDS key.
    templates: tuple[tuple[str, str, object], ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        """Group id → block label, and template id → `kind.label` (the reference it gets)."""
        out = {g.id: label for label, g in self.groups if g.id}
        out.update({t.id: f"{kind}.{label}" for kind, label, t in self.templates})  # type: ignore[attr-defined]
        return out


# ---------------------------------------------------------------------------------------------
# Choosing groups


def select(
    candidates: Sequence[SecurityGroup], ids: Sequence[str], all_unmanaged: bool
) -> tuple[list[str], list[Diagnostic]]:
    """Ids to import from what the cloud lists: the given ids and/or every unmanaged group.

    Default groups and groups a stack manages are skipped with a warning; an unknown id is
    an error.
    """
    diags: list[Diagnostic] = []
    by_id = {g.id: g for g in candidates if g.id}
    wanted: list[str] = []
    for group_id in dict.fromkeys(ids):
        if group_id not in by_id:
            diags.append(error(f"{group_id}: no such security group in this region"))
        else:
            wanted.append(group_id)
    if all_unmanaged:
        wanted.extend(g.id for g in candidates if g.id and g.id not in wanted)
    chosen: list[str] = []
    for group_id in wanted:
        group = by_id[group_id]
        if group.is_default:
            diags.append(warning(f"{group_id} ({group.name}): skipped, it is the region's default group"))
        elif group.stack is not None:
            diags.append(
                warning(f"{group_id} ({group.name}): skipped, already managed by stack {group.stack!r} at {group.address}")
            )
        else:
            chosen.append(group_id)
    return chosen, diags


def stack_for(candidates: Iterable[SecurityGroup], requested: str | None = None) -> str:
    """The stack the generated configuration plans in: `requested` (`import --stack`), else the
    first `imported…` name no live group carries — a configuration in a stack that already has
    groups would plan their deletion. Always written out: a stack is required (issue 11)."""
    if requested:
        return requested
    used = {g.stack for g in candidates if g.stack is not None}
    name, n = "imported", 1
    while name in used:
        n += 1
        name = f"imported_{n}"
    return name


# ---------------------------------------------------------------------------------------------
# Labels


def label_base(name: str, group_id: str) -> str:
    """A valid HCL identifier from a group name: `web-prod` → `web_prod`; the id when the
    name has nothing usable (e.g. only CJK characters)."""
    base = _NOT_LABEL.sub("_", name.lower()).strip("_")[:_MAX_LABEL].rstrip("_")
    if not base:
        base = _NOT_LABEL.sub("_", group_id.lower()).strip("_") or "group"
    if base[0].isdigit():
        base = f"sg_{base}"
    return base


def unique_labels(bases: Sequence[tuple[str, str]]) -> dict[str, str]:
    """key → label for (key, base) pairs: a base used once stays as is; clashing ones keep the
    base for the first key (in key order) and get `_2`, `_3`, … after it."""
    counts: dict[str, int] = {}
    for _, base in bases:
        counts[base] = counts.get(base, 0) + 1
    taken = {base for base, n in counts.items() if n == 1}
    labels: dict[str, str] = {}
    for key, base in sorted(bases, key=lambda kb: (kb[1], kb[0])):
        if counts[base] == 1:
            labels[key] = base
            continue
        label, n = base, 1
        while label in taken:
            n += 1
            label = f"{base}_{n}"
        taken.add(label)
        labels[key] = label
    return labels


# ---------------------------------------------------------------------------------------------
# Building


def build(live: CloudState, group_ids: Sequence[str], stack: str = "imported") -> ImportResult:
    """The import of `group_ids` from `live`: labelled groups and the bindings they need."""
    wanted = set(group_ids)
    groups = [g for g in live.groups if g.id in wanted]
    labels = unique_labels([(g.id or "", label_base(g.name, g.id or "")) for g in groups])
    ordered = tuple(sorted(((labels[g.id or ""], g) for g in groups), key=lambda lg: lg[0]))

    lists: dict[tuple[str, ...], list[str]] = {}
    for instance in live.instances:
        if any(sg in wanted for sg in instance.security_group_ids):
            lists.setdefault(tuple(instance.security_group_ids), []).append(instance.instance_id)
    binding_bases = [
        (
            "\0".join(sgs),
            "_".join(labels[sg] for sg in sgs if sg in wanted)[:_MAX_LABEL].rstrip("_") or "imported",
        )
        for sgs in lists
    ]
    binding_labels = unique_labels(binding_bases)
    bindings = tuple(
        sorted(
            (
                ImportedBinding(binding_labels["\0".join(sgs)], tuple(sorted(instances)), sgs)
                for sgs, instances in lists.items()
            ),
            key=lambda b: b.label,
        )
    )
    return ImportResult(ordered, bindings, stack, _templates(live, [g for _, g in ordered]))


def _templates(live: CloudState, groups: Sequence[SecurityGroup]) -> tuple[tuple[str, str, object], ...]:
    """The live templates the groups' rules name, and the templates inside named template
    groups, labelled per kind; ids the live state does not hold stay literal in the rules."""
    named = {getattr(r, n) for g in groups for r in (*g.ingress, *g.egress) for n in TEMPLATE_FIELDS}
    found: dict[str, tuple[str, object]] = {}
    for kind in ("address_template_group", "service_template_group", "address_template", "service_template"):
        for item in getattr(live, TEMPLATE_KINDS[kind][0]):
            if item.id in named:
                found[item.id] = (kind, item)
                named.update(getattr(item, "template_ids", ()))
    out = []
    for kind in TEMPLATE_KINDS:
        items = [(i, t) for i, (k, t) in found.items() if k == kind]
        labels = unique_labels([(i, label_base(t.name, i)) for i, t in items])  # type: ignore[attr-defined]
        out += [(kind, labels[i], t) for i, t in sorted(items, key=lambda it: labels[it[0]])]
    return tuple(out)


def template_block(kind: str, label: str, template: object, labels: Mapping[str, str]) -> Block:
    """A pinned template block: name, id and members as the cloud holds them."""
    member_attr = TEMPLATE_KINDS[kind][1]
    members = list(getattr(template, member_attr))
    if member_attr == "template_ids":
        members = [Expr(f"{labels[m]}.id") if m in labels else m for m in members]
    return Block(kind, (label,), (
        Attribute("name", getattr(template, "name")),
        Attribute("id", getattr(template, "id")),
        Attribute(member_attr, members),
    ))


def _reference(group_id: str, labels: Mapping[str, str]) -> str | Expr:
    """A group id as HCL: a reference to an imported group's block, else the literal id."""
    label = labels.get(group_id)
    return Expr(f"security_group.{label}.id") if label else group_id


def rule_items(rule: Rule, labels: Mapping[str, str]) -> tuple[Item, ...]:
    """A rule's attributes in HCL field names (DESIGN §2), in a fixed reading order."""
    items: list[Item] = [Attribute("action", rule.action)]
    if rule.protocol is not None:
        items.append(Attribute("protocol", rule.protocol))
    if rule.port is not None:
        items.append(Attribute("port", rule.port))
    for name in (*SOURCE_FIELDS, *SERVICE_FIELDS):
        value = getattr(rule, name)
        if value is None:
            continue
        if name == "security_group_id":
            value = _reference(str(value), labels)
        elif name in TEMPLATE_FIELDS and str(value) in labels:
            value = Expr(f"{labels[str(value)]}.id")  # an imported template block (issue 17)
        items.append(Attribute(name, value))
    if rule.description:
        items.append(Attribute("description", rule.description))
    return tuple(items)


def group_block(label: str, group: SecurityGroup, labels: Mapping[str, str]) -> Block:
    body: list[Item] = [Attribute("name", group.name)]
    if group.description:
        body.append(Attribute("description", group.description))
    if group.project_id not in ("", "0"):
        project: str | int = int(group.project_id) if group.project_id.isdigit() else group.project_id
        body.append(Attribute("project_id", project))
    if group.tags:
        body.append(Attribute("tags", dict(group.tags)))
    body.append(Attribute("id", group.id))
    body.extend(Block("ingress", (), rule_items(r, labels)) for r in group.ingress)
    body.extend(Block("egress", (), rule_items(r, labels)) for r in group.egress)
    return Block("security_group", (label,), tuple(body))


def binding_block(binding: ImportedBinding, labels: Mapping[str, str]) -> Block:
    return Block(
        "binding",
        (binding.label,),
        (
            Attribute("instance_ids", list(binding.instance_ids)),
            Attribute("security_groups", [_reference(sg, labels) for sg in binding.security_groups]),
        ),
    )


_HEADER = (
    "Imported by `sgplan import`. Each group is pinned by its id: sgplan manages it in place\n"
    "and adds no tags. Removing a block forgets the group, it never deletes it."
)
_STACK_NOTE = (
    "The stack names the groups this configuration creates from now on; a plan deletes that\n"
    "stack's groups whose blocks are gone, so give every configuration its own."
)


def _stack_items(result: ImportResult) -> list[Item]:
    return [Comment(_HEADER + "\n" + _STACK_NOTE), Block("sgplan", (), (Attribute("stack", result.stack),))]


def render_file(result: ImportResult) -> str:
    """The whole import as one file: groups by label, then bindings."""
    labels = result.labels
    items: list[Item] = _stack_items(result)
    items.extend(template_block(kind, label, t, labels) for kind, label, t in result.templates)
    items.extend(group_block(label, g, labels) for label, g in result.groups)
    items.extend(binding_block(b, labels) for b in result.bindings)
    return render(items)


def render_files(result: ImportResult) -> dict[str, str]:
    """One file per group (`<label>.sg.hcl`) plus `bindings.sg.hcl`, in a stable order."""
    labels = result.labels
    files: dict[str, str] = {}
    taken = {BINDINGS_FILE, TEMPLATES_FILE}
    for label, group in result.groups:
        name, n = f"{label}.sg.hcl", 1
        while name in taken:
            n += 1
            name = f"{label}_{n}.sg.hcl"
        taken.add(name)
        files[name] = render([Comment(f"Imported by `sgplan import`: {group.id}, pinned by id."), group_block(label, group, labels)])
    rest: list[Item] = _stack_items(result)
    rest.extend(binding_block(b, labels) for b in result.bindings)
    files[BINDINGS_FILE] = render(rest)
    if result.templates:
        files[TEMPLATES_FILE] = render(
            [Comment("Imported by `sgplan import`: the templates the imported rules name, pinned by id.")]
            + [template_block(kind, label, t, labels) for kind, label, t in result.templates])
    return dict(sorted(files.items()))
