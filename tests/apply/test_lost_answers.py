"""Lost answers (issue 12 §3): a write takes effect and its answer is lost (InternalError, dropped
connection, gateway error, timeout, garbled body), or fails before taking effect with the same
answer. For every write action of three plans and every kind of loss: apply never makes a change
twice (no second group for an address, no rule added twice), loses nothing, and a second apply
converges to an empty plan."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from sgplan.apply import execute
from sgplan.model import DesiredState
from tests.apply.fake_clients import LOSSES, WRITE_ACTIONS, EngineClient, LostAnswers, plan_for
from tests.apply.test_execute import FIRST, SECOND, STACK, converge, desired, instances

SCENARIOS = {"create": (None, FIRST), "edit": (FIRST, SECOND), "delete": (SECOND, desired())}
# Losses after which apply, finding no group, does not send a create again in the same run: the
# server may still be working on the request it stopped waiting for (the next apply looks again).
NOT_REPEATED_CREATE = {"timeout-before", "gateway-before"}


def _start(first: DesiredState | None) -> EngineClient:
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222", "ins-cccc3333"))
    if first is not None:
        converge(client, first)
    return client


def _managed_per_address(client: EngineClient) -> Counter[str]:
    out: Counter[str] = Counter()
    for group in client.engine.state["SecurityGroups"]:
        tags = {t["Key"]: t["Value"] for t in group.get("TagSet") or []}
        if tags.get("sgplan-stack") == STACK:
            out[tags.get("sgplan-address", "")] += 1
    return out


def _cases() -> list[tuple[str, str, int, str]]:
    cases = []
    for name, (first, second) in SCENARIOS.items():
        plan = plan_for(_start(first), second)
        actions = Counter(op.action for op in plan.operations if op.action in WRITE_ACTIONS)
        for action, count in sorted(actions.items()):
            for which in sorted({0, count - 1}):
                cases += [(name, action, which, loss) for loss in LOSSES]
    return cases


CASES = _cases()


def test_every_write_action_is_covered() -> None:
    covered = {action for _, action, _, _ in CASES}
    assert covered >= {"CreateSecurityGroupWithPolicies", "CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies",
                       "ReplaceSecurityGroupPolicy", "ModifySecurityGroupAttribute", "ModifyInstancesAttribute",
                       "DeleteSecurityGroup"}, covered


@pytest.mark.parametrize("scenario,action,which,loss", CASES,
                         ids=[f"{s}-{a}-{w}-{k}" for s, a, w, k in CASES])
def test_a_lost_answer_is_settled_never_repeated_blindly(scenario: str, action: str, which: int, loss: str) -> None:
    first, second = SCENARIOS[scenario]
    client = _start(first)
    plan = plan_for(client, second)
    seen: Counter[str] = Counter()

    def pick(_n: int, called: str, _params: dict) -> str | None:
        seen[called] += 1
        return loss if called == action and seen[called] == which + 1 else None

    lossy = LostAnswers(client, pick)
    result = execute(plan, lossy, sleep=lambda s: None, rng=random.Random(0))
    assert lossy.lost == [(action, loss)]
    assert all(n == 1 for n in lossy.created.values()), lossy.created  # no create took effect twice
    assert all(n == 1 for n in _managed_per_address(client).values()), _managed_per_address(client)
    if action == "CreateSecurityGroupWithPolicies" and loss in NOT_REPEATED_CREATE:
        assert not result.ok and any("may or may not have taken effect" in e for e in result.errors), result.errors
    else:
        assert result.ok, result.errors  # settled within the run
    # The second apply finishes what is left (nothing, or what a stopped apply did not reach),
    # adopting the group a lost create made instead of making another one.
    again = LostAnswers(client, lambda *_: None)
    follow_up = execute(plan_for(client, second), again, sleep=lambda s: None)
    assert follow_up.ok, follow_up.errors
    assert set(again.created).isdisjoint(lossy.created)  # nothing made twice across the applies
    assert not plan_for(client, second).has_changes
    assert all(n == 1 for n in _managed_per_address(client).values())


def test_a_write_without_a_way_to_settle_is_never_repeated() -> None:
    # An action apply cannot look up (a future tag write, say) is sent once, whatever the answer.
    from sgplan.apply.retry import Counters, call_with_retry
    from sgplan.cloud.base import CloudError

    sent: list[str] = []

    class Lost:
        region = "ap-guangzhou"

        def call(self, service: str, action: str, params: dict) -> dict:
            sent.append(action)
            raise CloudError("InternalError", "lost")

    with pytest.raises(CloudError) as info:
        call_with_retry(Lost(), "tag", "ModifyResourceTags", {}, sleep=lambda s: None, rng=random.Random(0),
                        counters=Counters())
    assert sent == ["ModifyResourceTags"] and "may or may not have taken effect" in info.value.message
    with pytest.raises(CloudError):
        call_with_retry(Lost(), "vpc", "DescribeSecurityGroups", {}, sleep=lambda s: None, rng=random.Random(0),
                        counters=Counters())
    assert sent.count("DescribeSecurityGroups") == 6  # reads are simply sent again


def test_a_client_that_retries_itself_gets_no_second_layer() -> None:
    from sgplan.apply.retry import Counters, call_with_retry
    from sgplan.cloud.base import CloudError

    sent: list[str] = []

    class Own:
        region = "ap-guangzhou"
        handles_retries = True

        def call(self, service: str, action: str, params: dict) -> dict:
            sent.append(action)
            raise CloudError("RequestLimitExceeded", "slow down")

    with pytest.raises(CloudError):
        call_with_retry(Own(), "vpc", "DescribeSecurityGroups", {}, sleep=lambda s: None, rng=random.Random(0),
                        counters=Counters())
    assert sent == ["DescribeSecurityGroups"]
