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


def _location(finding: Finding, base: str) -> list[dict[str, Any]]:
    if finding.origin is None:
        return []
    path = finding.origin.file.replace("\\", "/")
    uri = path if path.startswith("/") or not base else posixpath.normpath(posixpath.join(base, path))
    region: dict[str, Any] = {"startLine": max(1, finding.origin.line)}
    if getattr(finding.origin, "column", None):
        region["startColumn"] = max(1, finding.origin.column)
    return [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}]


def sarif_document(findings: Iterable[Finding], *, base: str = "", checks: Sequence[Check] = CHECKS) -> dict[str, Any]:
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
                        "rules": [_rule_descriptor(c) for c in checks],
                    }
                },
                "results": results,
            }
        ],
    }


def render_sarif(findings: Iterable[Finding], *, base: str = "") -> str:
    """SARIF 2.1.0 text for these findings."""
    return json.dumps(sarif_document(findings, base=base), indent=2) + "\n"
