"""SARIF output: valid against the OASIS SARIF 2.1.0 schema (tests/data), located at the rule's HCL line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from sgplan.analysis.checks import CHECK_IDS, Finding
from sgplan.model import SourceRange
from sgplan.render.sarif import render_sarif

FINDINGS = [
    Finding("ssh-open-to-internet", "high", "security_group.web", "SSH open", group_id="sg-1",
            instance_id="ins-1", origin=SourceRange("main.sg.hcl", 12, 3)),
    Finding("instance-over-5-groups", "high", "ins-2", "too many", instance_id="ins-2"),
    Finding("rule-shadowed", "low", "security_group.web", "never matches", origin=SourceRange("modules/x/main.sg.hcl", 4)),
]


def test_sarif_structure_and_locations() -> None:
    doc = json.loads(render_sarif(FINDINGS, base="infra/prod"))
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "sgplan" and [r["id"] for r in driver["rules"]] == list(CHECK_IDS)
    for result in run["results"]:
        assert {"ruleId", "level", "message", "locations"} <= set(result)
        assert result["level"] in ("error", "warning", "note")
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
    first, second, third = run["results"]
    location = first["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "infra/prod/main.sg.hcl"}, "region": {"startLine": 12, "startColumn": 3}}
    assert "physicalLocation" not in second["locations"][0]
    assert third["level"] == "note"
    assert third["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "infra/prod/modules/x/main.sg.hcl"


def test_empty_run_is_valid() -> None:
    doc = json.loads(render_sarif([]))
    assert doc["runs"][0]["results"] == []


SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json"


def _validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def test_shipped_schema_is_the_oasis_sarif_2_1_0_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"] and schema["required"] == ["version", "runs"]


def test_sarif_validates_against_the_schema() -> None:
    validator = _validator()
    for findings in ([], FINDINGS):
        doc = json.loads(render_sarif(findings, base="infra/prod"))
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_schema_rejects_a_broken_document() -> None:
    # The validation above can fail: a result without a message, or an unknown level, is refused.
    doc = json.loads(render_sarif(FINDINGS))
    del doc["runs"][0]["results"][0]["message"]
    doc["runs"][0]["results"][1]["level"] = "fatal"
    assert len(list(_validator().iter_errors(doc))) == 2
