"""`check_fresh`: is a saved plan still valid? Re-read exactly what it fingerprinted.

Used by `apply PLANFILE` (DESIGN §5): any touched group whose Version moved, or touched instance
whose group list changed, makes the plan stale.
"""

from __future__ import annotations

import random
import time
from typing import Callable

from sgplan.apply.retry import Counters, call_with_retry
from sgplan.cloud.base import ApiClient, CloudError
from sgplan.diagnostics import Diagnostic, error
from sgplan.plan.plan import Plan

_GONE = frozenset({"ResourceNotFound", "InvalidSecurityGroupID.NotFound", "InvalidSecurityGroupId.NotFound"})


def check_fresh(plan: Plan, client: ApiClient, *, sleep: Callable[[float], None] = time.sleep,
                rng: random.Random | None = None) -> list[Diagnostic]:
    """Diagnostics (each says "stale") for everything the plan rests on that has changed."""
    rng = rng or random.Random()
    counters = Counters()
    diags: list[Diagnostic] = []

    def call(service: str, action: str, params: dict) -> dict:
        return call_with_retry(client, service, action, params, sleep=sleep, rng=rng, counters=counters)

    for group_id, version in plan.fingerprint.groups:
        try:
            live = call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})
        except CloudError as exc:
            if exc.code in _GONE:
                diags.append(error(f"stale plan: security group {group_id} no longer exists"))
                continue
            raise
        live_version = int(live["SecurityGroupPolicySet"].get("Version") or 0)
        if live_version != version:
            diags.append(
                error(f"stale plan: security group {group_id} is at Version {live_version}, the plan was made at Version {version}")
            )

    expected = dict(plan.fingerprint.instances)
    ids = sorted(expected)
    seen: dict[str, tuple[str, ...]] = {}
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        try:
            response = call("cvm", "DescribeInstances", {"InstanceIds": chunk, "Limit": 100})
        except CloudError as exc:
            if exc.code.startswith("InvalidInstanceId"):
                response = {"InstanceSet": []}
            else:
                raise
        for instance in response.get("InstanceSet") or []:
            seen[instance["InstanceId"]] = tuple(instance.get("SecurityGroupIds") or ())
    for instance_id in ids:
        if instance_id not in seen:
            diags.append(error(f"stale plan: instance {instance_id} no longer exists"))
        elif seen[instance_id] != tuple(expected[instance_id]):
            diags.append(
                error(
                    f"stale plan: instance {instance_id} now carries [{', '.join(seen[instance_id])}], "
                    f"the plan was made when it carried [{', '.join(expected[instance_id])}]"
                )
            )
    return diags
