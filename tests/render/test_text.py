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
