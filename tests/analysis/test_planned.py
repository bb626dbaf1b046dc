"""The analysis a plan carries: exposure from live to planned, findings only where access changes."""

from __future__ import annotations

from sgplan.analysis.planned import after_view, annotate_plan
from sgplan.model import CloudState, Instance, Rule, SecurityGroup
from sgplan.plan.plan import Fingerprint, Plan, ResourceChange

SSH = Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0")
LIVE = CloudState(
    groups=(SecurityGroup("web", id="sg-1", address="security_group.web"),
            SecurityGroup("old", id="sg-2", address="security_group.old", ingress=(SSH,))),
    instances=(Instance("ins-1", ("sg-1",)), Instance("ins-2", ("sg-2",))),
)


def _plan(*changes: ResourceChange) -> Plan:
    return Plan("ap-guangzhou", "s", "file:x", "", Fingerprint(), resource_changes=changes)


def test_plan_findings_are_limited_to_what_changes() -> None:
    update = ResourceChange("security_group.web", "security_group", "web", ("update",), {},
                            {"name": "web", "ingress": [SSH.to_hcl()], "egress": []}, id="sg-1")
    plan = annotate_plan(_plan(update), LIVE)
    assert [(c.instance_id, str(c)) for c in plan.exposure_changes] == [("ins-1", "TCP 22 from 0.0.0.0/0: opened")]
    # sg-2 has SSH open too, but the plan does not touch it: only the changed group is reported.
    assert {(f.rule, f.group_id) for f in plan.findings} == {("ssh-open-to-internet", "sg-1")}


def test_no_change_no_findings_and_bindings_move_instances() -> None:
    assert annotate_plan(_plan(), LIVE).findings == ()
    rebind = ResourceChange('binding.b["ins-1"]', "binding", "b", ("update",), {"security_groups": ["sg-1"]},
                            {"security_groups": ["sg-2", "sg-1"]}, id="ins-1")
    assert after_view(_plan(rebind), LIVE).instances["ins-1"] == ("sg-2", "sg-1")
    plan = annotate_plan(_plan(rebind), LIVE)
    assert [f.instance_id for f in plan.findings] == ["ins-1"]
