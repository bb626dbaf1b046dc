"""Contract results in the text plan, markdown and SARIF: hostile names (an expect label, a live
group address, a rule description) cannot change the structure of the output (issue 11 §2)."""

from __future__ import annotations

import json

from sgplan.analysis.contracts import FAIL, PASS, ContractResult, Counterexample
from sgplan.model import Rule, SourceRange
from sgplan.plan.plan import Fingerprint, Plan
from sgplan.render.markdown import render_markdown
from sgplan.render.sarif import render_sarif
from sgplan.render.text import render_plan
from tests.render.test_injection import ALL_HOSTILE, BENIGN, counts, structure


def plan_with(h: str) -> Plan:
    cx = Counterexample("ins-1", "ingress", "TCP", "8.8.8.8/32", "22", True, "8.8.8.8", 22, "sg-1",
                        "security_group.web " + h, 0, Rule("ACCEPT", "TCP", "22", cidr_block="8.8.8.8/32",
                                                           description=h),
                        1, SourceRange("main " + h + ".sg.hcl", 7))
    results = (ContractResult("expect.x " + h, "deny", FAIL, 2, cx, "pass", h, SourceRange("main.sg.hcl", 3)),
               ContractResult("expect.y " + h, "allow", PASS, 2, before="fail"))
    return Plan("ap-guangzhou", "s", "file:x", "h", Fingerprint(), contract_results=results)


def test_markdown_structure_does_not_depend_on_the_text() -> None:
    benign, hostile = render_markdown(plan_with(BENIGN)), render_markdown(plan_with(ALL_HOSTILE))
    assert structure(hostile) == structure(benign)
    assert counts(hostile) == counts(benign)
    assert "Contracts: 1 of 2 violated" in benign


def test_text_has_no_raw_control_characters() -> None:
    text = render_plan(plan_with(ALL_HOSTILE))
    assert "Contracts:" in text and "✗ contract expect.x" in text
    assert not any(ord(c) < 0x20 and c != "\n" or 0x7f <= ord(c) < 0xa0 for c in text)
    assert len(text.splitlines()) == len(render_plan(plan_with(BENIGN)).splitlines())


def test_sarif_locates_the_violation_at_the_deciding_rule() -> None:
    doc = json.loads(render_sarif([], contracts=plan_with(BENIGN).contract_results))
    [result] = doc["runs"][0]["results"]
    assert result["ruleId"] == "contract-violated"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 7
    assert result["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 3
