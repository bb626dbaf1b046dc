"""Saved plans (`plan --out`): the only place that knows the plan file's JSON encoding.

A plan file is untrusted data (it travels as a CI artifact): `read_plan` decodes it by an explicit
schema — each field with its expected JSON type, each value rebuilt by a named constructor — and
never by names found in the file. What it cannot decode is a one-line UserError naming the file
and the field. Decoding does not make a plan trustworthy: `apply PLANFILE` re-derives the plan
from the configuration and the cloud and refuses any difference (`differences`).

`write_plan` is atomic (temp file + rename). The file holds no secrets: sensitive output values
are left out.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator

from sgplan.analysis.checks import Finding
from sgplan.analysis.contracts import ContractResult, Counterexample
from sgplan.analysis.exposure import ExposureChange, TransientExposure
from sgplan.diagnostics import UserError
from sgplan.model import GroupRef, Output, Rule, SourceRange
from sgplan.plan.operation import Operation, Stage
from sgplan.plan.plan import FORMAT_VERSION, Fingerprint, Plan, ResourceChange, RuleChange
from sgplan.safefs import write_output

_RULE_FIELDS = tuple(f.name for f in dataclasses.fields(Rule) if f.name != "origin")
_OPERATION_FIELDS = tuple(f.name for f in dataclasses.fields(Operation))
MAX_PLAN_BYTES = 512 * 1024 * 1024  # far above a 2,000-group estate's plan (≈ 60 MB)


def write_plan(path: Path | str, plan: Plan) -> None:
    """Write `plan` to `path` atomically: a reader sees the old file or the whole new one."""
    # The same writer as every other output file: a planted symlink is replaced, never followed.
    write_output(path, json.dumps(plan_to_dict(plan), indent=1, sort_keys=True) + "\n")


def read_plan(path: Path | str) -> Plan:
    """Load a plan written by `write_plan`; UserError for anything else."""
    return plan_from_dict(read_plan_data(path), str(path))


def read_plan_data(path: Path | str) -> dict[str, Any]:
    """The plan file as JSON data, checked to be a plan of this format version."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the plan file ({exc.strerror or exc})") from None
    if len(raw) > MAX_PLAN_BYTES:
        raise UserError(f"{path}: not an sgplan plan file (larger than {MAX_PLAN_BYTES // 2**20} MB)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8, bad JSON, 4,300-digit numbers, deep nesting
        raise UserError(f"{path}: not an sgplan plan file (not JSON)") from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise UserError(f"{path}: not an sgplan plan file (no format_version)")
    if data["format_version"] != FORMAT_VERSION:
        raise UserError(
            f"{path}: plan file format version {str(data['format_version'])[:20]!r} is not supported "
            f"(this sgplan reads version {FORMAT_VERSION}); make the plan again"
        )
    return data


# -- encoding -------------------------------------------------------------------------------------


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": plan.format_version,
        "sgplan_version": plan.sgplan_version,
        "region": plan.region,
        "stack": plan.stack,
        "cloud": plan.cloud,
        "config_hash": plan.config_hash,
        "config_dir": plan.config_dir,
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
        "exposure_changes": [x.to_json() for x in plan.exposure_changes],
        "findings": [_finding_to_dict(f) for f in plan.findings],
        "transient_exposure": [{"step": t.step, "change": t.change.to_json()} for t in plan.transient_exposure],
        "contract_results": [_contract_to_dict(r) for r in plan.contract_results],
        "warnings": list(plan.warnings),
    }


def canonical(data: Any) -> Any:
    """`data` as it reads back from a plan file (tuples → lists, keys as JSON strings)."""
    return json.loads(json.dumps(data, sort_keys=True))


def differences(saved: Any, fresh: Any, path: str = "") -> Iterator[str]:
    """Paths (`operations[2].params.SecurityGroupPolicySet…`) where two plan dicts differ."""
    if isinstance(saved, dict) and isinstance(fresh, dict):
        for key in sorted(set(saved) | set(fresh)):
            where = f"{path}.{key}" if path else str(key)
            if key not in saved:
                yield f"{where} (missing from the file)"
            elif key not in fresh:
                yield f"{where} (not in the fresh plan)"
            else:
                yield from differences(saved[key], fresh[key], where)
    elif isinstance(saved, list) and isinstance(fresh, list):
        if len(saved) != len(fresh):
            yield f"{path} ({len(saved)} entries in the file, {len(fresh)} in the fresh plan)"
            return
        for i, (a, b) in enumerate(zip(saved, fresh)):
            yield from differences(a, b, f"{path}[{i}]")
    elif saved != fresh or type(saved) is not type(fresh):
        yield path


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
        "previous_address": c.previous_address,
    }


def _operation_to_dict(op: Operation) -> dict[str, Any]:
    out = {name: getattr(op, name) for name in _OPERATION_FIELDS}
    out["stage"] = int(op.stage)
    out["instance_ids"] = list(op.instance_ids)
    out["affects"] = list(op.affects)
    return out


def _origin_to_dict(origin: SourceRange | None) -> dict[str, Any] | None:
    return None if origin is None else {"file": origin.file, "line": origin.line, "column": origin.column}


def _contract_to_dict(result: ContractResult) -> dict[str, Any]:
    cx = result.counterexample
    counterexample = None
    if cx is not None:
        counterexample = {
            "instance_id": cx.instance_id, "direction": cx.direction, "protocol": cx.protocol, "peer": cx.peer,
            "ports": cx.ports, "accepted": cx.accepted, "sample_peer": cx.sample_peer,
            "sample_port": cx.sample_port, "group_id": cx.group_id, "address": cx.address,
            "policy_index": cx.policy_index, "rule": _rule_to_dict(cx.rule),
            "more_instances": cx.more_instances, "origin": _origin_to_dict(cx.origin),
        }
    return {
        "address": result.address, "decision": result.decision, "status": result.status,
        "before": result.before, "instances": result.instances, "description": result.description,
        "counterexample": counterexample, "origin": _origin_to_dict(result.origin),
        "missing": list(result.missing),
    }


def _finding_to_dict(finding: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": finding.rule, "severity": finding.severity, "address": finding.address,
        "message": finding.message, "group_id": finding.group_id, "instance_id": finding.instance_id,
        "origin": None,
    }
    if finding.origin is not None:
        out["origin"] = {"file": finding.origin.file, "line": finding.origin.line, "column": finding.origin.column}
    return out


# -- decoding: an explicit schema -----------------------------------------------------------------


class _Bad(Exception):
    """A field of the file does not have the shape the schema gives."""


class _Field:
    """A value of the file and where it is (`operations[3].params`), for one-line errors."""

    __slots__ = ("value", "where")

    def __init__(self, value: Any, where: str) -> None:
        self.value = value
        self.where = where

    def _fail(self, expected: str) -> _Bad:
        return _Bad(f"{self.where or 'the file'}: expected {expected}, found {_json_type(self.value)}")

    def __getitem__(self, key: str) -> "_Field":
        obj = self.obj()
        if key not in obj:
            raise _Bad(f"{self.where + '.' if self.where else ''}{key}: missing")
        return _Field(obj[key], f"{self.where}.{key}" if self.where else key)

    def get(self, key: str, default: Any) -> "_Field":
        obj = self.obj()
        return self[key] if key in obj else _Field(default, f"{self.where}.{key}")

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self._fail("an object")
        return self.value

    def items(self) -> list["_Field"]:
        if not isinstance(self.value, list):
            raise self._fail("a list")
        return [_Field(v, f"{self.where}[{i}]") for i, v in enumerate(self.value)]

    def str(self) -> str:
        if not isinstance(self.value, str):
            raise self._fail("a string")
        return self.value

    def opt_str(self) -> str | None:
        return None if self.value is None else self.str()

    def int(self) -> int:
        if not isinstance(self.value, int) or isinstance(self.value, bool):
            raise self._fail("an integer")
        return self.value

    def opt_int(self) -> int | None:
        return None if self.value is None else self.int()

    def bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self._fail("true or false")
        return self.value

    def strs(self) -> tuple[str, ...]:
        return tuple(f.str() for f in self.items())

    def opt_obj(self) -> dict[str, Any] | None:
        return None if self.value is None else self.obj()

    def data(self) -> Any:
        """Plain JSON data (what json.loads built: dicts, lists, str, numbers, bools, None)."""
        return self.value


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "a bool"), (int, "a number"), (float, "a number"), (str, "a string"),
                       (list, "a list"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return "null"


def plan_from_dict(data: dict[str, Any], source: str = "plan file") -> Plan:
    try:
        return _plan(_Field(data, ""))
    except _Bad as exc:
        raise UserError(f"{source}: damaged plan file: {exc}") from None
    except (ValueError, TypeError) as exc:  # a constructor's own check (e.g. an unknown Stage)
        raise UserError(f"{source}: damaged plan file: {str(exc)[:200]}") from None


def _plan(f: _Field) -> Plan:
    return Plan(
        format_version=f["format_version"].str(),
        sgplan_version=f.get("sgplan_version", "").str(),
        region=f["region"].str(),
        stack=f["stack"].str(),
        cloud=f["cloud"].str(),
        config_hash=f["config_hash"].str(),
        config_dir=f.get("config_dir", "").str(),
        fingerprint=_fingerprint(f["fingerprint"]),
        resource_changes=tuple(_change(c) for c in f["resource_changes"].items()),
        operations=tuple(_operation(op) for op in f["operations"].items()),
        outputs=tuple(_output(o) for o in f["outputs"].items()),
        exposure_changes=tuple(_exposure(x) for x in f.get("exposure_changes", []).items()),
        findings=tuple(_finding(x) for x in f.get("findings", []).items()),
        transient_exposure=tuple(
            TransientExposure(x["step"].int(), _exposure(x["change"])) for x in f.get("transient_exposure", []).items()
        ),
        contract_results=tuple(_contract(x) for x in f.get("contract_results", []).items()),
        warnings=f.get("warnings", []).strs(),
    )


def _fingerprint(f: _Field) -> Fingerprint:
    def group(g: _Field) -> tuple[str, int]:
        pair = g.items()
        if len(pair) != 2:
            raise _Bad(f"{g.where}: expected [group id, Version]")
        return pair[0].str(), pair[1].int()

    def instance(i: _Field) -> tuple[str, tuple[str, ...]]:
        pair = i.items()
        if len(pair) != 2:
            raise _Bad(f"{i.where}: expected [instance id, [group ids]]")
        return pair[0].str(), pair[1].strs()

    return Fingerprint(
        groups=tuple(group(g) for g in f["groups"].items()),
        instances=tuple(instance(i) for i in f["instances"].items()),
        config_hash=f["config_hash"].str(),
        region=f["region"].str(),
        stack=f["stack"].str(),
        cloud=f["cloud"].str(),
    )


_REF_FIELDS = frozenset({"security_group_id", "address_template_id", "address_template_group_id",
                         "service_template_id", "service_template_group_id"})


def _rule(f: _Field) -> Rule | None:
    if f.value is None:
        return None
    obj = f.obj()
    unknown = sorted(set(obj) - set(_RULE_FIELDS))
    if unknown:
        raise _Bad(f"{f.where}: unknown rule field {unknown[0]!r}")
    values: dict[str, Any] = {}
    for name in obj:
        field = f[name]
        # A reference to a group (or, issue 17, a template) this plan creates.
        if name in _REF_FIELDS and isinstance(field.value, dict):
            values[name] = GroupRef(field["ref"].str())
        else:
            values[name] = field.opt_str()
    if values.get("action") is None:
        raise _Bad(f"{f.where}.action: missing")
    values["description"] = values.get("description") or ""
    return Rule(**values)


def _change(f: _Field) -> ResourceChange:
    return ResourceChange(
        address=f["address"].str(),
        type=f["type"].str(),
        name=f["name"].str(),
        actions=f["actions"].strs(),
        before=f["before"].opt_obj(),
        after=f["after"].opt_obj(),
        module_address=f.get("module_address", None).opt_str(),
        id=f.get("id", None).opt_str(),
        rule_changes=tuple(
            RuleChange(r["kind"].str(), r["direction"].str(), r["index"].int(), _rule(r.get("rule", None)),
                       _rule(r.get("old", None)))
            for r in f.get("rule_changes", []).items()
        ),
        notes=f.get("notes", []).strs(),
        previous_address=f.get("previous_address", None).opt_str(),
    )


def _operation(f: _Field) -> Operation:
    obj = f.obj()
    unknown = sorted(set(obj) - set(_OPERATION_FIELDS))
    if unknown:
        raise _Bad(f"{f.where}: unknown operation field {unknown[0]!r}")
    stage = f["stage"].int()
    if stage not in {s.value for s in Stage}:
        raise _Bad(f"{f.where}.stage: {stage} is not an apply stage")
    return Operation(
        stage=Stage(stage),
        service=f["service"].str(),
        action=f["action"].str(),
        params=f["params"].obj(),
        address=f.get("address", None).opt_str(),
        group=f.get("group", None).opt_str(),
        expected_version=f.get("expected_version", None).opt_int(),
        version_offset=f.get("version_offset", None).opt_int(),
        direction=f.get("direction", None).opt_str(),
        expected_count=f.get("expected_count", None).opt_int(),
        summary=f.get("summary", "").str(),
        instance_ids=f.get("instance_ids", []).strs(),
        affects=f.get("affects", []).strs(),
    )


def _output(f: _Field) -> Output:
    return Output(f["name"].str(), f["value"].data(), f["known"].bool(), f.get("sensitive", False).bool())


def _exposure(f: _Field) -> ExposureChange:
    return ExposureChange(
        instance_id=f["instance_id"].str(), direction=f["direction"].str(), protocol=f["protocol"].str(),
        ports=f["ports"].str(), peer=f["peer"].str(), effect=f["effect"].str(),
    )


def _finding(f: _Field) -> Finding:
    origin = f.get("origin", None)
    where = None
    if origin.value is not None:
        where = SourceRange(origin["file"].str(), origin["line"].int(), origin.get("column", 1).int())
    return Finding(
        rule=f["rule"].str(), severity=f["severity"].str(), address=f["address"].str(),
        message=f["message"].str(), group_id=f.get("group_id", None).opt_str(),
        instance_id=f.get("instance_id", None).opt_str(), origin=where,
    )



def _origin(f: _Field) -> SourceRange | None:
    if f.value is None:
        return None
    return SourceRange(f["file"].str(), f["line"].int(), f.get("column", 1).int())


def _contract(f: _Field) -> ContractResult:
    cx = f.get("counterexample", None)
    counterexample = None
    if cx.value is not None:
        counterexample = Counterexample(
            instance_id=cx["instance_id"].str(), direction=cx["direction"].str(), protocol=cx["protocol"].str(),
            peer=cx["peer"].str(), ports=cx["ports"].str(), accepted=cx["accepted"].bool(),
            sample_peer=cx["sample_peer"].str(), sample_port=cx.get("sample_port", None).opt_int(),
            group_id=cx.get("group_id", None).opt_str(), address=cx.get("address", None).opt_str(),
            policy_index=cx.get("policy_index", None).opt_int(), rule=_rule(cx.get("rule", None)),
            more_instances=cx.get("more_instances", 0).int(), origin=_origin(cx.get("origin", None)),
        )
    return ContractResult(
        address=f["address"].str(), decision=f["decision"].str(), status=f["status"].str(),
        instances=f["instances"].int(), counterexample=counterexample, before=f.get("before", None).opt_str(),
        description=f.get("description", "").str(), origin=_origin(f.get("origin", None)),
        missing=f.get("missing", []).strs(),
    )
