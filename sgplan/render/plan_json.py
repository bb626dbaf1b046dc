"""The public plan JSON (`plan --json`, `show --json`): DESIGN §5, shaped like `terraform show -json`.

Separate from the plan file (`plan/planfile.py`) so either can change without breaking the other.
Pure (value → dict).
"""

from __future__ import annotations

import dataclasses
import json
import re
from enum import Enum
from typing import Any

from sgplan.analysis.exposure import summarize
from sgplan.plan.plan import Plan
from sgplan.render.text import UNBIND_NAME

JSON_FORMAT_VERSION = "1.2"  # Terraform's plan JSON format version whose fields this carries
PROVIDER_NAME = "registry.terraform.io/sgplan/tencentcloud"
_PROVIDER_KEY = "tencentcloud"
_RESOURCE = re.compile(r"^(?P<type>[A-Za-z0-9_]+)\.(?P<name>[A-Za-z0-9_\-()]+)(?:\[(?P<index>.*)\])?$")
_EXPOSURE_KEYS = ("instance_id", "direction", "protocol", "ports", "peer", "effect")
_FINDING_KEYS = ("rule", "severity", "address", "message")


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dict (DESIGN §5) plus the ordered `operations`."""
    outputs: dict[str, Any] = {}
    for o in plan.outputs:
        entry: dict[str, Any] = {"known": o.known}
        if o.sensitive:
            entry["sensitive"] = True  # the value is a secret: never printed
        elif o.known:
            entry["value"] = _jsonable(o.value)
        outputs[o.name] = entry
    pending = _pending_ids(plan)
    changes = [_resource_change(c, pending) for c in plan.resource_changes]
    return {
        "format_version": JSON_FORMAT_VERSION,
        "sgplan_version": plan.sgplan_version,
        "region": plan.region,
        "stack": plan.stack,
        "resource_changes": changes,
        "exposure_changes": [_pick(x, _EXPOSURE_KEYS) for x in plan.exposure_changes],
        "findings": [_pick(x, _FINDING_KEYS) for x in plan.findings],
        "planned_values": {"outputs": outputs, "root_module": _module_tree(_planned_resources(plan, pending))},
        "summary": plan.summary,
        # `exposure_changes` as the text plan states them: "from X except Y" per line.
        "exposure_summary": [s.to_json() for s in summarize(plan.exposure_changes)],
        # One per `expect` block: status on the planned state, `before` on the live state.
        "contract_results": [r.to_json() for r in getattr(plan, "contract_results", ())],
        # Non-empty only when no exposure-safe order exists (DESIGN §6); apply then refuses.
        "transient_exposure": [
            {"step": t.step + 1, **_pick(t.change, _EXPOSURE_KEYS)} for t in plan.transient_exposure
        ],
        # Terraform's remaining plan fields (terraform show -json, format 1.2).
        "terraform_version": plan.sgplan_version,
        "applyable": plan.has_changes,
        "complete": True,
        "errored": False,
        "output_changes": _output_changes(plan),
        "prior_state": {
            "format_version": "1.0",
            "terraform_version": plan.sgplan_version,
            "values": {"outputs": {}, "root_module": _module_tree(_prior_resources(plan))},
        },
        "configuration": _configuration(plan),
        "operations": [
            {
                "step": number,
                "stage": int(op.stage),
                "stage_name": op.stage.title,
                "service": op.service,
                "action": op.action,
                "address": op.address,
                "params": op.params,
                "summary": op.summary,
            }
            for number, op in enumerate(plan.operations, 1)
        ],
    }


def _pick(item: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The contract keys first, then any extra fields the analysis package provides."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        values = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    elif isinstance(item, dict):
        values = dict(item)
    else:
        values = {k: getattr(item, k, None) for k in keys}
    ordered = {k: _jsonable(values.get(k)) for k in keys}
    ordered.update({k: _jsonable(v) for k, v in values.items() if k not in ordered and v is not None})
    return ordered


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value


# --- Terraform's plan representation ------------------------------------------------------------


def _pending_ids(plan: Plan) -> set[str]:
    """`<address>.id` of every resource this plan creates: values not known before apply."""
    return {f"{c.address}.id" for c in plan.resource_changes if "create" in c.actions}


def _unknowns(value: Any, pending: set[str]) -> tuple[Any, Any]:
    """(value with unknown ids as null, Terraform's after_unknown mask).

    The mask is `True` for an unknown leaf; objects list only their members that hold something
    unknown; a list that holds something unknown lists every element (`false` / `{}` when known);
    a value with nothing unknown is `False` (a known leaf, omitted by its parent).
    """
    if isinstance(value, str) and value in pending:
        return None, True
    if isinstance(value, dict):
        known, mask = {}, {}
        for key, item in value.items():
            known[key], flag = _unknowns(item, pending)
            if flag is not False:
                mask[key] = flag
        return known, (mask if mask else False)
    if isinstance(value, (list, tuple)):
        pairs = [_unknowns(item, pending) for item in value]
        if all(flag is False for _, flag in pairs):
            return [k for k, _ in pairs], False
        return [k for k, _ in pairs], [
            flag if flag is not False else ({} if isinstance(item, dict) else False)
            for (_, flag), item in zip(pairs, value)
        ]
    return value, False


def _local_part(address: str, module_address: str | None) -> tuple[str, str, Any]:
    """(type, name, index) of the resource part of an address (index: key, number or None)."""
    local = address[len(module_address) + 1:] if module_address and address.startswith(module_address + ".") else address
    match = _RESOURCE.match(local)
    if match is None:
        return "", local, None
    index = match.group("index")
    name = match.group("name")
    if index is not None:
        try:
            index = json.loads(index)
        except ValueError:
            # An expanded binding's per-instance change, `binding.b["k"]["ins-…"]`: the index is
            # the instance (as for a plain binding), the block's key stays with the name.
            last = re.match(r'^(?P<keys>.*\])\[(?P<last>"(?:[^"\\]|\\.)*"|\d+)$', index)
            if last is not None:
                name, index = f"{name}[{last.group('keys')}", json.loads(last.group("last"))
    return match.group("type"), name, index


def _resource_change(c: Any, pending: set[str]) -> dict[str, Any]:
    _, local_name, index = _local_part(c.address, c.module_address)
    after, mask = _unknowns(c.after, pending)
    after_unknown: dict[str, Any] = mask if isinstance(mask, dict) else {}
    if c.after is not None and "create" in c.actions and c.type != "binding":
        after_unknown = {**after_unknown, "id": True}  # the cloud assigns the id
    entry: dict[str, Any] = {"address": c.address}
    if getattr(c, "previous_address", None):
        # Terraform's jsonplan: the address a `moved` block moved it from, right after `address`.
        entry["previous_address"] = c.previous_address
    entry.update({
        "module_address": c.module_address,
        "mode": "managed",
        "type": c.type,
        "name": local_name if index is not None and local_name else c.name,  # Terraform: the label, key apart
    })
    if index is not None:
        entry["index"] = index
    entry.update({
        "provider_name": PROVIDER_NAME,
        "id": c.id,
        "change": {
            "actions": list(c.actions),
            "before": c.before,
            "after": after,
            "after_unknown": after_unknown,
            "before_sensitive": False if c.before is None else {},
            "after_sensitive": False if c.after is None else {},
        },
    })
    return entry


def _resource_value(c: Any, values: dict[str, Any]) -> dict[str, Any]:
    _, local_name, index = _local_part(c.address, c.module_address)
    name = local_name if index is not None and local_name else c.name
    entry: dict[str, Any] = {"address": c.address, "mode": "managed", "type": c.type, "name": name}
    if index is not None:
        entry["index"] = index
    entry.update({"provider_name": PROVIDER_NAME, "schema_version": 0, "values": values, "sensitive_values": {}})
    return entry


def _planned_resources(plan: Plan, pending: set[str]) -> list[tuple[str | None, dict[str, Any]]]:
    out = []
    for c in plan.resource_changes:
        if c.after is None:
            continue
        after, _ = _unknowns(c.after, pending)
        known_id = None if "create" in c.actions and c.type != "binding" else c.id
        out.append((c.module_address, _resource_value(c, {"id": known_id, **after})))
    return out


def _prior_resources(plan: Plan) -> list[tuple[str | None, dict[str, Any]]]:
    return [(c.module_address, _resource_value(c, {"id": c.id, **c.before}))
            for c in plan.resource_changes if c.before is not None]


def _module_chain(module_address: str) -> list[str]:
    """`module.a["x"].module.b` → [`module.a["x"]`, `module.a["x"].module.b`]."""
    chain, depth, start = [], 0, 0
    text = module_address
    i = 0
    while i < len(text):  # split on `.module.` outside brackets (keys may hold dots)
        ch = text[i]
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0 and text.startswith(".module.", i):
            chain.append(text[:i])
            start = i + 1
        i += 1
    del start
    chain.append(text)
    return chain


def _module_tree(resources: list[tuple[str | None, dict[str, Any]]]) -> dict[str, Any]:
    """Terraform's module nesting: root resources, then `child_modules` by module address."""
    root: dict[str, Any] = {"resources": []}
    nodes: dict[str, dict[str, Any]] = {}
    for module_address, resource in resources:
        node = root
        for address in _module_chain(module_address) if module_address else []:
            child = nodes.get(address)
            if child is None:
                child = nodes[address] = {"resources": [], "address": address}
                node.setdefault("child_modules", []).append(child)
            node = child
        node["resources"].append(resource)
    return root


def _output_changes(plan: Plan) -> dict[str, Any]:
    """sgplan keeps no state, so an output has no recorded old value: one that is known on a plan
    without changes is unchanged (no-op), any other is shown as created."""
    out: dict[str, Any] = {}
    for o in plan.outputs:
        value = None if (o.sensitive or not o.known) else _jsonable(o.value)
        unchanged = o.known and not plan.has_changes
        out[o.name] = {
            "actions": ["no-op"] if unchanged else ["create"],
            "before": value if unchanged else None,
            "after": value,
            "after_unknown": not o.known,
            "before_sensitive": bool(o.sensitive) if unchanged else False,
            "after_sensitive": bool(o.sensitive),
        }
    return out


def _configuration(plan: Plan) -> dict[str, Any]:
    """The configuration as Terraform describes it: provider, resources per module, outputs."""
    provider = {"name": _PROVIDER_KEY, "full_name": PROVIDER_NAME,
                "expressions": {"region": {"constant_value": plan.region}}}
    root: dict[str, Any] = {"resources": [], "module_calls": {}}
    seen: set[tuple[str | None, str, str]] = set()
    for c in plan.resource_changes:
        # Not blocks of the configuration: groups whose block is gone, instances no binding names.
        if tuple(c.actions) == ("delete",) or c.name == UNBIND_NAME:
            continue
        kind, name, _ = _local_part(c.address, c.module_address)
        key = (c.module_address, kind or c.type, name)
        if key in seen:
            continue
        seen.add(key)
        node = root
        for address in _module_chain(c.module_address) if c.module_address else []:
            call = re.sub(r"\[.*\]$", "", address.rsplit("module.", 1)[-1])
            node = node.setdefault("module_calls", {}).setdefault(call, {"module": {"resources": []}})["module"]
        node.setdefault("resources", []).append({
            "address": f"{kind or c.type}.{name}",
            "mode": "managed",
            "type": kind or c.type,
            "name": name,
            "provider_config_key": _PROVIDER_KEY,
            "schema_version": 0,
        })
    root["outputs"] = {o.name: ({"sensitive": True} if o.sensitive else {}) for o in plan.outputs}
    return {"provider_config": {_PROVIDER_KEY: provider}, "root_module": root}

