"""The least work the cloud allows: API-call floors for a refresh and an apply, and the
rate-limit floor in seconds for a set of calls (calls of each action ÷ that action's limit).

Computed from the estate's two file-shaped states, never from sgplan's planner, so a planner
that wastes calls cannot also move the floor it is measured against.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from difflib import SequenceMatcher
from typing import Any, Mapping

from sgplan.cloud.ratelimit import DEFAULT_RATE_LIMITS, UNKNOWN_ACTION_RATE

PAGE = 100  # DescribeSecurityGroups / DescribeInstances page size, ModifyInstancesAttribute batch (API §2.3, §3.3)


def refresh_floor(groups: int, instances: int) -> int:
    """ceil(G/100) listings + one DescribeSecurityGroupPolicies per group + ceil(I/100) instance pages
    (each listing costs at least one call, even when empty)."""
    return max(1, math.ceil(groups / PAGE)) + groups + max(1, math.ceil(instances / PAGE))


def _policy_key(policy: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, str(v).upper() if k == "Protocol" else str(v))
                        for k, v in policy.items() if k != "PolicyIndex" and v not in (None, "")))


def edit_runs(live: list[Mapping[str, Any]], desired: list[Mapping[str, Any]]) -> int:
    """Contiguous runs of non-matching rules between two ordered rule lists (one call each at best)."""
    a = [_policy_key(p) for p in live]
    b = [_policy_key(p) for p in desired]
    runs, in_run = 0, False
    for tag, *_ in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            in_run = False
        elif not in_run:
            runs, in_run = runs + 1, True
    return runs


def apply_floor(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, int]:
    """Least calls, by kind, that turn `live` into `desired` (both file-shaped states):

    `rules` — one per contiguous edit run per group direction; `groups` — one create per new
    group, one delete per vanished one; `bindings` — one per distinct ordered target list per
    100 instances that must change; `tags` — one tag-service ModifyResourceTags per existing
    group whose user tags (not the sgplan-* ones) differ (it sets and deletes keys in one call).
    """
    live_groups = {g["SecurityGroupId"]: g for g in live["SecurityGroups"]}
    want_groups = {g["SecurityGroupId"]: g for g in desired["SecurityGroups"]}
    rules = tags = 0
    for gid, want in want_groups.items():
        have = live_groups.get(gid)
        if have is None:
            continue
        tags += _user_tags(have) != _user_tags(want)
        for direction in ("Ingress", "Egress"):
            rules += edit_runs(have["SecurityGroupPolicySet"][direction], want["SecurityGroupPolicySet"][direction])
    groups = len(want_groups.keys() - live_groups.keys()) + len(live_groups.keys() - want_groups.keys())
    live_lists = {i["InstanceId"]: tuple(i["SecurityGroupIds"]) for i in live["Instances"]}
    by_target: Counter[tuple[str, ...]] = Counter()
    for inst in desired["Instances"]:
        target = tuple(inst["SecurityGroupIds"])
        if live_lists.get(inst["InstanceId"]) != target:
            by_target[target] += 1
    bindings = sum(math.ceil(n / PAGE) for n in by_target.values())
    return {"rules": rules, "groups": groups, "bindings": bindings, "tags": tags,
            "total": rules + groups + bindings + tags}


def _user_tags(group: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in group.get("TagSet") or () if not t["Key"].startswith("sgplan-")}


def rate_floor_seconds(actions: Mapping[str, int], limits: Mapping[str, float] = DEFAULT_RATE_LIMITS) -> float:
    """Seconds the per-action rate limits imply for these calls: Σ calls ÷ limit.

    The actions add up because sgplan's stages run one after another (list, then read rules,
    then list instances). Buckets start full (a one-second burst), so a run can beat this
    floor by up to one second per action; latency is not in it.
    """
    return sum(rate_floor_by_action(actions, limits).values())


def rate_floor_by_action(actions: Mapping[str, int], limits: Mapping[str, float] = DEFAULT_RATE_LIMITS
                         ) -> dict[str, float]:
    """`rate_floor_seconds` split by action, for the report."""
    out: dict[str, float] = defaultdict(float)
    for action, calls in actions.items():
        limit = limits.get(action, UNKNOWN_ACTION_RATE)
        out[action] = calls / limit
    return dict(out)
