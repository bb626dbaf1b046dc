"""Plan markdown: sections in order, destroy warnings, no-change wording, truncation note."""

from __future__ import annotations

from sgplan.analysis.checks import Finding
from sgplan.analysis.exposure import ExposureChange
from sgplan.model import Rule
from sgplan.plan.plan import INSERT, Fingerprint, Plan, ResourceChange, RuleChange
from sgplan.render.markdown import TRUNCATED, render_markdown

SSH = Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0", description="admin")


def make_plan(n_rules: int = 1, exposure=(), findings=(), delete: bool = False) -> Plan:
    changes = [
        ResourceChange("security_group.web", "security_group", "web", ("update",), {}, {}, id="sg-1",
                       rule_changes=tuple(RuleChange(INSERT, "ingress", i, SSH) for i in range(n_rules)))
    ]
    if delete:
        changes.append(ResourceChange("security_group.old", "security_group", "old", ("delete",), {}, None, id="sg-old"))
    return Plan("ap-guangzhou", "s", "file:x", "", Fingerprint(), resource_changes=tuple(changes),
                operations=("op",), exposure_changes=tuple(exposure), findings=tuple(findings))


def test_sections_in_order() -> None:
    exposure = [
        ExposureChange("ins-1", "ingress", "TCP", "80", "0.0.0.0/0", "closed"),
        ExposureChange("ins-1", "ingress", "TCP", "22", "0.0.0.0/0", "opened"),
    ]
    findings = [Finding("ssh-open-to-internet", "high", "security_group.web", "SSH | open")]
    text = render_markdown(make_plan(exposure=exposure, findings=findings, delete=True))
    order = ["**Plan:** 0 to add, 1 to change, 1 to destroy.", "Access widened", "Access narrowed",
             "Destructive changes", "Findings", "<details>"]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert "SSH \\| open" in text and "`security_group.old` (`sg-old`) will be **destroyed**" in text
    assert '+     + ingress[0]  ACCEPT TCP:22 from 0.0.0.0/0  "admin"' in text


def test_no_change_in_access() -> None:
    text = render_markdown(make_plan())
    assert "No change in access." in text and "Destructive" not in text


def test_truncated_under_limit_with_note() -> None:
    text = render_markdown(make_plan(n_rules=3000))
    assert len(text) <= 65_535 and text.endswith(TRUNCATED)
    assert "Truncated" in text or "truncated" in text
    assert "**Plan:**" in text
    small = render_markdown(make_plan(n_rules=3))
    assert TRUNCATED not in small


def test_same_change_on_many_instances_is_one_row() -> None:
    exposure = [ExposureChange(f"ins-{n}", "ingress", "TCP", "22", "0.0.0.0/0", "opened") for n in range(5)]
    exposure.append(ExposureChange("ins-9", "ingress", "TCP", "80", "0.0.0.0/0", "opened"))
    text = render_markdown(make_plan(exposure=exposure))
    assert "| `ins-0`, `ins-1`, `ins-2` (+2 more) | ingress | TCP | 22 | `0.0.0.0/0` |" in text
    assert "| `ins-9` | ingress | TCP | 80 | `0.0.0.0/0` |" in text
    assert text.count("| ingress | TCP |") == 2
