"""Findings as SARIF 2.1.0 (`sgplan check --sarif FILE`), located at the HCL line of each rule.

Pure: findings → JSON text. Code-scanning services (e.g. GitHub) read `ruleId`, `level` and the
physical location; `uri` is the file relative to where the check ran (`base` + the rule's file).
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, Iterable, Sequence

import sgplan
from sgplan.analysis.checks import CHECKS, Check, Finding
from sgplan.render.escape import sarif_text, visible

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
_SCORE = {"high": "8.0", "medium": "5.0", "low": "2.0"}  # GitHub's security-severity scale


def _rule_descriptor(check: Check) -> dict[str, Any]:
    return {
        "id": check.id,
        "name": "".join(part.capitalize() for part in check.id.split("-")),
        "shortDescription": {"text": check.title},
        "defaultConfiguration": {"level": _LEVEL[check.severity]},
        "properties": {"security-severity": _SCORE[check.severity], "tags": ["security"]},
    }


CONTRACT_RULE = {
    "id": "contract-violated",
    "name": "ContractViolated",
    "shortDescription": {"text": "A reachability contract (expect block) does not hold"},
    "defaultConfiguration": {"level": "error"},
    "properties": {"security-severity": "9.0", "tags": ["security"]},
}


def _location(finding: Any, base: str) -> list[dict[str, Any]]:
    if finding.origin is None:
        return []
    path = finding.origin.file.replace("\\", "/")
    uri = path if path.startswith("/") or not base else posixpath.normpath(posixpath.join(base, path))
    region: dict[str, Any] = {"startLine": max(1, finding.origin.line)}
    if getattr(finding.origin, "column", None):
        region["startColumn"] = max(1, finding.origin.column)
    return [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}]


def _contract_result(result: Any, base: str, rule_index: int) -> dict[str, Any]:
    """A violated contract located at the rule that decides its counterexample (or the block)."""
    cx = result.counterexample
    decided = cx if cx is not None and cx.origin is not None else result
    out: dict[str, Any] = {
        "ruleId": CONTRACT_RULE["id"],
        "ruleIndex": rule_index,
        "level": "error",
        "message": {"text": sarif_text(result.message())},
        "locations": _location(decided, base),
        "partialFingerprints": {"sgplanContract/v1": f"{result.address}:{result.change}"},
        "properties": {"address": result.address, "decision": result.decision, "change": result.change},
    }
    related = _location(result, base)
    if related and decided is not result:
        related[0]["id"] = 1
        related[0]["message"] = {"text": sarif_text(f"contract {result.address}")}
        out["relatedLocations"] = related
    if cx is not None:
        out["properties"]["counterexample"] = cx.to_json()
    if not out["locations"]:
        out["locations"] = [{"logicalLocations": [{"name": visible(result.address), "kind": "resource"}]}]
    return out


def sarif_document(findings: Iterable[Finding], *, base: str = "", checks: Sequence[Check] = CHECKS,
                   contracts: Iterable[Any] = ()) -> dict[str, Any]:
    """Findings, and the violated contracts among `contracts`, as one SARIF run."""
    findings = list(findings)
    index = {check.id: i for i, check in enumerate(checks)}
    results = []
    for finding in findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "level": _LEVEL.get(finding.severity, "warning"),
            # Plain text (SARIF's `markdown` form is not used); `sarif_text` keeps data from forging
            # an embedded link or hiding characters. Fingerprints and properties stay raw: they are
            # matched, not shown.
            "message": {"text": sarif_text(f"{finding.address}: {finding.message}")},
            "locations": _location(finding, base),
            "partialFingerprints": {"sgplanFinding/v1": f"{finding.rule}:{finding.address}:{finding.message}"},
            "properties": {"severity": finding.severity, "address": finding.address},
        }
        if finding.rule in index:
            result["ruleIndex"] = index[finding.rule]
        if finding.group_id:
            result["properties"]["group_id"] = finding.group_id
        if finding.instance_id:
            result["properties"]["instance_id"] = finding.instance_id
        if not result["locations"]:
            # No HCL position (a live group not in the configuration): name the resource instead.
            result["locations"] = [{"logicalLocations": [{"name": visible(finding.address), "kind": "resource"}]}]
        results.append(result)
    contracts = list(contracts)
    violated = [r for r in contracts if r.violated]
    results += [_contract_result(r, base, len(checks)) for r in violated]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sgplan",
                        "version": sgplan.__version__,
                        "informationUri": "https://github.com/sgplan/sgplan",
                        "rules": [_rule_descriptor(c) for c in checks] + ([CONTRACT_RULE] if contracts else []),
                    }
                },
                "results": results,
            }
        ],
    }


def render_sarif(findings: Iterable[Finding], *, base: str = "", contracts: Iterable[Any] = ()) -> str:
    """SARIF 2.1.0 text for these findings (and violated contracts)."""
    return json.dumps(sarif_document(findings, base=base, contracts=contracts), indent=2) + "\n"
