"""A minimal model of the rule-writing actions (reference §2.7–§2.9) for planner tests: Version
CAS, PolicyIndex semantics and DuplicatePolicy, without the fake cloud engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from sgplan.cloud.base import CloudError
from sgplan.model import Rule


@dataclass
class SimGroup:
    version: int
    rules: dict[str, list[Rule]] = field(default_factory=lambda: {"Ingress": [], "Egress": []})


def apply_call(group: SimGroup, action: str, params: dict) -> None:
    policy_set = dict(params["SecurityGroupPolicySet"])
    version = policy_set.pop("Version", None)
    assert version is not None, "every rule call must carry a Version"
    if int(version) != group.version:
        raise CloudError("UnsupportedOperation.VersionMismatch", f"expected {group.version}, got {version}")
    (direction, bodies), = policy_set.items()
    rules = list(group.rules[direction])
    if action == "DeleteSecurityGroupPolicies":
        indices = [int(b["PolicyIndex"]) for b in bodies]
        assert all(0 <= i < len(rules) for i in indices), indices
        rules = [r for i, r in enumerate(rules) if i not in set(indices)]
    elif action in ("ReplaceSecurityGroupPolicy", "ReplaceSecurityGroupPolicies"):
        if action == "ReplaceSecurityGroupPolicy":
            assert len(bodies) == 1
        else:
            assert params.get("UpdateType", "Policy") == "Policy" and len(bodies) >= 2
            assert len({int(b["PolicyIndex"]) for b in bodies}) == len(bodies), "an index given twice"
        # The batch is modelled as its single replacements one after another, the strictest
        # reading of §2.10 (a cloud that checks duplicates per rule against the list so far).
        for body in bodies:
            index = int(body["PolicyIndex"])
            assert 0 <= index < len(rules), index
            new = Rule.from_api(body)
            if any(r.key() == new.key() for i, r in enumerate(rules) if i != index):
                raise CloudError("UnsupportedOperation.DuplicatePolicy", str(new))
            rules[index] = new
    elif action == "CreateSecurityGroupPolicies":
        indices = {b.get("PolicyIndex") for b in bodies}
        assert len(indices) == 1
        (index,) = indices
        new = [Rule.from_api(b) for b in bodies]
        for n in new:
            if any(r.key() == n.key() for r in rules):
                raise CloudError("UnsupportedOperation.DuplicatePolicy", str(n))
        at = len(rules) if index is None else int(index)
        assert 0 <= at <= len(rules)
        rules[at:at] = new
    else:
        raise AssertionError(f"unexpected action {action}")
    group.rules[direction] = rules
    group.version += 1
