from __future__ import annotations

import json

from sgplan.analysis.exposure import ExposureChange
from sgplan.render.plan_json import plan_to_json
from tests.render.plan_samples import changed_plan, check_golden, unchanged_plan


def test_changed_plan_matches_golden():
    data = {**plan_to_json(changed_plan()), "sgplan_version": "test"}  # the golden file outlives releases
    check_golden("changed.plan.json", json.dumps(data, indent=2) + "\n")


def test_shape_follows_design():
    data = plan_to_json(changed_plan())
    assert list(data)[:9] == ["format_version", "sgplan_version", "region", "stack", "resource_changes",
                              "exposure_changes", "findings", "planned_values", "summary"]
    assert data["format_version"] == "1.2"
    web = next(c for c in data["resource_changes"] if c["address"] == "module.web.security_group.this")
    assert web["module_address"] == "module.web" and web["name"] == "this" and web["type"] == "security_group"
    assert web["change"]["actions"] == ["create"] and web["change"]["before"] is None
    binding = next(c for c in data["resource_changes"] if c["type"] == "binding" and c["name"] == "web_servers")
    assert binding["address"] == 'binding.web_servers["ins-aaaa1111"]'
    # The id of a group still to be created is unknown: null, flagged in after_unknown (Terraform's form).
    assert binding["change"]["after"] == {"security_groups": [None, "sg-ssh00001"]}
    assert binding["change"]["after_unknown"] == {"security_groups": [True, False]}
    assert data["planned_values"]["outputs"] == {"ssh_id": {"known": True, "value": "sg-ssh00001"}, "web_id": {"known": False}}
    assert data["summary"] == {"create": 1, "update": 3, "delete": 1, "import": 0, "no_op": 0}
    assert [op["step"] for op in data["operations"]] == list(range(1, len(data["operations"]) + 1))


def test_no_op_summary():
    assert plan_to_json(unchanged_plan())["summary"]["no_op"] == 2


def test_exposure_changes_use_contract_keys():
    from dataclasses import replace

    plan = replace(changed_plan(), exposure_changes=(ExposureChange("ins-aaaa1111", "ingress", "TCP", "22", "0.0.0.0/0", "opened"),))
    assert plan_to_json(plan)["exposure_changes"] == [
        {"instance_id": "ins-aaaa1111", "direction": "ingress", "protocol": "TCP", "ports": "22", "peer": "0.0.0.0/0", "effect": "opened"}
    ]
