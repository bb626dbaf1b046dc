"""model.fast_init (issue 18): the quick constructors of the frozen model values behave exactly
as the generated dataclass ones (signature, defaults, equality, immutability, replace, pickle);
collector.gc_paused freezes only what a large block built."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import pickle

import pytest

from sgplan import collector, model
from sgplan.hcl.syntax import Attribute, Block
from sgplan.model import GroupRef, Rule, SecurityGroup, SourceRange

CLASSES = [model.SourceRange, model.GroupRef, model.Rule, model.SecurityGroup, model.Binding, model.Instance,
           model.CloudState, model.Settings, model.Output, model.DesiredState, model.Expect, Block]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_quick_constructor_keeps_the_dataclass_signature(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields):
        assert (p.default is inspect.Parameter.empty) == (f.default is dataclasses.MISSING)
        if f.default is not dataclasses.MISSING:
            assert p.default is f.default


def test_values_are_the_same_frozen_values() -> None:
    where = SourceRange("f.hcl", 3)
    assert where.column == 1 and where == SourceRange("f.hcl", 3, 1) and hash(where) == hash(SourceRange("f.hcl", 3, 1))
    rule = Rule("ACCEPT", protocol="TCP", port="22", security_group_id=GroupRef("security_group.a"), origin=where)
    assert rule == Rule(action="ACCEPT", protocol="TCP", port="22", security_group_id=GroupRef("security_group.a"))
    assert rule.description == "" and rule.cidr_block is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.port = "23"  # type: ignore[misc]
    assert dataclasses.replace(rule, port="23").port == "23"
    assert pickle.loads(pickle.dumps(rule)) == rule
    assert rule.key() == ("ACCEPT", "TCP", "22", None, None, str(GroupRef("security_group.a")), None, None, None, None)
    group = SecurityGroup("web", ingress=(rule,))
    assert group.egress == () and group.project_id == "0"
    with pytest.raises(TypeError):
        Rule()  # type: ignore[call-arg]


def test_attributes_are_immutable_records_with_a_range() -> None:
    expr = object()
    a = Attribute("name", expr, SourceRange("f.hcl", 2, 3))  # type: ignore[arg-type]
    assert (a.name, a.expr, a.range, a.line) == ("name", expr, SourceRange("f.hcl", 2, 3), 2)
    assert a == Attribute.make("name", expr, "f.hcl", 2, 3)  # type: ignore[arg-type]
    assert a != ("name", expr, "f.hcl", 2, 3)
    with pytest.raises(AttributeError):
        a.name = "x"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(Attribute("n", 1, SourceRange("f", 1)))) == Attribute("n", 1, SourceRange("f", 1))  # type: ignore[arg-type]


def test_a_large_paused_block_is_frozen_a_small_one_is_not() -> None:
    if not gc.isenabled():
        pytest.skip("the collector is off in this process")
    gc.unfreeze()
    try:
        with collector.gc_paused():
            small = [[i] for i in range(100)]
        assert gc.get_freeze_count() == 0
        with collector.gc_paused():
            large = [[i] for i in range(collector.FREEZE_AFTER + 10)]
        assert gc.get_freeze_count() >= len(large)
        assert gc.isenabled()
        assert gc.get_count()[0] < 1000  # no young collection over what the block built
    finally:
        gc.unfreeze()
    del small, large
