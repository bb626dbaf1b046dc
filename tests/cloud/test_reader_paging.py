"""read_live's paging: later pages through map_fn, the same number of calls as paging one by one,
nothing lost or doubled when the listing moves, and template listings only when needed."""

from __future__ import annotations

import math
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.cloud.reader import read_live
from sgplan.fakecloud.engine import Engine


class Recorder:
    """An ApiClient over an Engine that counts calls per action (thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.region = "ap-guangzhou"
        self.actions: Counter[str] = Counter()
        self.offsets: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.actions[action] += 1
            if "Offset" in params:
                self.offsets.append((action, params["Offset"]))
            return self.engine.handle(service, action, params)


def estate(groups: int, instances: int, *, template_rule: bool = False) -> dict[str, Any]:
    rule = {"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}
    if template_rule:
        rule = {"Protocol": "TCP", "Port": "22", "AddressTemplate": {"AddressId": "ipm-1"}, "Action": "ACCEPT"}
    return {
        "Region": "ap-guangzhou",
        "SecurityGroups": [
            {"SecurityGroupId": f"sg-{n:08d}", "SecurityGroupName": f"g{n}",
             "TagSet": [{"Key": "sgplan-stack", "Value": "s"}],
             "SecurityGroupPolicySet": {"Version": "1", "Ingress": [dict(rule)] if n == 0 else []}}
            for n in range(groups)
        ],
        "Instances": [{"InstanceId": f"ins-{i:06d}", "SecurityGroupIds": ["sg-00000000"] if groups else []}
                      for i in range(instances)],
        "AddressTemplates": [{"AddressTemplateId": "ipm-1", "AddressSet": ["10.0.0.0/8"]}],
    }


def thread_map(fn, items):  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(fn, list(items)))


@settings(max_examples=15, deadline=None)
@given(groups=st.integers(0, 350), instances=st.integers(0, 450), parallel=st.booleans())
def test_every_item_once_in_the_formula_number_of_calls(groups: int, instances: int, parallel: bool) -> None:
    client = Recorder(Engine(estate(groups, instances)))
    state = read_live(client, stack="s", map_fn=thread_map if parallel else map)
    assert [g.id for g in state.groups] == [f"sg-{n:08d}" for n in range(groups)]
    assert [i.instance_id for i in state.instances] == [f"ins-{i:06d}" for i in range(instances)]
    assert client.actions["DescribeSecurityGroups"] == max(1, math.ceil(groups / 100))
    assert client.actions["DescribeInstances"] == max(1, math.ceil(instances / 100))
    assert sum(client.actions.values()) == max(1, math.ceil(groups / 100)) + groups + max(1, math.ceil(instances / 100))


def test_later_pages_go_through_map_fn() -> None:
    mapped: list[Any] = []

    def recording_map(fn, items):  # type: ignore[no-untyped-def]
        items = list(items)
        mapped.extend(items)
        return [fn(i) for i in items]

    read_live(Recorder(Engine(estate(1, 250))), stack="s", map_fn=recording_map)
    assert [m for m in mapped if isinstance(m, int)] == [100, 200]


class Growing:
    """A cloud with no groups whose instance listing gains an instance at the front after the
    first page was read (so every later page shifts by one)."""

    region = "ap-guangzhou"

    def __init__(self, instances: int) -> None:
        self.items = [{"InstanceId": f"ins-{i:06d}", "SecurityGroupIds": []} for i in range(instances)]

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "DescribeSecurityGroups":
            return {"SecurityGroupSet": [], "TotalCount": 0}
        assert action == "DescribeInstances"
        offset, limit = int(params["Offset"]), int(params["Limit"])
        page = self.items[offset:offset + limit]
        answer = {"InstanceSet": page, "TotalCount": len(self.items)}
        if offset == 0:
            self.items.insert(0, {"InstanceId": "ins-999999", "SecurityGroupIds": []})
        return answer


def test_a_listing_that_grows_while_paging_loses_nothing() -> None:
    state = read_live(Growing(250), stack="s")
    ids = [i.instance_id for i in state.instances]
    assert len(ids) == len(set(ids))
    assert {f"ins-{i:06d}" for i in range(250)} <= set(ids)


def test_templates_only_when_referenced_with_none() -> None:
    plain = Recorder(Engine(estate(3, 0)))
    assert read_live(plain, stack="s", with_templates=None).address_templates == ()
    assert not any(a.startswith("DescribeAddressTemplate") for a in plain.actions)
    referencing = Recorder(Engine(estate(3, 0, template_rule=True)))
    state = read_live(referencing, stack="s", with_templates=None)
    assert [t.id for t in state.address_templates] == ["ipm-1"]
