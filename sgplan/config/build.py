"""Evaluated module instances → the model: `SecurityGroup`s (rules in block order, dynamic blocks
expanded), `Binding`s (one per instance), `Expect`s (contracts), root `Output`s and `Settings`."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

from sgplan.config.evaluate import Scope
from sgplan.config.instance import FAILED, ModuleInstance, is_plain_group_ref
from sgplan.config.rules import GROUP_ID, build_rules, invisible_character, literal_rule
from sgplan.config.values import Unknown, has_unknown, iterate, type_name
from sgplan.diagnostics import error
from sgplan.hcl.nodes import ListOf, Ref
from sgplan.hcl.syntax import Attribute, Block
from sgplan.model import (
    MAX_DESCRIPTION,
    MAX_GROUPS_PER_INSTANCE,
    MAX_NAME,
    SGPLAN_TAGS,
    Binding,
    Direction,
    Expect,
    GroupRef,
    Output,
    Rule,
    SecurityGroup,
    Settings,
    make_tags,
    normalize_port,
    normalize_protocol,
)

INSTANCE_ID = re.compile(r"^ins-[0-9a-z]+$")


def _typed(inst: ModuleInstance, block: Block, name: str, kinds: tuple[type, ...], what: str, address: str) -> Any:
    """Attribute value checked against Python types; None when absent, FAILED on error."""
    attr = block.attributes.get(name)
    if attr is None:
        return None
    value = inst.value(attr)
    if value is FAILED or value is None:
        return value
    if isinstance(value, Unknown):
        inst.ctx.diags.append(error(f"{name}: value is not known until apply (it depends on a group still to be created)", attr.range, address))
        return FAILED
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        inst.ctx.diags.append(error(f"{name}: {what} is required, not a {type_name(value)}", attr.range, address))
        return FAILED
    return value


def build_group(inst: ModuleInstance, label: str, block: Block, default_name: str | None = None) -> SecurityGroup | None:
    """One group; `label` carries the key of an expanded block (`web["a"]`), whose name
    defaults to `default_name`."""
    address = f"{inst.prefix}security_group.{label}"
    diags = inst.ctx.diags
    name = _typed(inst, block, "name", (str,), "a string", address)
    description = _typed(inst, block, "description", (str,), "a string", address)
    project = _typed(inst, block, "project_id", (int, str), "a number", address)
    tags = _typed(inst, block, "tags", (dict,), "a map of strings", address)
    pinned = _typed(inst, block, "id", (str,), "a string", address)
    prevent = _typed(inst, block, "prevent_destroy", (bool,), "a bool", address)
    ignore = _typed(inst, block, "ignore_findings", (list,), "a list of strings", address)
    failed = any(v is FAILED for v in (name, description, project, tags, pinned, prevent, ignore))
    if isinstance(tags, dict):
        for key, value in tags.items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                diags.append(error(f'tags: value of "{key}" must be a string, not a {type_name(value)}', block.attributes["tags"].range, address))
                failed = True
    if isinstance(tags, dict):
        for key in tags:
            if key in SGPLAN_TAGS or str(key).startswith("sgplan-"):
                diags.append(error(f'tags: "{key}" is reserved: sgplan sets its own tags (sgplan-*) to know '
                                   "which groups it owns", block.attributes["tags"].range, address))
                failed = True
    for attr_name, value in (("name", name), ("description", description)):
        problem = invisible_character(value) if isinstance(value, str) else None
        if problem:
            diags.append(error(f"{attr_name}: {problem}", block.attributes[attr_name].range, address))
            failed = True
    if isinstance(tags, dict):
        for key, value in tags.items():
            problem = invisible_character(str(key)) or invisible_character(str(value))
            if problem:
                diags.append(error(f'tags: "{key}" {problem}', block.attributes["tags"].range, address))
                failed = True
    if isinstance(ignore, list) and not all(isinstance(v, str) for v in ignore):
        diags.append(error("ignore_findings: every element must be a string", block.attributes["ignore_findings"].range, address))
        failed = True
    if isinstance(project, str) and not project.isdigit():
        diags.append(error(f'project_id: "{project}" is not a project number', block.attributes["project_id"].range, address))
        failed = True
    for attr_name, value, limit in (("name", name, MAX_NAME), ("description", description, MAX_DESCRIPTION)):
        if isinstance(value, str) and len(value) > limit:
            where = block.attributes[attr_name].range
            diags.append(error(f"{attr_name}: {len(value)} characters, the API allows at most {limit}", where, address))
            failed = True
    if isinstance(name, str) and not name.strip():
        diags.append(error("name: must not be empty", block.attributes["name"].range, address))
        failed = True
    if isinstance(pinned, str) and not GROUP_ID.match(pinned):
        diags.append(error(f'id: "{pinned}" does not look like a security group id (sg-…)', block.attributes["id"].range, address))
        failed = True
    ingress: list[Rule] = []
    egress: list[Rule] = []
    group_id_of = inst.plain_group_id  # one bound method for the group's rules, not one per rule
    for nested in block.blocks:
        if nested.type in ("ingress", "egress"):
            target = ingress if nested.type == "ingress" else egress
            rule = literal_rule(nested, group_id_of, address, diags)
            if rule is not None:
                target.append(rule)
                continue
            target.extend(build_rules(nested, _getter(inst, nested), FAILED, address, diags))
        elif nested.type == "dynamic" and nested.labels:
            target = ingress if nested.labels[0] == "ingress" else egress
            target.extend(_dynamic_rules(inst, nested, address))
    if failed:
        return None
    return SecurityGroup(
        name=name if name is not None else (default_name or label),
        description=description or "",
        project_id=str(project) if project is not None else "0",
        tags=make_tags({k: str(v) if not isinstance(v, float) else repr(v) for k, v in (tags or {}).items()}),
        ingress=tuple(ingress),
        egress=tuple(egress),
        id=pinned,
        address=address,
        prevent_destroy=bool(prevent),
        ignore_findings=tuple(ignore or ()),
        origin=block.range,
    )


def _getter(inst: ModuleInstance, block: Block) -> Callable[[Attribute], Any]:
    """How build_rules evaluates a static rule's attributes: its `security_group_id` through
    `plain_group_id`, so a plain `security_group.x.id` counts as a substitution-settled use."""
    sg_attr = block.attributes.get("security_group_id")
    if sg_attr is None:
        return inst.value
    return lambda attr: inst.plain_group_id(attr) if attr is sg_attr else inst.value(attr)


def _dynamic_rules(inst: ModuleInstance, block: Block, address: str) -> list[Rule]:
    """`dynamic "ingress" { for_each, iterator, content {} }` → one rule block per element."""
    diags = inst.ctx.diags
    for_each_attr = block.attributes.get("for_each")
    content = next((b for b in block.blocks if b.type == "content"), None)
    if for_each_attr is None or content is None:
        return []
    iterator = block.labels[0]
    if "iterator" in block.attributes:
        node = block.attributes["iterator"].expr
        if not isinstance(node, Ref) or len(node.names) != 1:  # the walker makes plain names Refs
            diags.append(error("iterator: must be a plain name", block.attributes["iterator"].range, address))
            return []
        iterator = node.names[0]
    collection = inst.value(for_each_attr)
    if collection is FAILED:
        return []
    if isinstance(collection, Unknown) or has_unknown(collection) and not isinstance(collection, list):
        diags.append(error("for_each: value is not known until apply", for_each_attr.range, address))
        return []
    if not isinstance(collection, (list, dict)):
        diags.append(error(f"for_each: a list, set or map is required, not a {type_name(collection)}", for_each_attr.range, address))
        return []
    rules: list[Rule] = []
    for key, value in iterate(collection):
        scope: Scope = inst.scope.child({iterator: {"key": key, "value": value}})
        rules.extend(
            build_rules(content, lambda attr, s=scope: inst.value_in(attr, s), FAILED, address, diags, content.range)
        )
    return rules


def build_binding(inst: ModuleInstance, label: str, block: Block) -> list[Binding]:
    address = f"{inst.prefix}binding.{label}"
    diags = inst.ctx.diags
    instances = _typed(inst, block, "instance_ids", (list,), "a list of instance ids", address)
    groups_attr: Attribute | None = block.attributes.get("security_groups")
    groups = inst.value(groups_attr) if groups_attr else None
    if groups_attr is not None and type(groups_attr.expr) is ListOf and isinstance(groups, list):
        # Plain `security_group.x.id` items are substitution-settled uses (instance.Context).
        for node, item in zip(groups_attr.expr.items, groups):
            if type(item) is Unknown and is_plain_group_ref(node, inst.prefix, item.address):
                inst.ctx.plain_uses += 1
    if instances in (None, FAILED) or groups in (None, FAILED):
        return []
    ok = True
    ids_range = block.attributes["instance_ids"].range
    for item in instances:
        if not isinstance(item, str):
            diags.append(error(f"instance_ids: every element must be a string, not a {type_name(item)}", ids_range, address))
            ok = False
        elif not INSTANCE_ID.match(item):
            diags.append(error(f'instance_ids: "{item}" does not look like an instance id (ins-…)', ids_range, address))
            ok = False
    if not isinstance(groups, list):
        diags.append(error(f"security_groups: a list of group ids is required, not a {type_name(groups)}", groups_attr.range, address))
        return []
    refs: list[str | GroupRef] = []
    for item in groups:
        if isinstance(item, Unknown) and item.address is not None:
            refs.append(GroupRef(item.address))
        elif isinstance(item, str) and GROUP_ID.match(item):
            refs.append(item)
        elif isinstance(item, str):
            diags.append(error(f'security_groups: "{item}" does not look like a security group id (sg-…)', groups_attr.range, address))
            ok = False
        else:
            diags.append(error(f"security_groups: every element must be a group id, not a {type_name(item)}", groups_attr.range, address))
            ok = False
    if not ok:
        return []
    seen: set[str] = set()
    for ref in refs:
        if str(ref) in seen:
            diags.append(error(f"security_groups: {ref} is listed twice", groups_attr.range, address))
            ok = False
        seen.add(str(ref))
    if len(refs) > MAX_GROUPS_PER_INSTANCE:
        diags.append(
            error(
                f"security_groups: {len(refs)} groups, an instance can carry at most {MAX_GROUPS_PER_INSTANCE}",
                groups_attr.range,
                address,
            )
        )
        ok = False
    if not ok:
        return []
    # Each binding's origin is its instance_ids line: that is where an instance is named, so
    # "bound twice" and "does not exist" point there (DESIGN §2: file:line and the attribute).
    return [Binding(address, ins, tuple(refs), ids_range) for ins in dict.fromkeys(instances)]


def build_outputs(inst: ModuleInstance) -> list[Output]:
    outputs: list[Output] = []
    for name, block in inst.config.outputs.items():
        attr = block.attributes.get("value")
        if attr is None:
            continue
        value = inst.value(attr)
        sensitive = _typed(inst, block, "sensitive", (bool,), "a bool", f"output.{name}")
        if FAILED in (value, sensitive):
            continue
        if has_unknown(value):
            outputs.append(Output(name, None, known=False, sensitive=bool(sensitive)))
        else:
            outputs.append(Output(name, value, known=True, sensitive=bool(sensitive)))
    return outputs


def build_settings(inst: ModuleInstance) -> Settings:
    block = inst.config.settings
    if block is None:
        return Settings()
    values: dict[str, Any] = {}
    for name in ("region", "stack", "cloud"):
        value = _typed(inst, block, name, (str,), "a string", "sgplan")
        if isinstance(value, str):
            values[name] = value
    if values.get("stack") == "":
        inst.ctx.diags.append(error("stack: must not be empty", block.attributes["stack"].range))
        values.pop("stack")
    return Settings(origin=block.range, **values)


def force_all(inst: ModuleInstance) -> None:
    """Evaluate every local (used or not), so their errors surface as Terraform's do."""
    for attr in inst.config.locals.values():
        inst.value(attr)


# ---------------------------------------------------------------------------------------------
# expect blocks (issue 16)

EXPECT_DECISIONS = ("allow", "deny")


def binding_scope(inst: ModuleInstance) -> Scope:
    """This module's scope plus `binding.<name>.instance_ids`, which contracts may name."""
    table: dict[str, dict[str, Any]] = {}
    for label, block in inst.config.bindings.items():
        attr = block.attributes.get("instance_ids")
        expanded = inst.expansion(block, f"{inst.prefix}binding.{label}")
        if expanded is not None:
            # An expanded binding is a map by key (for_each) or a list (count), as in Terraform.
            entries: dict[Any, Any] = {}
            for _suffix, key, names in expanded:
                value = inst.keyed(names).value(attr) if attr is not None else None
                if value is not FAILED and value is not None:
                    entries[key] = {"instance_ids": value}
            table[label] = list(entries.values()) if "count" in block.attributes else entries  # type: ignore[assignment]
            continue
        value = inst.value(attr) if attr is not None else None
        if value is not FAILED and value is not None:
            table[label] = {"instance_ids": value}
    return inst.scope.child({"binding": table})


def _expect_value(inst: ModuleInstance, scope: Scope, block: Block, name: str, address: str) -> Any:
    attr = block.attributes.get(name)
    if attr is None:
        return None
    value = inst.value_in(attr, scope)
    if has_unknown(value):
        inst.ctx.diags.append(error(f"{name}: value is not known until apply (it depends on a group still "
                                    "to be created)", attr.range, address))
        return FAILED
    return value


def build_expect(inst: ModuleInstance, label: str, block: Block, scope: Scope | None = None) -> Expect | None:
    """One `expect` block → an `Expect`, every attribute checked (errors name file:line).

    `scope` is `binding_scope(inst)`, made once per module instance by the caller."""
    address = f"{inst.prefix}expect.{label}"
    diags = inst.ctx.diags
    scope = binding_scope(inst) if scope is None else scope
    values = {name: _expect_value(inst, scope, block, name, address)
              for name in ("instances", "direction", "peer", "protocol", "ports", "decision", "description")}
    if any(v is FAILED for v in values.values()):
        return None
    start = len(diags)

    def problem(name: str, message: str) -> None:
        where = block.attributes[name].range if name in block.attributes else block.range
        diags.append(error(f"{name}: {message}", where, address))

    direction = values["direction"]
    if direction is None:
        problem("direction", 'is required ("ingress" or "egress")')
    elif not isinstance(direction, str) or direction.lower() not in ("ingress", "egress"):
        problem("direction", f'must be "ingress" or "egress", not {direction!r}')
    decision = values["decision"]
    if decision is None:
        problem("decision", 'is required ("allow" or "deny")')
    elif not isinstance(decision, str) or decision.lower() not in EXPECT_DECISIONS:
        problem("decision", f'must be "allow" or "deny", not {decision!r}')
    protocol = None
    if values["protocol"] is None:
        problem("protocol", "is required (TCP, UDP, ICMP, ICMPv6, GRE or ALL)")
    else:
        try:
            protocol = normalize_protocol(str(values["protocol"]))
        except ValueError:
            problem("protocol", f"must be one of TCP, UDP, ICMP, ICMPv6, GRE, ALL, not {values['protocol']!r}")
    ports = None
    if protocol is not None:
        raw = values["ports"]
        if protocol in ("TCP", "UDP") and raw is None:
            problem("ports", f'is required with {protocol} ("22", "8000-8010", "80,443" or "ALL")')
        else:
            try:
                ports = normalize_port(protocol, None if raw is None else str(raw))
            except ValueError as exc:
                problem("ports", str(exc))
    peers = _expect_peers(values["peer"], protocol, problem)
    instances = _expect_instances(values["instances"], problem)
    selected = _expect_groups(inst, scope, block, problem)
    if selected is not None and instances is not None:
        problem("security_groups", "give either instances or security_groups, not both")
    description = values["description"]
    if description is not None and not isinstance(description, str):
        problem("description", f"a string is required, not a {type_name(description)}")
    if len(diags) > start:
        return None
    return Expect(address, Direction(direction.lower()), peers, protocol, ports, decision.lower(), instances,
                  description or "", origin=block.range, security_groups=selected)


def _expect_groups(inst: ModuleInstance, scope: Scope, block: Block,
                   problem: Callable[[str, str], None]) -> tuple[str, ...] | None:
    """`security_groups`: group ids, or references to groups of this configuration (kept as
    their address while the id is not known)."""
    attr = block.attributes.get("security_groups")
    if attr is None:
        return None
    raw = inst.value_in(attr, scope)
    if raw is FAILED:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        if isinstance(item, Unknown) and item.address is not None:
            out.append(item.address)
        elif isinstance(item, str) and GROUP_ID.match(item):
            out.append(item)
        else:
            shown = f'"{item}"' if isinstance(item, str) else f"a {type_name(item)}"
            problem("security_groups", f"{shown} is not a security group id (sg-…) or reference")
    return tuple(dict.fromkeys(out))


def _expect_peers(raw: Any, protocol: str | None, problem: Callable[[str, str], None]) -> tuple[str, ...]:
    if raw is None:
        problem("peer", 'is required: a list of CIDRs, or "internet"')
        return ()
    items = raw if isinstance(raw, list) else [raw]
    peers: list[str] = []
    for item in items:
        if not isinstance(item, str):
            problem("peer", f"every element must be a CIDR or \"internet\", not a {type_name(item)}")
            continue
        if item.strip().lower() == "internet":
            peers.append("internet")
            continue
        try:
            network = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            problem("peer", f'"{item}" is neither a CIDR block nor "internet"')
            continue
        peers.append(network.compressed)
    if not peers and items:
        return ()
    if not items:
        problem("peer", "must name at least one CIDR block or \"internet\"")
    families = {":" in p for p in peers if p != "internet"} | ({True, False} if "internet" in peers else set())
    if protocol == "ICMP" and families == {True}:
        problem("peer", "ICMP goes with IPv4 peers only: use protocol = \"ICMPv6\" for IPv6")
    if protocol == "ICMPv6" and families == {False}:
        problem("peer", "ICMPv6 goes with IPv6 peers only: use protocol = \"ICMP\" for IPv4")
    return tuple(dict.fromkeys(peers))


def _expect_instances(raw: Any, problem: Callable[[str, str], None]) -> tuple[str, ...] | None:
    if raw is None:
        return None  # every instance a binding of the configuration names
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            problem("instances", f"every element must be an instance id, not a {type_name(item)}")
            continue
        if not INSTANCE_ID.match(item):
            problem("instances", f'"{item}" does not look like an instance id (ins-…)')
            continue
        out.append(item)
    return tuple(dict.fromkeys(out))
