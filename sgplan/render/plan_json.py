"""The public plan JSON (`plan --json`, `show --json`): DESIGN §5, shaped like `terraform show -json`.

Separate from the plan file (`plan/planfile.py`) so either can change without breaking the other.
Pure (value → dict).
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from sgplan.analysis.exposure import summarize
from sgplan.plan.plan import Plan

JSON_FORMAT_VERSION = "1.0"
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
    return {
        "format_version": JSON_FORMAT_VERSION,
        "sgplan_version": plan.sgplan_version,
        "region": plan.region,
        "stack": plan.stack,
        "resource_changes": [
            {
                "address": c.address,
                "module_address": c.module_address,
                "type": c.type,
                "name": c.name,
                "id": c.id,
                "change": {"actions": list(c.actions), "before": c.before, "after": c.after},
            }
            for c in plan.resource_changes
        ],
        "exposure_changes": [_pick(x, _EXPOSURE_KEYS) for x in plan.exposure_changes],
        "findings": [_pick(x, _FINDING_KEYS) for x in plan.findings],
        "planned_values": {"outputs": outputs},
        "summary": plan.summary,
        # `exposure_changes` as the text plan states them: "from X except Y" per line.
        "exposure_summary": [s.to_json() for s in summarize(plan.exposure_changes)],
        # One per `expect` block: status on the planned state, `before` on the live state.
        "contract_results": [r.to_json() for r in getattr(plan, "contract_results", ())],
        # Non-empty only when no exposure-safe order exists (DESIGN §6); apply then refuses.
        "transient_exposure": [
            {"step": t.step + 1, **_pick(t.change, _EXPOSURE_KEYS)} for t in plan.transient_exposure
        ],
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
