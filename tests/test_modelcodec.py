"""The model codec of the warm-run caches: a round trip gives equal values (positions included),
shared rules stay shared, and anything but the shapes it writes is refused."""

from __future__ import annotations

import marshal

import pytest

from sgplan.modelcodec import Bad, Codec, dec_rule, decode_state, enc_rule, encode_state
from sgplan.model import (AddressTemplate, CloudState, GroupRef, Instance, Rule, SecurityGroup, ServiceTemplate,
                          SourceRange)


def _state() -> CloudState:
    shared = Rule("ACCEPT", "TCP", "22", cidr_block="10.0.0.0/8", description="ssh")
    return CloudState(
        region="ap-guangzhou",
        groups=(SecurityGroup("a", "d", "0", (("team", "web"),), (shared, Rule("DROP", "ALL", None, cidr_block="0.0.0.0/0")),
                              (shared,), id="sg-1", address="security_group.a", stack="s", version="3"),
                SecurityGroup("b", ingress=(shared, Rule("ACCEPT", "TCP", "80", security_group_id="sg-1"),
                                            Rule("ACCEPT", None, None, cidr_block="1.2.3.4/32",
                                                 service_template_id="ppm-1")), id="sg-2")),
        instances=(Instance("ins-1", ("sg-1", "sg-2"), "web", (("k", "v"),)),),
        address_templates=(AddressTemplate("ipm-1", "office", ("10.0.0.0/8",), (("sgplan-stack", "s"),)),),
        service_templates=(ServiceTemplate("ppm-1", "web", ("tcp:80",)),),
    )


def test_state_round_trip_keeps_values_and_sharing() -> None:
    state = _state()
    back = decode_state(marshal.loads(marshal.dumps(encode_state(state))))
    assert back == state
    assert back.address_templates[0].tags == state.address_templates[0].tags  # compare=False fields too
    assert back.groups[0].ingress[0] is back.groups[0].egress[0] is back.groups[1].ingress[0]


def test_rules_keep_positions_and_group_refs() -> None:
    rule = Rule("ACCEPT", "TCP", "22", security_group_id=GroupRef("security_group.x"), description="d",
                origin=SourceRange("main.sg.hcl", 12, 3))
    back = Codec().dec_rule(marshal.loads(marshal.dumps(Codec().enc_rule(rule))))
    assert back == rule and back.origin == rule.origin and back.security_group_id == GroupRef("security_group.x")


@pytest.mark.parametrize("bad", [
    ("ACCEPT",),
    ("ACCEPT", "TCP", 22, None, None, None, None, None, None, None, "", None, 0, 0),
    ("ACCEPT", "TCP", "22", None, None, ("a", "b"), None, None, None, None, "", None, 0, 0),
    ("ACCEPT", "TCP", "22", None, None, None, None, None, None, None, "", "f", "1", 0),
    ["ACCEPT", "TCP", "22", None, None, None, None, None, None, None, "", None, 0, 0],
])
def test_rules_of_another_shape_are_refused(bad: object) -> None:
    with pytest.raises(Bad):
        Codec().dec_rule(bad)
    with pytest.raises(Bad):
        dec_rule(bad)  # the desired state's decoder (no memo)


@pytest.mark.parametrize("rule", [
    Rule("ACCEPT", "TCP", "22", cidr_block="10.0.0.0/8", description="d", origin=SourceRange("m.sg.hcl", 4, 3)),
    Rule("DROP", "ALL", None, ipv6_cidr_block="::/0"),
    Rule("ACCEPT", "UDP", "53", security_group_id="sg-1"),
    Rule("ACCEPT", "UDP", "53", security_group_id=GroupRef("security_group.x")),
    Rule("ACCEPT", None, None, address_template_id=GroupRef("address_template.a"), service_template_id="ppm-1"),
    Rule("ACCEPT", None, None, address_template_group_id="ipmg-1", service_template_group_id=GroupRef("x.y")),
])
def test_the_plain_rule_codec_round_trips_every_source_kind(rule: Rule) -> None:
    """enc_rule/dec_rule (the desired state's codec, without the sharing memo) and the memo'd
    Codec write the same tuple and read back equal rules, positions included."""
    t = enc_rule(rule)
    assert t == Codec().enc_rule(rule)
    back = dec_rule(marshal.loads(marshal.dumps(t)))
    assert back == rule and back.origin == rule.origin


def test_unexpected_rule_values_are_not_cached() -> None:
    from sgplan.modelcodec import Uncacheable

    with pytest.raises(Uncacheable):
        enc_rule(Rule("ACCEPT", "TCP", 22))  # type: ignore[arg-type]
    with pytest.raises(Uncacheable):
        enc_rule(Rule("ACCEPT", "TCP", "22", security_group_id=1))  # type: ignore[arg-type]


def test_state_of_another_shape_is_refused() -> None:
    with pytest.raises((Bad, ValueError)):
        decode_state(("r", (), (("ins-1", ("sg-1",), "n", (("k", 1),)),), ((), (), (), ())))


def test_every_model_field_is_covered() -> None:
    """The codec spells each model class out field by field: a field added to the model must be
    added to the codec too (and its FORMAT bumped), or warm runs would silently drop it."""
    from dataclasses import fields

    from sgplan.diagnostics import Diagnostic
    from sgplan.model import (AddressTemplateGroup, Binding, DesiredState, Expect, Output, ServiceTemplateGroup, Settings,
                              TemplateSpec)

    expected = {Rule: 12, SecurityGroup: 14, Binding: 4, TemplateSpec: 6, Expect: 10, Settings: 4, Output: 4,
                DesiredState: 8, CloudState: 7, Instance: 4, AddressTemplate: 4, AddressTemplateGroup: 4,
                ServiceTemplate: 4, ServiceTemplateGroup: 4, Diagnostic: 4, SourceRange: 3}
    assert {cls: len(fields(cls)) for cls in expected} == expected


def test_desired_state_round_trip_keeps_moves_and_positions() -> None:
    from sgplan.config.evaluated_cache import decode_desired, encode_desired
    from sgplan.config.moved import Move
    from sgplan.model import Binding, DesiredState, Direction, Expect, Output, Settings, TemplateSpec

    at = SourceRange("main.sg.hcl", 3, 1)
    desired = DesiredState(
        settings=Settings("ap-guangzhou", "s", None, at),
        groups=(SecurityGroup("a", ingress=(Rule("ACCEPT", "TCP", "22", security_group_id=GroupRef("security_group.b"),
                                                 origin=at),), address="security_group.a", prevent_destroy=True,
                              ignore_findings=("ssh-open-to-internet",), origin=at),),
        bindings=(Binding("binding.web", "ins-1", ("sg-1", GroupRef("security_group.a")), at),),
        outputs=(Output("o", {"k": [1, "x", None]}), Output("u", None, known=False)),
        config_hash="abc",
        expects=(Expect("expect.x", Direction.INGRESS, ("internet",), "TCP", "22", "deny", None, "d", at, ("sg-1",)),),
        templates=(TemplateSpec("address_template", "address_template.o", "o", ("10.0.0.0/8",), None, at),),
        moves=(Move("security_group.old", "security_group.a", SourceRange("main.sg.hcl", 9, 3),
                    SourceRange("main.sg.hcl", 10, 3)),),
    )
    back = decode_desired(marshal.loads(marshal.dumps(encode_desired(desired))))
    assert back == desired
    assert [g.origin for g in back.groups] == [at] and back.groups[0].ingress[0].origin == at
    assert back.groups[0].prevent_destroy and back.groups[0].ignore_findings == ("ssh-open-to-internet",)
    assert (back.moves[0].origin, back.moves[0].target_origin) == (SourceRange("main.sg.hcl", 9, 3),
                                                                    SourceRange("main.sg.hcl", 10, 3))
