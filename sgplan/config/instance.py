"""A module instance during evaluation: its scope (`var`, `local`, `module`, `security_group`),
lazy and cycle-checked, with each attribute evaluated at most once and each error reported once."""

from __future__ import annotations

import copy
import json
from typing import Any, Mapping

from sgplan.config.evaluate import Evaluator, Namespace, Scope
from sgplan.config.modules import MAX_MODULE_INSTANCES, META_ARGUMENTS, ModuleConfig, module_instances_message
from sgplan.config.shared import FAILED, MAX_EXPANSION, default_name
from sgplan.config.template_blocks import KINDS as TEMPLATE_KINDS
from sgplan.config.template_blocks import namespace as template_namespace
from sgplan.config.values import EvalError, Unknown, attribute_message, type_name
from sgplan.config.variables import MISSING, finalize
from sgplan.diagnostics import Diagnostic, error
from sgplan.hcl.nodes import Ref
from sgplan.hcl.syntax import Attribute, Block
from sgplan.model import SourceRange

__all__ = ["FAILED", "MAX_EXPANSION", "Context", "ModuleInstance", "group_default_name", "is_plain_group_ref"]


class Context:
    """What all instances of one evaluation share.

    It also tracks where unknown group ids flow, so that a later evaluation with the ids known
    can substitute them instead of evaluating again (`Configuration.evaluate(previous=…)`):
    `unknown_uses` counts every read of a group whose id is unknown (replayed when a cached value
    that read one is used again, so caching hides nothing); `plain_uses` counts the reads in
    positions a substitution settles (a rule's `security_group_id`, a binding's
    `security_groups` item, each written as plain `security_group.x.id`); `opaque` is set when
    an unknown reaches something counting cannot follow (a module input).
    """

    def __init__(self, evaluator: Evaluator, known_ids: Mapping[str, str], diags: list[Diagnostic]) -> None:
        self.evaluator = evaluator
        self.known_ids = known_ids
        self.diags = diags
        self.in_progress: list[str] = []
        self.unknown_uses = 0
        self.plain_uses = 0
        self.opaque = False
        self.group_ids: dict[str, Any] = {}  # address → the id `security_group.x.id` gave
        self.instances = 1  # module instances made so far (the root is one; see MAX_MODULE_INSTANCES)


class ModuleInstance:
    """The root module (prefix "") or a called module (prefix "module.ssh.")."""

    def __init__(self, config: ModuleConfig, prefix: str, variables: Mapping[str, Any], ctx: Context) -> None:
        self.config = config
        self.prefix = prefix
        self.variables = variables
        self.ctx = ctx
        self.scope = Scope(
            {
                "var": Namespace("var", self._var),
                "local": Namespace("local", self._local),
                "module": Namespace("module", self._module),
                "security_group": Namespace("security_group", self._group),
            }
        )
        # Parameter templates: `address_template.x.id` & co.
        for kind in TEMPLATE_KINDS:
            self.scope.names[kind] = template_namespace(self, kind)
        self._cache: dict[int, Any] = {}
        self._taint: dict[int, int] = {}  # id(attr) → unknown reads its cached value stands for
        self._children: dict[str, ModuleInstance | None] = {}
        self._groups: dict[str, Any] = {}  # label → the map or list of an expanded group
        self._plain_groups: dict[str, dict[str, Any]] = {}  # label → {"id", "name"} of a plain group
        self._expansions: dict[int, list[tuple[str, Any, dict[str, Any]]] | None] = {}
        self._failed_expansions: set[int] = set()

    # -- evaluating attributes -----------------------------------------------------------------

    def value(self, attr: Attribute) -> Any:
        """The attribute's value in this module's scope (cached), or FAILED once reported."""
        key = id(attr)
        ctx = self.ctx
        if key in self._cache:
            taint = self._taint.get(key)
            if taint:
                ctx.unknown_uses += taint
            return self._cache[key]
        before = ctx.unknown_uses
        value = self._cache[key] = self.value_in(attr, self.scope)
        if ctx.unknown_uses != before:
            self._taint[key] = ctx.unknown_uses - before
        return value

    def plain_group_id(self, attr: Attribute) -> Any:
        """`attr`'s value (uncached), counting a plain-substitution use when it is written as
        `security_group.x.id` and gives x's unknown id (see `Context`)."""
        value = self.value_in(attr, self.scope)
        if type(value) is Unknown and is_plain_group_ref(attr.expr, self.prefix, value.address):
            self.ctx.plain_uses += 1
        return value

    def value_in(self, attr: Attribute, scope: Scope) -> Any:
        """The attribute's value in `scope` (e.g. with a dynamic block's iterator), or FAILED.

        Each evaluation is charged to the budget by the size of the expression: attributes are
        evaluated again per dynamic-block element and per module instance."""
        evaluator = self.ctx.evaluator
        try:
            evaluator.budget.charge(evaluator.cost(attr.expr))
            return evaluator.evaluate(attr.expr, scope)
        except EvalError as exc:
            if not exc.reported:
                self.report(exc, attr)
            return FAILED

    def report(self, exc: EvalError, attr: Attribute) -> None:
        """Record `exc` as `file:line: attribute: message` (DESIGN §2: name the attribute)."""
        where = SourceRange(attr.range.file, exc.line or attr.range.line, exc.column or attr.range.column)
        self.ctx.diags.append(error(attribute_message(attr.name, exc.message), where))

    def _required(self, attr: Attribute, key: str) -> Any:
        """Evaluate for a reference from elsewhere: cycle-checked; a failure stops the caller."""
        if key in self.ctx.in_progress:
            chain = " → ".join(self.ctx.in_progress[self.ctx.in_progress.index(key) :] + [key])
            raise EvalError(f"cycle: {chain}", static=True)
        self.ctx.in_progress.append(key)
        try:
            value = self.value(attr)
        finally:
            self.ctx.in_progress.pop()
        if value is FAILED:
            raise EvalError("", reported=True)
        return value

    # -- namespaces ----------------------------------------------------------------------------

    def _var(self, name: str) -> Any:
        if name not in self.config.variables:
            raise EvalError(f'unknown variable "{name}"', static=True)
        value = self.variables.get(name, MISSING)
        if value is MISSING:
            raise EvalError("", reported=True)
        return value

    def _local(self, name: str) -> Any:
        attr = self.config.locals.get(name)
        if attr is None:
            raise EvalError(f'unknown local "{name}"', static=True)
        return self._required(attr, f"{self.prefix}local.{name}")

    def _module(self, name: str) -> Any:
        if name not in self.config.calls:
            raise EvalError(f'unknown module "{name}"', static=True)
        call = self.config.calls[name]
        expanded = self.expansion(call, f"{self.prefix}module.{name}")
        if id(call) in self._failed_expansions:
            raise EvalError("", reported=True)
        if expanded is not None:
            # `module.ssh` of an expanded call: a map by key (for_each) or a list (count).
            entries: dict[Any, Any] = {}
            for suffix, key, _names in expanded:
                child = self.child(name, suffix)
                if child is None:
                    raise EvalError("", reported=True)
                entries[key] = Namespace(f"module.{name}{suffix}", child.output)
            return list(entries.values()) if "count" in call.attributes else entries
        child = self.child(name)
        if child is None:
            raise EvalError("", reported=True)
        return Namespace(f"module.{name}", child.output)

    # -- for_each / count ------------------------------------------------------------------------

    def expansion(self, block: Block, address: str) -> list[tuple[str, Any, dict[str, Any]]] | None:
        """The instances a block with `for_each` or `count` stands for, as (address suffix,
        key, scope names) ordered by key as Terraform orders them; None for a plain block.
        Errors are reported once and give no instances."""
        key = id(block)
        if key in self._expansions:
            return self._expansions[key]
        for_each = block.attributes.get("for_each")
        count = block.attributes.get("count")
        if for_each is None and count is None:
            self._expansions[key] = None
            return None
        # Expanded addresses are not what the substitution fast path counts: evaluate in full.
        self.ctx.opaque = True
        out: list[tuple[str, Any, dict[str, Any]]] = []
        self._expansions[key] = out
        diags = self.ctx.diags
        errors_before = len(diags)
        try:
            return self._expand(block, for_each, count, address, out)
        finally:
            if len(diags) != errors_before or not out and self._failed_value(for_each or count):
                self._failed_expansions.add(key)  # references to it stop quietly (already reported)

    def _failed_value(self, attr: Attribute | None) -> bool:
        return attr is not None and self._cache.get(id(attr)) is FAILED

    def _expand(self, block: Block, for_each: Attribute | None, count: Attribute | None, address: str,
                out: list[tuple[str, Any, dict[str, Any]]]) -> list[tuple[str, Any, dict[str, Any]]]:
        diags = self.ctx.diags
        if for_each is not None and count is not None:
            diags.append(error('"count" and "for_each" cannot both be set on one block', count.range, address))
            return out
        attr = for_each if for_each is not None else count
        assert attr is not None
        value = self.value(attr)
        if value is FAILED:
            return out
        # Keys must be known when planning; a map's values may still be unknown ids.
        if isinstance(value, Unknown) or isinstance(value, list) and any(isinstance(v, Unknown) for v in value):
            diags.append(error(f"{attr.name}: value is not known until apply (it depends on a group still to be "
                               "created); keys must be known when planning", attr.range, address))
            return out
        if attr is count:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
                diags.append(error(f"count: a whole number ≥ 0 is required, not {json.dumps(value) if isinstance(value, (int, float, str)) else 'a ' + type_name(value)}",
                                   attr.range, address))
                return out
            if int(value) > MAX_EXPANSION:
                diags.append(error(f"count: {int(value)} instances, at most {MAX_EXPANSION} are allowed", attr.range, address))
                return out
            for index in range(int(value)):
                out.append((f"[{index}]", index, {"count": {"index": index}}))
            return out
        pairs: list[tuple[str, Any]]
        if isinstance(value, dict):
            pairs = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list):
            # A set of strings (sgplan's sets are lists): each element is its own key.
            seen: set[str] = set()
            for item in value:
                if not isinstance(item, str):
                    diags.append(error(f"for_each: a map, or a set of strings, is required; this list holds a {type_name(item)}",
                                       attr.range, address))
                    return out
                if item in seen:
                    diags.append(error(f'for_each: duplicate key "{item}" (use toset() to drop duplicates)', attr.range, address))
                    return out
                seen.add(item)
            pairs = [(k, k) for k in sorted(value)]
        else:
            diags.append(error(f"for_each: a map, or a set of strings, is required, not a {type_name(value)}", attr.range, address))
            return out
        if len(pairs) > MAX_EXPANSION:
            diags.append(error(f"for_each: {len(pairs)} instances, at most {MAX_EXPANSION} are allowed", attr.range, address))
            return out
        for k, v in pairs:
            out.append((f"[{json.dumps(k, ensure_ascii=False)}]", k, {"each": {"key": k, "value": v}}))
        return out

    def keyed(self, names: dict[str, Any]) -> "ModuleInstance":
        """This instance seen from one expanded block instance: `each`/`count` added to the
        scope, with its own attribute cache (the same attribute has one value per key)."""
        sub = copy.copy(self)
        sub.scope = self.scope.child(names)
        sub._cache = {}
        sub._taint = {}
        return sub

    def _group(self, label: str) -> Any:
        # A plain group's entry is looked up first: rules and bindings read `security_group.x.id`
        # tens of thousands of times at G=2,000 (issue 18), and nothing below changes it once made.
        entry = self._plain_groups.get(label)
        if entry is None:
            block = self.config.groups.get(label)
            if block is None:
                raise EvalError(f'unknown security_group "{label}" (security_group.{label} is not declared in this module)', static=True)
            base = f"{self.prefix}security_group.{label}"
            expanded = self.expansion(block, base)
            if id(block) in self._failed_expansions:
                raise EvalError("", reported=True)
            if expanded is not None:
                # `security_group.web` is then a map by key (for_each) or a list (count).
                if label not in self._groups:
                    entries = {key: self._group_entry(self.keyed(names), block, base + suffix, group_default_name(label, key))
                               for suffix, key, names in expanded}
                    self._groups[label] = list(entries.values()) if "count" in block.attributes else entries
                return self._groups[label]
            name_attr = block.attributes.get("name")
            name = self._required(name_attr, base + ".name") if name_attr else label
            group_id: Any = self.ctx.known_ids.get(base)
            if group_id is None and "id" in block.attributes:
                group_id = self._required(block.attributes["id"], base + ".id")
            if group_id is None:
                group_id = Unknown((base,), base)
            entry = self._plain_groups[label] = {"id": group_id, "name": name}
            self.ctx.group_ids[base] = group_id
        if type(entry["id"]) is Unknown:
            self.ctx.unknown_uses += 1
        return entry

    def _group_entry(self, sub: "ModuleInstance", block: Block, address: str, default_name: str) -> dict[str, Any]:
        name_attr = block.attributes.get("name")
        name = sub._required(name_attr, address + ".name") if name_attr else default_name
        group_id: Any = self.ctx.known_ids.get(address)
        if group_id is None and "id" in block.attributes:
            group_id = sub._required(block.attributes["id"], address + ".id")
        if group_id is None:
            group_id = Unknown((address,), address)
        self.ctx.group_ids[address] = group_id
        return {"id": group_id, "name": name}

    # -- child modules and outputs -------------------------------------------------------------

    def child(self, name: str, suffix: str = "") -> "ModuleInstance | None":
        """The called module `name` (the instance at `suffix`, `["prod"]` or `[0]`, of an
        expanded call), its inputs evaluated here and checked against its variables."""
        slot = name + suffix
        if slot in self._children:
            return self._children[slot]
        key = f"{self.prefix}module.{slot}"
        if key in self.ctx.in_progress:
            raise EvalError(f"cycle: module.{name} uses its own outputs as inputs", static=True)
        self.ctx.in_progress.append(key)
        try:
            if suffix:
                names = next(n for s, _k, n in self.expansion(self.config.calls[name], key) or () if s == suffix)
                self._children[slot] = self.keyed(names)._make_child(name, suffix)
            else:
                self._children[slot] = self._make_child(name)
        finally:
            self.ctx.in_progress.pop()
        return self._children[slot]

    def _make_child(self, name: str, suffix: str = "") -> "ModuleInstance | None":
        call: Block = self.config.calls[name]
        config = self.config.children.get(name)
        if config is None:
            return None
        raw: dict[str, Any] = {}
        ok = True
        for input_name, attr in call.attributes.items():
            if input_name in META_ARGUMENTS:
                continue
            if input_name not in config.variables:
                self.ctx.diags.append(
                    error(f'module "{name}": unknown input "{input_name}" (the module declares no such variable)', attr.range)
                )
                ok = False
                continue
            value = self.value(attr)
            if value is FAILED:
                ok = False
                continue
            if self.ctx.evaluator.budget.unknown_refs(value):
                self.ctx.opaque = True  # the module's uses of it are not counted
            raw[input_name] = (value, attr.range)
        values: dict[str, Any] = {}
        for var_name, var in config.variables.items():
            value, where = raw.get(var_name, (MISSING, call.range))
            values[var_name] = finalize(var, value, self.ctx.evaluator, where, self.ctx.diags)
            if var.default is MISSING and value is MISSING:
                self.ctx.diags[-1] = error(f'module "{name}": missing required input "{var_name}"', call.range)
        if not ok:
            return None
        self.ctx.instances += 1
        if self.ctx.instances > MAX_MODULE_INSTANCES:  # reached only if calls multiply (count/for_each)
            raise EvalError(module_instances_message())
        return ModuleInstance(config, f"{self.prefix}module.{name}{suffix}.", values, self.ctx)

    def output(self, name: str) -> Any:
        block = self.config.outputs.get(name)
        if block is None:
            raise EvalError(f'module "{self.prefix[len("module.") : -1] if self.prefix else ""}" has no output "{name}"', static=True)
        attr = block.attributes.get("value")
        if attr is None:
            raise EvalError("", reported=True)  # the schema check reported the missing value
        return self._required(attr, f"{self.prefix}output.{name}")

    def children(self) -> list["ModuleInstance"]:
        out = []
        for name in self.config.calls:
            call = self.config.calls[name]
            expanded = self.expansion(call, f"{self.prefix}module.{name}")
            for suffix in [""] if expanded is None else [s for s, _k, _n in expanded]:  # by key
                try:
                    child = self.child(name, suffix)
                except EvalError as exc:
                    self.ctx.diags.append(error(exc.message, call.range))
                    child = None
                if child is not None:
                    out.append(child)
        return out


group_default_name = default_name  # an expanded group's name when it sets none (`web-a`, `web-0`)


def is_plain_group_ref(expr: Any, prefix: str, address: str | None) -> bool:
    """Whether `expr` is the compact reference `security_group.<label>.id` naming `address`
    from a module with address prefix `prefix`."""
    if type(expr) is not Ref or address is None:
        return False
    names = expr.names
    return len(names) == 3 and names[0] == "security_group" and names[2] == "id" and (
        address == f"{prefix}security_group.{names[1]}")
