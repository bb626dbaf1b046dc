"""Lost answers of template writes (issue 17): the write takes effect (or not) and its answer is
lost; apply settles it by reading the template before sending it again — never a second
template for an address, never a member edit applied twice — and a second apply converges."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from sgplan.apply import execute
from sgplan.cloud.reader import read_live
from sgplan.model import DesiredState, Settings, TemplateSpec
from sgplan.plan import make_plan
from tests.apply.fake_clients import LOSSES, EngineClient, LostAnswers

STACK = "tpl"


def want(**members: tuple[str, ...]) -> DesiredState:
    specs = tuple(TemplateSpec("address_template", f"address_template.{label}", label, m) for label, m in members.items())
    return DesiredState(settings=Settings(stack=STACK), templates=specs)


def plan_for(client: EngineClient, desired: DesiredState):
    live = read_live(client, stack=STACK, with_templates=True)
    plan, diags = make_plan(desired, live, cloud="file:test.json", region="ap-guangzhou")
    assert plan is not None, [str(d) for d in diags]
    return plan


def per_address(client: EngineClient) -> Counter[str]:
    out: Counter[str] = Counter()
    for item in client.engine.state["AddressTemplates"]:
        tags = {t["Key"]: t["Value"] for t in item.get("TagSet") or []}
        if tags.get("sgplan-stack") == STACK:
            out[tags["sgplan-address"]] += 1
    return out


BASE = want(a=("10.0.0.1", "10.0.0.2"), b=("10.0.0.3",), c=("10.0.0.4",), gone=("10.0.0.5",))
TARGET = want(a=("10.0.0.1", "10.0.0.2", "10.0.0.9"), b=(), c=("10.0.0.7",), new=("10.0.0.8",))
ACTIONS = ("CreateAddressTemplate", "AddTemplateMember", "DeleteTemplateMember", "ModifyTemplateMember",
           "DeleteAddressTemplate")
NOT_REPEATED_CREATE = {"timeout-before", "gateway-before"}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_lost_template_write_is_settled(action: str, loss: str) -> None:
    client = EngineClient({"Region": "ap-guangzhou", "Instances": []})
    first = execute(plan_for(client, BASE), client, sleep=lambda s: None)
    assert first.ok, first.errors
    plan = plan_for(client, TARGET)
    assert action in {op.action for op in plan.operations}

    def pick(_n: int, called: str, _params: dict) -> str | None:
        return loss if called == action and not lossy.lost else None

    lossy = LostAnswers(client, pick)
    result = execute(plan, lossy, sleep=lambda s: None, rng=random.Random(0))
    assert lossy.lost == [(action, loss)]
    if action == "CreateAddressTemplate" and loss in NOT_REPEATED_CREATE:
        assert not result.ok and any("may or may not have taken effect" in e for e in result.errors), result.errors
    else:
        assert result.ok, result.errors
    assert all(n == 1 for n in per_address(client).values()), per_address(client)
    follow_up = execute(plan_for(client, TARGET), client, sleep=lambda s: None)
    assert follow_up.ok, follow_up.errors
    assert not plan_for(client, TARGET).has_changes
    assert set(per_address(client)) == {"address_template.a", "address_template.b", "address_template.c",
                                        "address_template.new"}
    assert all(n == 1 for n in per_address(client).values())
