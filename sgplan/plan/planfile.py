"""Saved plans (`plan --out`): the only place that knows the plan file's JSON encoding.

`write_plan` is atomic (temp file + rename); `read_plan` refuses unknown format versions with a
UserError naming the file. The file holds no secrets: sensitive output values are left out.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any

from sgplan.diagnostics import UserError
from sgplan.model import GroupRef, Output, Rule
from sgplan.plan.operation import Operation, Stage
from sgplan.plan.plan import FORMAT_VERSION, Fingerprint, Plan, ResourceChange, RuleChange

_RULE_FIELDS = [f.name for f in dataclasses.fields(Rule) if f.name != "origin"]


def write_plan(path: Path | str, plan: Plan) -> None:
    """Write `plan` to `path` atomically: a reader sees the old file or the whole new one."""
    path = Path(path)
    text = json.dumps(plan_to_dict(plan), indent=1, sort_keys=True) + "\n"
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_plan(path: Path | str) -> Plan:
    """Load a plan written by `write_plan`; UserError for anything else."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the plan file ({exc.strerror or exc})") from None
    except ValueError:
        raise UserError(f"{path}: not an sgplan plan file (not JSON)") from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise UserError(f"{path}: not an sgplan plan file (no format_version)")
    if data["format_version"] != FORMAT_VERSION:
        raise UserError(
            f"{path}: plan file format version {data['format_version']!r} is not supported "
            f"(this sgplan reads version {FORMAT_VERSION}); make the plan again"
        )
    try:
        return plan_from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: damaged plan file ({exc})") from None


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": plan.format_version,
        "sgplan_version": plan.sgplan_version,
        "region": plan.region,
        "stack": plan.stack,
        "cloud": plan.cloud,
        "config_hash": plan.config_hash,
        "fingerprint": {
            "groups": [[g, v] for g, v in plan.fingerprint.groups],
            "instances": [[i, list(gs)] for i, gs in plan.fingerprint.instances],
            "config_hash": plan.fingerprint.config_hash,
            "region": plan.fingerprint.region,
            "stack": plan.fingerprint.stack,
            "cloud": plan.fingerprint.cloud,
        },
        "resource_changes": [_change_to_dict(c) for c in plan.resource_changes],
        "operations": [_operation_to_dict(op) for op in plan.operations],
        "outputs": [
            {"name": o.name, "value": None if o.sensitive else o.value, "known": o.known, "sensitive": o.sensitive}
            for o in plan.outputs
        ],
        "exposure_changes": [_encode(x) for x in plan.exposure_changes],
        "findings": [_encode(x) for x in plan.findings],
        "transient_exposure": [_encode(x) for x in plan.transient_exposure],
        "warnings": list(plan.warnings),
    }


def plan_from_dict(data: dict[str, Any]) -> Plan:
    fp = data["fingerprint"]
    return Plan(
        format_version=data["format_version"],
        sgplan_version=data.get("sgplan_version", ""),
        region=data["region"],
        stack=data["stack"],
        cloud=data["cloud"],
        config_hash=data["config_hash"],
        fingerprint=Fingerprint(
            groups=tuple((g, int(v)) for g, v in fp["groups"]),
            instances=tuple((i, tuple(gs)) for i, gs in fp["instances"]),
            config_hash=fp["config_hash"],
            region=fp["region"],
            stack=fp["stack"],
            cloud=fp["cloud"],
        ),
        resource_changes=tuple(_change_from_dict(c) for c in data["resource_changes"]),
        operations=tuple(_operation_from_dict(op) for op in data["operations"]),
        outputs=tuple(Output(o["name"], o["value"], o["known"], o.get("sensitive", False)) for o in data["outputs"]),
        exposure_changes=tuple(_decode(x) for x in data.get("exposure_changes", [])),
        findings=tuple(_decode(x) for x in data.get("findings", [])),
        transient_exposure=tuple(_decode(x) for x in data.get("transient_exposure", [])),
        warnings=tuple(data.get("warnings", [])),
    )


def _rule_to_dict(rule: Rule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    out: dict[str, Any] = {}
    for name in _RULE_FIELDS:
        value = getattr(rule, name)
        if isinstance(value, GroupRef):
            value = {"ref": value.address}
        if value is not None:
            out[name] = value
    return out


def _rule_from_dict(data: dict[str, Any] | None) -> Rule | None:
    if data is None:
        return None
    values = dict(data)
    if isinstance(values.get("security_group_id"), dict):
        values["security_group_id"] = GroupRef(values["security_group_id"]["ref"])
    return Rule(**values)


def _change_to_dict(c: ResourceChange) -> dict[str, Any]:
    return {
        "address": c.address,
        "type": c.type,
        "name": c.name,
        "actions": list(c.actions),
        "before": c.before,
        "after": c.after,
        "module_address": c.module_address,
        "id": c.id,
        "rule_changes": [
            {"kind": r.kind, "direction": r.direction, "index": r.index, "rule": _rule_to_dict(r.rule), "old": _rule_to_dict(r.old)}
            for r in c.rule_changes
        ],
        "notes": list(c.notes),
    }


def _change_from_dict(d: dict[str, Any]) -> ResourceChange:
    return ResourceChange(
        address=d["address"],
        type=d["type"],
        name=d["name"],
        actions=tuple(d["actions"]),
        before=d["before"],
        after=d["after"],
        module_address=d.get("module_address"),
        id=d.get("id"),
        rule_changes=tuple(
            RuleChange(r["kind"], r["direction"], r["index"], _rule_from_dict(r.get("rule")), _rule_from_dict(r.get("old")))
            for r in d.get("rule_changes", [])
        ),
        notes=tuple(d.get("notes", [])),
    )


def _operation_to_dict(op: Operation) -> dict[str, Any]:
    out = {f.name: getattr(op, f.name) for f in dataclasses.fields(Operation)}
    out["stage"] = int(op.stage)
    out["instance_ids"] = list(op.instance_ids)
    out["affects"] = list(op.affects)
    return out


def _operation_from_dict(d: dict[str, Any]) -> Operation:
    values = dict(d)
    values["stage"] = Stage(values["stage"])
    values["instance_ids"] = tuple(values.get("instance_ids", ()))
    values["affects"] = tuple(values.get("affects", ()))
    return Operation(**values)


# The analysis values (exposure changes, findings) are sgplan dataclasses owned by another
# package; they are stored with their class name and rebuilt only from sgplan's own modules.


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__class__": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, Enum) and type(value).__module__.startswith("sgplan."):
        cls = type(value)
        return {"__enum__": f"{cls.__module__}:{cls.__qualname__}", "value": value.value}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    if "__enum__" in value:
        return _sgplan_class(value["__enum__"])(value["value"])
    if "__class__" in value:
        cls = _sgplan_class(value["__class__"])
        return cls(**{k: _decode(v) for k, v in value["fields"].items()})
    return value


def _sgplan_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if module != "sgplan" and not module.startswith("sgplan."):
        raise ValueError(f"refusing to load {name} from a plan file")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
