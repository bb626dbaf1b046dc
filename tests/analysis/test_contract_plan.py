"""Contract results in a plan: the plan file round-trips them exactly (apply compares it whole)."""

from __future__ import annotations

from sgplan.analysis.contracts import FAIL, ContractResult, Counterexample
from sgplan.model import Rule, SourceRange
from sgplan.plan.plan import Fingerprint, Plan
from sgplan.plan.planfile import canonical, plan_from_dict, plan_to_dict


def test_contract_results_round_trip_through_the_plan_file() -> None:
    cx = Counterexample("ins-1", "ingress", "TCP", "8.8.8.8/32", "22", True, "8.8.8.8", 22, "sg-1",
                        "security_group.web", 0, Rule("ACCEPT", "TCP", "22", cidr_block="8.8.8.8/32"), 2,
                        SourceRange("main.sg.hcl", 7, 3))
    result = ContractResult("expect.x", "deny", FAIL, 3, cx, "pass", "no ssh", SourceRange("main.sg.hcl", 20),
                            missing=("ins-typo",))
    plan = Plan("ap-guangzhou", "s", "file:x", "h", Fingerprint(), contract_results=(result,))
    data = canonical(plan_to_dict(plan))
    back = plan_from_dict(data)
    assert back.contract_results == (result,)
    assert back.contract_results[0].counterexample.origin == SourceRange("main.sg.hcl", 7, 3)
    assert back.violated_contracts == (result,)
    assert canonical(plan_to_dict(back)) == data
