"""Planning parameter templates (issue 17): one member-level call per changed template, never a
delete + create; creates before the groups using them; deletes after the rules naming them;
pinned templates adopted and never deleted; plans with templates survive the plan file."""

from __future__ import annotations

from pathlib import Path

from sgplan.model import (
    AddressTemplate,
    AddressTemplateGroup,
    CloudState,
    DesiredState,
    GroupRef,
    Rule,
    SecurityGroup,
    ServiceTemplate,
    Settings,
    TemplateSpec,
)
from sgplan.plan import make_plan
from sgplan.plan.operation import Stage
from sgplan.plan.planfile import plan_to_dict, read_plan, write_plan

OWN = (("sgplan-address", "address_template.office"), ("sgplan-stack", "s"))


def _desired(*templates: TemplateSpec, groups: tuple[SecurityGroup, ...] = ()) -> DesiredState:
    return DesiredState(settings=Settings(region="ap-guangzhou", stack="s"), templates=templates, groups=groups)


def _live(*templates: AddressTemplate, groups: tuple[SecurityGroup, ...] = (), **more) -> CloudState:
    return CloudState(region="ap-guangzhou", address_templates=templates, groups=groups, **more)


def _plan(desired: DesiredState, live: CloudState):
    plan, diags = make_plan(desired, live, cloud="file:x", region="ap-guangzhou")
    assert plan is not None, diags
    return plan


def office(*members: str, name: str = "office") -> TemplateSpec:
    return TemplateSpec("address_template", "address_template.office", name, members)


def test_member_changes_are_one_call_each() -> None:
    live = _live(AddressTemplate("ipm-1", "office", ("10.0.0.1", "10.0.0.2"), OWN))
    assert not _plan(_desired(office("10.0.0.1", "10.0.0.2")), live).has_changes
    assert not _plan(_desired(office("10.0.0.2", "10.0.0.1")), live).has_changes  # a set: order is not a change

    added = _plan(_desired(office("10.0.0.1", "10.0.0.2", "10.0.0.3")), live)
    assert [(o.action, o.params) for o in added.operations] == [
        ("AddTemplateMember", {"TemplateId": "ipm-1", "TemplateMember": [{"Member": "10.0.0.3"}]})]
    removed = _plan(_desired(office("10.0.0.1")), live)
    assert [(o.action, o.params) for o in removed.operations] == [
        ("DeleteTemplateMember", {"TemplateId": "ipm-1", "TemplateMember": [{"Member": "10.0.0.2"}]})]
    swapped = _plan(_desired(office("10.0.0.1", "10.0.0.9")), live)
    assert [(o.action, o.params) for o in swapped.operations] == [
        ("ModifyTemplateMember", {"TemplateId": "ipm-1", "OriginalTemplateMember": [{"Member": "10.0.0.2"}],
                                  "TemplateMember": [{"Member": "10.0.0.9"}]})]
    [change] = swapped.resource_changes
    assert (change.type, change.actions, change.id) == ("address_template", ("update",), "ipm-1")
    renamed = _plan(_desired(office("10.0.0.1", "10.0.0.2", name="hq")), live)
    assert [(o.action, o.params) for o in renamed.operations] == [
        ("ModifyAddressTemplateAttribute", {"AddressTemplateId": "ipm-1", "AddressTemplateName": "hq"})]


def test_creates_come_before_the_groups_that_use_them(tmp_path: Path) -> None:
    rule = Rule(action="ACCEPT", protocol="TCP", port="22", address_template_id=GroupRef("address_template.office"))
    grouped = TemplateSpec("address_template_group", "address_template_group.admins", "admins",
                           (GroupRef("address_template.office"),))
    web = SecurityGroup(name="web", ingress=(rule,), address="security_group.web")
    plan = _plan(_desired(office("10.0.0.1"), grouped, groups=(web,)), _live())
    actions = [o.action for o in plan.operations]
    assert actions == ["CreateAddressTemplate", "CreateAddressTemplateGroup", "CreateSecurityGroupWithPolicies"]
    create, group_create, sg_create = plan.operations
    assert {"Key": "sgplan-stack", "Value": "s"} in create.params["Tags"]
    assert {"Key": "sgplan-address", "Value": "address_template.office"} in create.params["Tags"]
    assert group_create.params["AddressTemplateIds"] == ["${address_template.office.id}"]
    assert sg_create.params["SecurityGroupPolicySet"]["Ingress"][0]["AddressTemplate"] == {
        "AddressId": "${address_template.office.id}"}
    # The plan file keeps the template references of the rules (an explicit decoder).
    write_plan(tmp_path / "p.json", plan)
    assert plan_to_dict(read_plan(tmp_path / "p.json")) == plan_to_dict(plan)


def test_existing_template_is_named_by_its_id() -> None:
    rule = Rule(action="ACCEPT", protocol="TCP", port="22", address_template_id=GroupRef("address_template.office"))
    web = SecurityGroup(name="web", ingress=(rule,), address="security_group.web")
    plan = _plan(_desired(office("10.0.0.1"), groups=(web,)), _live(AddressTemplate("ipm-1", "office", ("10.0.0.1",), OWN)))
    [op] = plan.operations
    assert op.params["SecurityGroupPolicySet"]["Ingress"][0]["AddressTemplate"] == {"AddressId": "ipm-1"}


def test_removed_template_is_deleted_after_the_rules_naming_it() -> None:
    live_rule = Rule(action="ACCEPT", protocol="TCP", port="22", address_template_id="ipm-1")
    live_group = SecurityGroup(name="web", ingress=(live_rule,), id="sg-web00001", address="security_group.web",
                               stack="s", version="1")
    desired_group = SecurityGroup(name="web", ingress=(Rule(action="ACCEPT", protocol="TCP", port="22",
                                                            cidr_block="10.0.0.0/8"),), address="security_group.web")
    live = _live(AddressTemplate("ipm-1", "office", ("10.0.0.1",), OWN),
                 AddressTemplate("ipm-2", "theirs", ("10.0.0.2",), (("sgplan-stack", "other"),)),
                 groups=(live_group,),
                 address_template_groups=(AddressTemplateGroup("ipmg-1", "g", ("ipm-1",),
                                                               (("sgplan-address", "address_template_group.g"),
                                                                ("sgplan-stack", "s"))),))
    plan = _plan(_desired(groups=(desired_group,)), live)
    actions = [(o.stage, o.action) for o in plan.operations]
    assert actions == [(Stage.EDIT_GROUPS, "ReplaceSecurityGroupPolicy"),
                       (Stage.DELETE_TEMPLATES, "DeleteAddressTemplateGroup"),
                       (Stage.DELETE_TEMPLATES, "DeleteAddressTemplate")]
    deleted = {c.id for c in plan.resource_changes if c.actions == ("delete",)}
    assert deleted == {"ipm-1", "ipmg-1"}  # never another stack's template


def test_pinned_template_is_adopted_and_never_deleted() -> None:
    live = _live(AddressTemplate("ipm-9", "partner", ("10.0.0.1",)))
    pinned = TemplateSpec("address_template", "address_template.partner", "partner", ("10.0.0.1", "10.0.0.5"), id="ipm-9")
    plan = _plan(_desired(pinned), live)
    assert [o.action for o in plan.operations] == ["AddTemplateMember"]
    assert not _plan(_desired(), live).has_changes  # removing the block forgets it
    missing, diags = make_plan(_desired(TemplateSpec("address_template", "address_template.x", "x", (), id="ipm-404")),
                               live, cloud="file:x", region="ap-guangzhou")
    assert missing is None and "ipm-404 does not exist" in str(diags[0])


def test_a_kept_rule_naming_a_deleted_template_is_an_error() -> None:
    rule = Rule(action="ACCEPT", protocol="TCP", port="22", address_template_id="ipm-1")
    web = SecurityGroup(name="web", ingress=(rule,), address="security_group.web")
    plan, diags = make_plan(_desired(groups=(web,)), _live(AddressTemplate("ipm-1", "office", ("10.0.0.1",), OWN)),
                            cloud="file:x", region="ap-guangzhou")
    assert plan is None and any("which this plan deletes" in str(d) for d in diags)


def test_service_templates_compare_canonically() -> None:
    live = CloudState(region="ap-guangzhou", service_templates=(
        ServiceTemplate("ppm-1", "web", ("TCP:80", "tcp: 443"), (("sgplan-address", "service_template.web"),
                                                                    ("sgplan-stack", "s"))),))
    spec = TemplateSpec("service_template", "service_template.web", "web", ("tcp:80", "tcp:443"))
    assert not _plan(_desired(spec), live).has_changes


def test_transient_exposure_ordering_sees_template_contents() -> None:
    """Widening a template while a DROP above its rule is added: the DROP goes first, else the
    template's new member would be reachable in between."""
    from sgplan.model import Instance

    live_rule = Rule(action="ACCEPT", protocol="TCP", port="22", address_template_id="ipm-1")
    live_group = SecurityGroup(name="web", ingress=(live_rule,), id="sg-web00001", address="security_group.web",
                               stack="s", version="1")
    drop = Rule(action="DROP", protocol="TCP", port="22", cidr_block="0.0.0.0/0")
    desired_group = SecurityGroup(name="web", ingress=(drop, live_rule), address="security_group.web")
    live = CloudState(region="ap-guangzhou", groups=(live_group,),
                      instances=(Instance("ins-1", ("sg-web00001",)),),
                      address_templates=(AddressTemplate("ipm-1", "office", ("10.0.0.0/8",), OWN),))
    plan = _plan(_desired(office("10.0.0.0/8", "0.0.0.0/0"), groups=(desired_group,)), live)
    assert [o.action for o in plan.operations] == ["CreateSecurityGroupPolicies", "AddTemplateMember"]
    assert plan.transient_exposure == ()


def test_more_members_than_the_default_quota_is_a_warning() -> None:
    many = office(*(f"10.0.0.{n}" for n in range(1, 23)))
    plan, diags = make_plan(_desired(many), _live(), cloud="file:x", region="ap-guangzhou")
    assert plan is not None
    assert any("22 members: more than the default quota of 20" in str(d) for d in diags)
