"""The analysis a plan carries: exposure from live to planned, findings only where access changes."""

from __future__ import annotations

from sgplan.analysis.planned import after_view, annotate_plan
from dataclasses import replace

from sgplan.model import AddressTemplate, CloudState, Instance, Rule, SecurityGroup, SourceRange
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


def test_the_planned_view_names_the_live_groups_it_keeps_the_rules_of() -> None:
    update = ResourceChange("security_group.web", "security_group", "web", ("update",), {},
                            {"name": "web", "ingress": [SSH.to_hcl()], "egress": []}, id="sg-1")
    # sg-2 is lent its configured positions (an equal rule): still the live rules in value.
    configured = replace(LIVE.groups[1], ingress=(replace(SSH, origin=SourceRange("main.sg.hcl", 3, 1)),))
    after = after_view(_plan(update), LIVE, (configured,))
    assert after.same_rules_as == {"sg-2": LIVE.groups[1]}
    assert after.groups["sg-2"].ingress[0].origin is not None


def test_groups_naming_a_changed_template_do_not_keep_their_rules() -> None:
    office = AddressTemplate("ipm-1", "office", ("10.0.0.0/8",))
    uses = SecurityGroup("uses", id="sg-3", ingress=(Rule("ACCEPT", "TCP", "22", address_template_id="ipm-1"),))
    live = replace(LIVE, groups=(*LIVE.groups, uses), address_templates=(office,))
    edit = ResourceChange("address_template.office", "address_template", "office", ("update",),
                          {"name": "office", "addresses": ["10.0.0.0/8"]}, {"name": "office", "addresses": ["10.0.0.0/16"]},
                          id="ipm-1")
    after = after_view(_plan(edit), live)
    assert set(after.same_rules_as) == {"sg-1", "sg-2"}
    assert after.groups["sg-3"].ingress[0].address_template_id == "ipm-1@planned"
    assert after.groups["sg-1"] is LIVE.groups[0]
