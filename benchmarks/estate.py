"""Synthetic estates for benchmarks: a fake-cloud state file and the configuration that manages it.

`make_estate(groups, rules, instances)` builds G managed groups × R rules (mixed shapes, group
references, DROPs) and I instances carrying 1–5 groups, then writes the live state (DESIGN §4)
and the matching HCL. Variants: `identical` (plan is empty), `drift` (5% of groups and of
instances differ live), `heavy` (a third of groups and instances differ, with replaced, inserted
and deleted rules). `Estate.desired` keeps the state the configuration describes, so the API-call
floor of the apply can be computed without sgplan's planner (benchmarks/floor.py).
"""

from __future__ import annotations

import copy
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STACK = "bench"
VARIANTS = ("identical", "drift", "heavy")


@dataclass(frozen=True)
class Estate:
    """The live state (file-shaped), the HCL text, and the state that HCL describes."""

    state: dict[str, Any]
    config: str
    groups: int
    rules: int
    instances: int
    variant: str
    desired: dict[str, Any]


def _rule(index: int, target: tuple[str, str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rule number `index` of a group as (API policy, HCL attributes); `target` = (id, label)
    of the group a reference rule points at."""
    kind = index % 10
    action = "DROP" if kind == 7 else "ACCEPT"
    desc = f"rule {index}"
    if kind == 5 and target is not None:
        gid, label = target
        return ({"Protocol": "tcp", "Port": str(3000 + index), "SecurityGroupId": gid, "Action": action,
                 "PolicyDescription": desc},
                {"action": action, "protocol": "TCP", "port": str(3000 + index),
                 "security_group_id": f"security_group.{label}.id", "description": desc})
    if kind == 3:
        return ({"Protocol": "icmp", "Port": "ALL", "CidrBlock": f"10.{index % 250}.0.0/16", "Action": action,
                 "PolicyDescription": desc},
                {"action": action, "protocol": "ICMP", "cidr_block": f"10.{index % 250}.0.0/16", "description": desc})
    if kind == 8:
        return ({"Protocol": "tcp", "Port": str(1000 + index), "Ipv6CidrBlock": f"2001:db8:{index:x}::/48",
                 "Action": action, "PolicyDescription": desc},
                {"action": action, "protocol": "TCP", "port": str(1000 + index),
                 "ipv6_cidr_block": f"2001:db8:{index:x}::/48", "description": desc})
    if kind == 2:
        low = 8000 + index
        return ({"Protocol": "udp", "Port": f"{low}-{low + 10}", "CidrBlock": f"172.16.{index % 250}.0/24",
                 "Action": action, "PolicyDescription": desc},
                {"action": action, "protocol": "UDP", "port": f"{low}-{low + 10}",
                 "cidr_block": f"172.16.{index % 250}.0/24", "description": desc})
    if kind == 9:
        ports = f"80,{8400 + index}"
        return ({"Protocol": "tcp", "Port": ports, "CidrBlock": "0.0.0.0/0", "Action": action,
                 "PolicyDescription": desc},
                {"action": action, "protocol": "TCP", "port": ports, "cidr_block": "0.0.0.0/0",
                 "description": desc})
    port = str(20 + index)
    cidr = f"192.168.{index % 250}.{(index // 250) % 256}/32"
    return ({"Protocol": "tcp", "Port": port, "CidrBlock": cidr, "Action": action, "PolicyDescription": desc},
            {"action": action, "protocol": "TCP", "port": port, "cidr_block": cidr, "description": desc})


def _hcl_block(kind: str, attrs: dict[str, Any]) -> str:
    width = max(len(k) for k in attrs)
    lines = []
    for key, value in attrs.items():
        rendered = value if key == "security_group_id" else json.dumps(value)
        lines.append(f"    {key.ljust(width)} = {rendered}")
    return f"  {kind} {{\n" + "\n".join(lines) + "\n  }\n"


def _reference_target(group: int, index: int, groups: int) -> int | None:
    # A fixed shift per rule index is a bijection over groups, so every group is referenced by
    # exactly R/10 rules: the engine's ReferedSecurityGroupLimit (10 per group, API §4) holds.
    if groups < 2:
        return None
    return (group + 1 + index * 37) % groups if (group + 1 + index * 37) % groups != group else None


def make_estate(groups: int, rules: int, instances: int, *, variant: str = "identical", seed: int = 7) -> Estate:
    """An estate of `groups` × `rules` (three in four ingress) and `instances` with 1–5 groups."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)}")
    rng = random.Random(seed)
    labels = [f"g{i:05d}" for i in range(groups)]
    ids = [f"sg-{i:08d}" for i in range(groups)]
    sg_state, blocks = [], []
    for i, (label, gid) in enumerate(zip(labels, ids)):
        ingress, egress, hcl_rules = [], [], []
        for r in range(rules):
            j = _reference_target(i, r, groups)
            policy, attrs = _rule(r, (ids[j], labels[j]) if j is not None else None)
            direction = "Egress" if r % 4 == 3 else "Ingress"
            (egress if direction == "Egress" else ingress).append(policy)
            hcl_rules.append((direction.lower(), attrs))
        sg_state.append({"SecurityGroupId": gid, "SecurityGroupName": label, "SecurityGroupDesc": f"group {i}",
                         "TagSet": [{"Key": "sgplan-stack", "Value": STACK},
                                    {"Key": "sgplan-address", "Value": f"security_group.{label}"}],
                         "SecurityGroupPolicySet": {"Version": str(len(ingress) + len(egress)),
                                                    "Ingress": ingress, "Egress": egress}})
        body = "".join(_hcl_block(kind, attrs) for kind, attrs in hcl_rules)
        blocks.append(f'security_group "{label}" {{\n  name        = "{label}"\n  description = "group {i}"\n'
                      + (f"\n{body}" if body else "") + "}\n")
    inst_state, by_list = [], defaultdict(list)
    for n in range(instances):
        chosen = tuple(rng.sample(range(groups), k=min(groups, rng.randint(1, 5)))) if groups else ()
        iid = f"ins-{n:08d}"
        inst_state.append({"InstanceId": iid, "SecurityGroupIds": [ids[c] for c in chosen]})
        by_list[chosen].append(iid)
    for k, (chosen, members) in enumerate(sorted(by_list.items())):
        refs = ", ".join(f"security_group.{labels[c]}.id" for c in chosen)
        inst = ", ".join(json.dumps(m) for m in members)
        blocks.append(f'binding "b{k:05d}" {{\n  instance_ids    = [{inst}]\n  security_groups = [{refs}]\n}}\n')
    config = f'sgplan {{\n  stack = "{STACK}"\n}}\n\n' + "\n".join(blocks)
    desired = {"Region": "ap-guangzhou", "SecurityGroups": sg_state, "Instances": inst_state,
               "Limits": {"SecurityGroupLimit": max(1000, groups * 2),
                          "SecurityGroupPolicyLimit": max(100, rules + 2)}}
    state = copy.deepcopy(desired)
    _drift(state, variant, rng)
    _index(desired)
    _index(state)
    return Estate(state, config, groups, rules, instances, variant, desired)


def _index(state: dict[str, Any]) -> None:
    for group in state["SecurityGroups"]:
        for direction in ("Ingress", "Egress"):
            for n, policy in enumerate(group["SecurityGroupPolicySet"][direction]):
                policy["PolicyIndex"] = n


def _drift(state: dict[str, Any], variant: str, rng: random.Random) -> None:
    """Change the live side out of band so the plan has work.

    `drift`: 5% of groups get one contiguous run of edited descriptions (a replace run) and a
    tag added in the console (the plan removes it with one tag call), and 5% of instances carry
    their groups in another order. `heavy`: a third of the groups get a
    replace run of R/6 rules, a deleted egress rule (the plan inserts it back) and an extra
    ingress rule (the plan deletes it); a third of the instances carry other lists.
    """
    groups, instances = state["SecurityGroups"], state["Instances"]
    if variant == "identical" or not groups:
        return
    share = 0.05 if variant == "drift" else 0.33
    for i in rng.sample(range(len(groups)), k=max(1, round(len(groups) * share))):
        policy_set = groups[i]["SecurityGroupPolicySet"]
        ingress, egress = policy_set["Ingress"], policy_set["Egress"]
        groups[i]["TagSet"] = [*groups[i]["TagSet"], {"Key": "owner", "Value": "console"}]
        run = 2 if variant == "drift" else max(2, (len(ingress) + len(egress)) // 6)
        start = rng.randrange(max(1, len(ingress) - run + 1))
        for policy in ingress[start:start + run]:
            policy["PolicyDescription"] = "edited in the console"
        if variant == "heavy":
            if len(egress) > 1:
                del egress[rng.randrange(len(egress))]
            ingress.insert(rng.randrange(len(ingress) + 1),
                           {"Protocol": "tcp", "Port": "6379", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT",
                            "PolicyDescription": "added in the console"})
        policy_set["Version"] = str(int(policy_set["Version"]) + 3)
    ids = [g["SecurityGroupId"] for g in groups]
    position = {gid: n for n, gid in enumerate(ids)}
    for n in rng.sample(range(len(instances)), k=round(len(instances) * share)):
        carried = instances[n]["SecurityGroupIds"]
        if len(carried) > 1:
            instances[n]["SecurityGroupIds"] = carried[::-1]
        else:
            instances[n]["SecurityGroupIds"] = [ids[(position[carried[0]] + 1) % len(ids)]] if carried else ids[:1]


def write_estate(estate: Estate, directory: Path) -> tuple[Path, Path]:
    """Write `live.json` and `config/main.sg.hcl` under directory; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "live.json"
    state.write_text(json.dumps(estate.state))
    config = directory / "config"
    config.mkdir(exist_ok=True)
    (config / "main.sg.hcl").write_text(estate.config)
    return state, config
