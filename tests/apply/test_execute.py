from __future__ import annotations

import random

import pytest

from sgplan.apply import check_fresh, execute
from sgplan.cloud.base import CloudError
from sgplan.model import Binding, DesiredState, GroupRef, Rule, SecurityGroup, Settings
from tests.apply.fake_clients import EngineClient, Faulty, live_of, plan_for

STACK = "test"


def tcp(port: int, cidr: str = "10.0.0.0/8", desc: str = "", sg: str | GroupRef | None = None) -> Rule:
    if sg is not None:
        return Rule("ACCEPT", "TCP", str(port), security_group_id=sg, description=desc)
    return Rule("ACCEPT", "TCP", str(port), cidr_block=cidr, description=desc)


def group(label: str, *ingress: Rule, egress: tuple[Rule, ...] = (), **kw) -> SecurityGroup:
    return SecurityGroup(name=kw.pop("name", label), address=f"security_group.{label}", ingress=ingress, egress=egress, **kw)


def desired(*groups: SecurityGroup, bindings: tuple[Binding, ...] = ()) -> DesiredState:
    return DesiredState(settings=Settings(stack=STACK), groups=groups, bindings=bindings)


def ref(label: str) -> GroupRef:
    return GroupRef(f"security_group.{label}")


def instances(*ids: str) -> dict:
    return {"Region": "ap-guangzhou", "Instances": [{"InstanceId": i, "SecurityGroupIds": []} for i in ids]}


def converge(client, want: DesiredState, **kw):
    plan = plan_for(client, want)
    result = execute(plan, client, sleep=lambda s: None, rng=random.Random(0), **kw)
    assert result.ok, result.errors
    again = plan_for(client, want)
    assert not again.has_changes, [op.summary for op in again.operations]
    return plan, result


FIRST = desired(
    group("ssh", tcp(22, desc="office"), tcp(22, sg=ref("ssh")), egress=(Rule("ACCEPT", "ALL", cidr_block="0.0.0.0/0"),)),
    group("web", tcp(80, "0.0.0.0/0"), tcp(443, "0.0.0.0/0"), tcp(8080, sg=ref("ssh")), tcp(9000, sg=ref("web"))),
    bindings=(
        Binding("binding.web", "ins-aaaa1111", (ref("web"), ref("ssh"))),
        Binding("binding.web", "ins-bbbb2222", (ref("web"), ref("ssh"))),
    ),
)

SECOND = desired(
    group("ssh", tcp(2222, desc="moved"), tcp(22, sg=ref("ssh")), egress=(Rule("ACCEPT", "ALL", cidr_block="0.0.0.0/0"),),
          name="ssh-renamed"),
    group("db", tcp(5432, sg=ref("web")), project_id="0"),
    group("web", tcp(22, "192.168.0.0/16"), tcp(80, "0.0.0.0/0"), tcp(443, "0.0.0.0/0"), tcp(9000, sg=ref("web"))),
    bindings=(
        Binding("binding.web", "ins-aaaa1111", (ref("ssh"), ref("web"))),
        Binding("binding.db", "ins-bbbb2222", (ref("db"),)),
    ),
)


def test_create_from_empty_then_no_changes():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222", "ins-cccc3333"))
    plan, result = converge(client, FIRST)
    assert set(result.created) == {"security_group.ssh", "security_group.web"}
    live = live_of(client, FIRST)
    ins = live.instance("ins-aaaa1111")
    assert ins.security_group_ids == (result.created["security_group.web"], result.created["security_group.ssh"])
    # One binding call covers both instances (same target list).
    assert [op.action for op in plan.operations].count("ModifyInstancesAttribute") == 1


def test_edit_existing_then_no_changes():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222"))
    converge(client, FIRST)
    plan, _ = converge(client, SECOND)
    actions = {c.address: c.actions for c in plan.resource_changes}
    assert actions["security_group.ssh"] == ("update",)
    assert actions["security_group.db"] == ("create",)
    assert "ModifyInstancesAttribute" in [op.action for op in plan.operations]


def test_delete_groups_with_references_and_bindings():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222", "ins-cccc3333"))
    _, result = converge(client, FIRST)
    # ins-cccc3333 carries the web group but no binding names it.
    client.engine.handle("cvm", "ModifyInstancesAttribute",
                         {"InstanceIds": ["ins-cccc3333"], "SecurityGroups": [result.created["security_group.web"]]})
    only_ssh = desired(FIRST.groups[0], bindings=(Binding("binding.web", "ins-aaaa1111", (ref("ssh"),)),))
    plan, _ = converge(client, only_ssh)
    stages = [int(op.stage) for op in plan.operations]
    assert stages == sorted(stages)
    addresses = {c.address: c.actions for c in plan.resource_changes}
    assert addresses["security_group.web"] == ("delete",)
    assert addresses['binding.(unbind)["ins-cccc3333"]'] == ("update",)
    assert addresses['binding.(unbind)["ins-bbbb2222"]'] == ("update",)  # no longer named by a binding
    assert live_of(client, only_ssh).instance("ins-cccc3333").security_group_ids == ()


def test_deleting_groups_that_reference_each_other():
    client = EngineClient(instances("ins-aaaa1111"))
    pair = desired(group("a", tcp(1, sg=ref("b"))), group("b", tcp(2, sg=ref("a"))))
    converge(client, pair)
    plan, _ = converge(client, desired())
    assert [op.action for op in plan.operations].count("DeleteSecurityGroup") == 2
    assert "DeleteSecurityGroupPolicies" in [op.action for op in plan.operations]


def test_project_change_replaces_and_moves_instances():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222"))
    _, first = converge(client, FIRST)
    old_web = first.created["security_group.web"]
    moved = desired(FIRST.groups[0], group(*_web_args(), project_id="1001"), bindings=FIRST.bindings)
    plan, result = converge(client, moved)
    change = next(c for c in plan.resource_changes if c.address == "security_group.web")
    assert change.actions == ("delete", "create")
    live = live_of(client, moved)
    assert live.group(old_web) is None
    new_web = result.created["security_group.web"]
    assert live.instance("ins-aaaa1111").security_group_ids[0] == new_web


def _web_args():
    web = FIRST.groups[1]
    return ("web", *web.ingress)


def test_prevent_destroy_blocks_deletion():
    client = EngineClient(instances())
    converge(client, desired(group("keep", tcp(1), prevent_destroy=True)))
    from sgplan.plan import make_plan

    live = live_of(client, desired())
    plan, diags = make_plan(desired(), live, cloud="x", region="ap-guangzhou")
    assert plan is None
    assert any("prevent_destroy" in d.message for d in diags)


def _count_calls(want_first: DesiredState, want: DesiredState) -> int:
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222", "ins-cccc3333"))
    if want_first is not None:
        converge(client, want_first)
    counter = Faulty(client, lambda n, a, p: None)
    execute(plan_for(client, want), counter, sleep=lambda s: None)
    return counter.calls


@pytest.mark.parametrize("first,second", [(None, FIRST), (FIRST, SECOND), (SECOND, desired())])
def test_failure_at_every_call_then_replan_finishes(first, second):
    total = _count_calls(first, second)
    assert total > 0
    for fail_at in range(total):
        client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222", "ins-cccc3333"))
        if first is not None:
            converge(client, first)
        plan = plan_for(client, second)
        broken = Faulty(client, lambda n, a, p: CloudError("FailedOperation", "injected") if n == fail_at else None)
        result = execute(plan, broken, sleep=lambda s: None)
        assert not result.ok
        converge(client, second)


def test_dropped_answers_are_recognised_as_done():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222"))
    converge(client, FIRST)
    plan = plan_for(client, SECOND)
    writes = {"CreateSecurityGroupWithPolicies", "CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies",
              "ReplaceSecurityGroupPolicy", "DeleteSecurityGroup", "ModifySecurityGroupAttribute"}
    dropped: set[str] = set()

    def fault(n, action, params):
        if action in writes and action not in dropped:
            dropped.add(action)
            return CloudError("ClientNetworkError", "connection reset")
        return None

    result = execute(plan, Faulty(client, fault, after=True), sleep=lambda s: None)
    assert result.ok, result.errors
    assert result.retries >= 1
    assert not plan_for(client, SECOND).has_changes


def test_throttling_is_retried_with_backoff():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222"))
    plan = plan_for(client, FIRST)
    sleeps: list[float] = []
    faults = iter([True, True, False] * 100)
    result = execute(plan, Faulty(client, lambda n, a, p: CloudError("RequestLimitExceeded") if next(faults) else None),
                     sleep=sleeps.append, rng=random.Random(3))
    assert result.ok, result.errors
    assert result.retries == len(sleeps) > 0
    assert all(0 < s <= 20 for s in sleeps)


def test_version_conflict_is_reported_and_not_retried():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222"))
    _, first = converge(client, FIRST)
    plan = plan_for(client, SECOND)
    ssh = first.created["security_group.ssh"]
    # Someone edits the ssh group between plan and apply.
    before = client.engine.handle("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": ssh})["SecurityGroupPolicySet"]["Version"]
    client.engine.handle("vpc", "CreateSecurityGroupPolicies", {"SecurityGroupId": ssh, "SecurityGroupPolicySet": {
        "Egress": [{"Protocol": "UDP", "Port": "53", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}]}})
    counter = Faulty(client, lambda n, a, p: None)
    result = execute(plan, counter, sleep=lambda s: None)
    assert not result.ok
    assert result.conflicts == [
        f"conflict on security_group.ssh ({ssh}): expected Version {before}, live {int(before) + 1}"
    ]
    edits_on_ssh = [p for a, p in client.log[-counter.calls:] if a in ("CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies", "ReplaceSecurityGroupPolicy") and p["SecurityGroupId"] == ssh]
    assert len(edits_on_ssh) == 1  # the conflicting call, never retried, nothing after it
    # Idempotent resume: a new plan against the new state finishes the job.
    converge(client, SECOND)


def test_check_fresh_detects_moved_groups_and_instances():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222"))
    _, first = converge(client, FIRST)
    plan = plan_for(client, SECOND)
    assert check_fresh(plan, client) == []
    client.engine.handle("vpc", "CreateSecurityGroupPolicies", {"SecurityGroupId": first.created["security_group.web"],
        "SecurityGroupPolicySet": {"Ingress": [{"Protocol": "UDP", "Port": "53", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}]}})
    client.engine.handle("cvm", "ModifyInstancesAttribute", {"InstanceIds": ["ins-aaaa1111"], "SecurityGroups": []})
    stale = check_fresh(plan, client)
    assert len(stale) == 2
    assert all("stale" in d.message for d in stale)


def test_waits_for_asynchronous_bindings():
    now = [1000.0]
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222"), clock=lambda: now[0], bind_delay=3.0)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    plan = plan_for(client, FIRST)
    result = execute(plan, client, sleep=sleep)
    assert result.ok, result.errors
    polls = [a for a, _ in client.log].count("DescribeInstances")
    assert polls >= 3


def test_binding_that_never_settles_times_out():
    client = EngineClient(instances("ins-aaaa1111", "ins-bbbb2222"), clock=lambda: 0.0, bind_delay=3.0)
    result = execute(plan_for(client, FIRST), client, sleep=lambda s: None, bind_timeout=5.0)
    assert not result.ok
    assert any("OPERATING" in e for e in result.errors)


def test_parallel_apply_serialises_a_client_that_is_not_thread_safe():
    import threading

    class Watch(EngineClient):
        inside = 0
        overlap = False
        guard = threading.Lock()

        def call(self, service, action, params):
            with self.guard:
                Watch.inside += 1
                Watch.overlap |= Watch.inside > 1
            try:
                import time as _t

                _t.sleep(0.001)
                return super().call(service, action, params)
            finally:
                with self.guard:
                    Watch.inside -= 1

    client = Watch()
    groups = tuple(SecurityGroup(f"g{i}", address=f"security_group.g{i}", ingress=(Rule("ACCEPT", "TCP", str(100 + i), cidr_block="10.0.0.0/8"),)) for i in range(6))
    want = DesiredState(settings=Settings(stack="test"), groups=groups)
    plan = plan_for(client, want)
    result = execute(plan, client, sleep=lambda s: None, rng=random.Random(0), parallelism=4)
    assert result.ok, result.errors
    assert not Watch.overlap
    assert not plan_for(client, want).has_changes


def test_dropped_answer_of_a_batch_replacement_is_recognised_as_done():
    # Two rules apart change their descriptions: one ReplaceSecurityGroupPolicies call whose
    # indices are not contiguous; the answer is lost after the write happened.
    rules = [tcp(p) for p in (22, 80, 443, 8080)]
    before = desired(group("web", *rules))
    after = desired(group("web", tcp(22, desc="a"), tcp(80), tcp(443), tcp(8080, desc="b")))
    client = EngineClient(instances())
    converge(client, before)
    plan = plan_for(client, after)
    assert [op.action for op in plan.operations] == ["ReplaceSecurityGroupPolicies"]
    dropped: list[str] = []

    def fault(n, action, params):
        if action == "ReplaceSecurityGroupPolicies" and not dropped:
            dropped.append(action)
            return CloudError("ClientNetworkError", "connection reset")
        return None

    result = execute(plan, Faulty(client, fault, after=True), sleep=lambda s: None, rng=random.Random(0))
    assert result.ok, result.errors
    assert dropped and result.retries == 1
    assert not plan_for(client, after).has_changes
