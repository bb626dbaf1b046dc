from __future__ import annotations

from sgplan.render.text import render_plan
from tests.render.plan_samples import changed_plan, check_golden, unchanged_plan


def test_changed_plan_matches_golden():
    check_golden("changed.plan.txt", render_plan(changed_plan()))


def test_rule_lines_follow_the_documented_shape():
    text = render_plan(changed_plan())
    assert '      + ingress[1]  ACCEPT ICMP from 10.0.0.0/8\n' in text
    assert '~ ingress[0]  ACCEPT TCP:22 from 10.0.0.0/8  "old text"  ->  ACCEPT TCP:22 from 10.0.0.0/8  "ssh from office"' in text
    assert '~ name: "ssh" -> "ssh-prod"' in text
    assert "(known after apply)" in text
    assert text.rstrip().endswith("Plan: 1 to add, 3 to change, 1 to destroy.")


def test_no_changes():
    text = render_plan(unchanged_plan())
    assert text.rstrip().endswith("No changes. Your security groups match the configuration.")
    assert "Steps:" not in text


def test_color_only_when_asked():
    plain = render_plan(changed_plan())
    colored = render_plan(changed_plan(), color=True)
    assert "\x1b[" not in plain
    assert "\x1b[32m+\x1b[0m" in colored
    assert colored.replace("\x1b[32m", "").replace("\x1b[33m", "").replace("\x1b[31m", "").replace("\x1b[35m", "").replace("\x1b[0m", "") == plain


def test_transient_exposure_and_findings_are_shown():
    from dataclasses import replace

    from sgplan.analysis.checks import Finding
    from sgplan.analysis.exposure import ExposureChange, TransientExposure
    from sgplan.render.plan_json import plan_to_json

    change = ExposureChange("ins-aaaa1111", "ingress", "TCP", "22", "0.0.0.0/0", "opened")
    finding = Finding("ssh-open-to-internet", "high", "security_group.web", "TCP 22 is open to the Internet")
    plan = replace(changed_plan(), transient_exposure=(TransientExposure(1, change),), findings=(finding,))
    text = render_plan(plan)
    assert "No exposure-safe order exists" in text
    assert "after step 2: ins-aaaa1111: TCP 22 from 0.0.0.0/0: opened" in text
    assert "[high] ssh-open-to-internet: security_group.web: TCP 22 is open to the Internet" in text
    data = plan_to_json(plan)
    assert data["transient_exposure"] == [{"step": 2, "instance_id": "ins-aaaa1111", "direction": "ingress",
                                           "protocol": "TCP", "ports": "22", "peer": "0.0.0.0/0", "effect": "opened"}]
