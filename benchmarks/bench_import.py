"""Benchmark: `sgplan import --all-unmanaged` of 1,000 groups × 20 rules from a file cloud.

Run with `python -m benchmarks.bench_import [GROUPS] [RULES]`; the target is ≤ 10 s on a
2-core machine, including the check that the generated configuration plans empty.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def estate(groups: int, rules: int) -> dict[str, Any]:
    """A deterministic live state: mixed rule shapes, references, instances with ordered lists."""
    ids = [f"sg-{i:08x}" for i in range(1, groups + 1)]
    out = []
    for n, gid in enumerate(ids):
        ingress, egress = [], []
        for r in range(rules):
            policy: dict[str, Any] = {"Action": "ACCEPT" if r % 5 else "DROP", "PolicyDescription": f"rule {r} of {gid}"}
            shape = r % 4
            if shape == 0:
                policy.update(Protocol="TCP", Port=str(1000 + r), CidrBlock=f"10.{n % 250}.{r}.0/24")
            elif shape == 1:
                policy.update(Protocol="UDP", Port=f"{2000 + r}-{2010 + r}", Ipv6CidrBlock=f"2001:db8:{n:x}:{r:x}::/64")
            elif shape == 2:
                policy.update(Protocol="TCP", Port="22", SecurityGroupId=ids[(n + r) % groups])
            else:
                policy.update(Protocol="ICMP", CidrBlock=f"192.168.{r}.{n % 250}/32")
            (ingress if r % 2 == 0 else egress).append(policy)
        out.append({"SecurityGroupId": gid, "SecurityGroupName": f"team-{n % 300}-web",
                    "SecurityGroupDesc": f"group {n}", "TagSet": [{"Key": "team", "Value": f"t{n % 7}"}],
                    "SecurityGroupPolicySet": {"Version": "1", "Ingress": ingress, "Egress": egress}})
    instances = [{"InstanceId": f"ins-{i:08x}", "SecurityGroupIds": [ids[i % groups], ids[(i * 7 + 1) % groups]]}
                 for i in range(groups // 2)]
    return {"Region": "ap-guangzhou", "SecurityGroups": out, "Instances": instances}


def main(argv: list[str]) -> int:
    from sgplan.cli import main as sgplan

    groups = int(argv[0]) if argv else 1000
    rules = int(argv[1]) if len(argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp, "live.json")
        state.write_text(json.dumps(estate(groups, rules)))
        err = io.StringIO()
        start = time.perf_counter()
        code = 0
        with contextlib.redirect_stderr(err):
            try:
                sgplan(["import", "--all-unmanaged", "--out", str(Path(tmp, "out")), "--cloud", f"file:{state}"])
            except SystemExit as exc:
                code = int(exc.code or 0)
        elapsed = time.perf_counter() - start
        lines = sum(p.read_text().count("\n") for p in Path(tmp, "out").glob("*.hcl")) if code == 0 else 0
    print(f"import of {groups} groups x {rules} rules: {elapsed:.2f} s (exit {code}, {lines} lines of HCL)")
    if code != 0:
        print(err.getvalue(), file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
