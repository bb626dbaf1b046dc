"""Synthetic estates for benchmarks: a fake-cloud state file and the configuration that manages it.

`make_estate(groups, rules, instances)` builds G managed groups × R rules (mixed shapes, group
references, DROPs) and I instances carrying 1–5 groups, then writes the live state (DESIGN §4)
and the matching HCL. Variants: `identical` (plan is empty), `drift` (5% of groups differ live),
`heavy` (a third of the groups differ in many rules).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

STACK = "bench"


@dataclass(frozen=True)
class Estate:
    state: dict
    config: str
    groups: int
    rules: int
    instances: int


def _rule(rng: random.Random, index: int, group_ids: list[str], labels: list[str]) -> tuple[dict, dict]:
    """One rule as (API policy, HCL attributes)."""
    kind = index % 10
    action = "DROP" if kind == 7 else "ACCEPT"
    desc = f"rule {index}"
    if kind == 5 and group_ids:
        j = rng.randrange(len(group_ids))
        return ({"Protocol": "tcp", "Port": str(3000 + index), "SecurityGroupId": group_ids[j], "Action": action,
                 "PolicyDescription": desc},
                {"action": action, "protocol": "TCP", "port": str(3000 + index),
                 "security_group_id": f"security_group.{labels[j]}.id", "description": desc})
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
    port = str(20 + index)
    cidr = f"192.168.{index % 250}.{(index // 250) % 256}/32"
    return ({"Protocol": "tcp", "Port": port, "CidrBlock": cidr, "Action": action, "PolicyDescription": desc},
            {"action": action, "protocol": "TCP", "port": port, "cidr_block": cidr, "description": desc})


def _hcl_block(kind: str, attrs: dict) -> str:
    width = max(len(k) for k in attrs)
    lines = []
    for key, value in attrs.items():
        rendered = value if key == "security_group_id" else json.dumps(value)
        lines.append(f"    {key.ljust(width)} = {rendered}")
    return f"  {kind} {{\n" + "\n".join(lines) + "\n  }\n"


def make_estate(groups: int, rules: int, instances: int, *, variant: str = "identical", seed: int = 7) -> Estate:
    rng = random.Random(seed)
    labels = [f"g{i:05d}" for i in range(groups)]
    ids = [f"sg-{i:08d}" for i in range(groups)]
    sg_state, blocks = [], []
    for i, (label, gid) in enumerate(zip(labels, ids)):
        ingress, egress, hcl_rules = [], [], []
        earlier_ids, earlier_labels = ids[:i], labels[:i]
        for r in range(rules):
            policy, attrs = _rule(rng, r, earlier_ids, earlier_labels)
            direction = "Egress" if r % 4 == 3 else "Ingress"
            (egress if direction == "Egress" else ingress).append(policy)
            hcl_rules.append((direction.lower(), attrs))
        for n, p in enumerate(ingress):
            p["PolicyIndex"] = n
        for n, p in enumerate(egress):
            p["PolicyIndex"] = n
        sg_state.append({"SecurityGroupId": gid, "SecurityGroupName": label, "SecurityGroupDesc": f"group {i}",
                         "TagSet": [{"Key": "sgplan-stack", "Value": STACK},
                                    {"Key": "sgplan-address", "Value": f"security_group.{label}"}],
                         "SecurityGroupPolicySet": {"Version": str(len(ingress) + len(egress)),
                                                    "Ingress": ingress, "Egress": egress}})
        body = "".join(_hcl_block(kind, attrs) for kind, attrs in hcl_rules)
        blocks.append(f'security_group "{label}" {{\n  name        = "{label}"\n  description = "group {i}"\n'
                      + (f"\n{body}" if body else "") + "}\n")
    _drift(sg_state, variant, rng)
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
    state = {"Region": "ap-guangzhou", "SecurityGroups": sg_state, "Instances": inst_state,
             "Limits": {"SecurityGroupLimit": max(1000, groups * 2), "SecurityGroupPolicyLimit": max(100, rules)}}
    return Estate(state, config, groups, rules, instances)


def _drift(sg_state: list[dict], variant: str, rng: random.Random) -> None:
    """Change the live side so the plan has work: descriptions and ports edited out of band."""
    if variant == "identical" or not sg_state:
        return
    share = 0.05 if variant == "drift" else 0.33
    touched = rng.sample(range(len(sg_state)), k=max(1, int(len(sg_state) * share)))
    for i in touched:
        ingress = sg_state[i]["SecurityGroupPolicySet"]["Ingress"]
        edits = 1 if variant == "drift" else max(1, len(ingress) // 3)
        for policy in ingress[:edits]:
            policy["PolicyDescription"] = "edited in the console"


def write_estate(estate: Estate, directory: Path) -> tuple[Path, Path]:
    """Write `live.json` and `config/main.sg.hcl` under directory; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "live.json"
    state.write_text(json.dumps(estate.state))
    config = directory / "config"
    config.mkdir(exist_ok=True)
    (config / "main.sg.hcl").write_text(estate.config)
    return state, config
