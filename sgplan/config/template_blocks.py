"""The four parameter-template blocks (issue 17): `address_template`, `address_template_group`,
`service_template`, `service_template_group` → `model.TemplateSpec`, and the `<kind>.<label>.id`
/ `.name` references rules use.

References: `namespace` gives one namespace per kind to every module instance's scope
(config/instance.py adds them when it builds the scope). A pinned template's id is its `id`; any other is
an `Unknown` carrying the block's address, which build turns into a `GroupRef` that the planner
resolves to the live id of the managed template or to a placeholder for one it creates.

`for_each` / `count` (issue 14) work as on `security_group`: one template per key, addressed
`address_template.office["hq"]` / `service_template.web[0]`, ordered as Terraform orders keys,
with `each.key`/`each.value`/`count.index` in the block; `address_template.office` is then a
map by key (for_each) or a list (count) of `{id, name}`.

Imports point one way: config/instance.py imports this module; this one knows a module
instance only by its structural type (`shared.Instance`).
"""

from __future__ import annotations

from typing import Any

from sgplan.config.evaluate import Namespace
from sgplan.config.shared import FAILED, Instance as ModuleInstance, default_name, resource_type
from sgplan.config.values import EvalError, Unknown, type_name
from sgplan.diagnostics import Diagnostic, error
from sgplan.hcl.syntax import Block
from sgplan.model import MAX_TEMPLATE_NAME, TEMPLATE_KINDS, GroupRef, TemplateSpec, canonical_address, canonical_service

KINDS = tuple(TEMPLATE_KINDS)
_ID_PREFIX = {"address_template": "ipm-", "address_template_group": "ipmg-",
              "service_template": "ppm-", "service_template_group": "ppmg-"}
_MEMBER_KIND = {"address_template_group": "address_template", "service_template_group": "service_template"}


def template_blocks(inst: ModuleInstance, diags: list[Diagnostic] | None = None) -> dict[str, dict[str, Block]]:
    """kind → label → block of one module (file order); a repeated label is reported."""
    cache = getattr(inst, "_sgplan_template_blocks", None)
    if cache is not None:
        return cache
    found: dict[str, dict[str, Block]] = {kind: {} for kind in KINDS}
    for source in inst.config.files:
        for block in source.body.blocks if source.body is not None else ():
            if block.type not in found or len(block.labels) != 1:
                continue
            table = found[block.type]
            label = block.labels[0]
            if label in table:
                if diags is not None:
                    first = table[label].range
                    diags.append(error(f'duplicate {block.type} "{label}" (first declared at {first.file}:{first.line})',
                                       block.range))
                continue
            table[label] = block
    inst._sgplan_template_blocks = found  # type: ignore[attr-defined]
    return found


def namespace(inst: ModuleInstance, kind: str) -> Namespace:
    """`<kind>.<label>.id` / `.name` in `inst`'s scope (ModuleInstance adds one per kind)."""
    entries: dict[str, dict[str, Any]] = {}

    def resolve(label: str) -> Any:
        block = template_blocks(inst).get(kind, {}).get(label)
        if block is None:
            raise EvalError(f'unknown {kind} "{label}" ({kind}.{label} is not declared in this module)', static=True)
        if label in entries:
            return entries[label]
        base = f"{inst.prefix}{kind}.{label}"
        expanded = inst.expansion(block, base)
        if id(block) in inst._failed_expansions:
            raise EvalError("", reported=True)  # its for_each/count error is reported
        if expanded is None:
            entries[label] = _entry(inst, block, base, label)
        else:
            by_key = {key: _entry(inst.keyed(names), block, base + suffix, default_name(label, key))
                      for suffix, key, names in expanded}
            entries[label] = list(by_key.values()) if "count" in block.attributes else by_key
        return entries[label]

    return Namespace(kind, resolve)


def _entry(inst: ModuleInstance, block: Block, address: str, name: str) -> dict[str, Any]:
    """`{id, name}` of one template (instance): a pinned id, else an Unknown naming its address."""
    name_attr = block.attributes.get("name")
    if name_attr is not None:
        name = inst._required(name_attr, address + ".name")
    pinned = block.attributes.get("id")
    template_id: Any = inst._required(pinned, address + ".id") if pinned else Unknown((address,), address)
    return {"id": template_id, "name": name}


def build_templates(inst: ModuleInstance, diags: list[Diagnostic]) -> list[TemplateSpec]:
    """Every template of one module instance, in file order per kind, expanded blocks by key."""
    out: list[TemplateSpec] = []
    for kind, blocks in template_blocks(inst, diags).items():
        for label, block in blocks.items():
            expanded = inst.expansion(block, f"{inst.prefix}{kind}.{label}")
            if expanded is None:
                template = build_template(inst, kind, label, block)
                if template is not None:
                    out.append(template)
                continue
            for suffix, key, names in expanded:  # ordered by key (Terraform's order)
                template = build_template(inst.keyed(names), kind, label + suffix, block, default_name(label, key))
                if template is not None:
                    out.append(template)
    return out


def address_kind(address: str) -> str | None:
    """The template kind an address names (`module.m.address_template.x["a.b"]` → address_template)."""
    kind = resource_type(address)
    return kind if kind in TEMPLATE_KINDS else None


def build_template(inst: ModuleInstance, kind: str, label: str, block: Block,
                   unnamed: str | None = None) -> TemplateSpec | None:
    """One template block (or one instance of an expanded one: `label` carries its key,
    `unnamed` its default name) → a TemplateSpec; every problem is `file:line: attribute: message`."""
    diags = inst.ctx.diags
    address = f"{inst.prefix}{kind}.{label}"
    member_attr = TEMPLATE_KINDS[kind][1]
    allowed = {"name", "id", member_attr}
    ok = True  # unknown attributes: the schema check reports them
    if member_attr not in block.attributes:
        diags.append(error(f'{kind} block is missing the required attribute "{member_attr}"', block.range, address))
        return None
    values: dict[str, Any] = {}
    for name in allowed:
        attr = block.attributes.get(name)
        if attr is not None:
            values[name] = inst.value(attr)
            if values[name] is FAILED:
                ok = False
    if not ok:
        return None

    def bad(name: str, message: str) -> None:
        diags.append(error(f"{name}: {message}", block.attributes[name].range, address))

    name = values.get("name", label if unnamed is None else unnamed)
    if not isinstance(name, str) or not name:
        bad("name", f"a non-empty string is required, not {type_name(name)}")
        return None
    if len(name) > MAX_TEMPLATE_NAME:
        bad("name", f"is longer than {MAX_TEMPLATE_NAME} characters")
        return None
    pinned = values.get("id")
    if pinned is not None and (not isinstance(pinned, str) or not pinned.startswith(_ID_PREFIX[kind])
                               or (kind in ("address_template", "service_template") and pinned.startswith(_ID_PREFIX[kind] + "g-"))):
        bad("id", f"{pinned!r} is not a {_ID_PREFIX[kind]}… id")
        return None
    raw = values[member_attr]
    if not isinstance(raw, (list, tuple)):
        bad(member_attr, f"a list is required, not a {type_name(raw)}")
        return None
    members: list[str | GroupRef] = []
    for n, item in enumerate(raw):
        try:
            members.append(_member(kind, item))
        except ValueError as exc:
            bad(member_attr, f"element {n}: {exc}")
            ok = False
    seen = [str(m) for m in members]
    duplicates = sorted({m for m in seen if seen.count(m) > 1})
    if duplicates:
        bad(member_attr, f"{duplicates[0]} is listed twice")
        ok = False
    if not ok:
        return None
    return TemplateSpec(kind=kind, address=address, name=name, members=tuple(members), id=pinned, origin=block.range)


def _member(kind: str, item: Any) -> str | GroupRef:
    if kind == "address_template":
        if not isinstance(item, str):
            raise ValueError(f"an address string is required, not a {type_name(item)}")
        try:
            return canonical_address(item)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address, CIDR block or address range (a-b)") from None
    if kind == "service_template":
        if not isinstance(item, str):
            raise ValueError(f"a service string is required, not a {type_name(item)}")
        return canonical_service(item)
    member_kind = _MEMBER_KIND[kind]
    if isinstance(item, Unknown):
        if item.address and address_kind(item.address) == member_kind:
            return GroupRef(item.address)
        raise ValueError(f"depends on a value not known until apply; use {member_kind}.<name>.id directly")
    prefix = _ID_PREFIX[member_kind]
    if not isinstance(item, str) or not item.startswith(prefix) or item.startswith(prefix[:-1] + "g-"):
        raise ValueError(f"{item!r} is not a {member_kind} id ({prefix}…)")
    return item


def template_ref(value: Any, field: str) -> GroupRef | None:
    """The GroupRef a rule's template attribute stands for when `value` is a template's unknown id."""
    if isinstance(value, Unknown) and value.address:
        wanted = field[: -len("_id")]  # address_template_id → address_template
        if address_kind(value.address) == wanted:
            return GroupRef(value.address)
    return None
