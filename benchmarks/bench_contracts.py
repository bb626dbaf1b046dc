"""What reachability contracts (issue 16) add to the local plan time.

Run `python -m benchmarks.bench_contracts [--quick] [--repeat N]`. The estate of the `local`
figure (`make_estate(G, R, I, variant="drift")`, file cloud) is planned in fresh processes
without and with a file of 20 `expect` blocks (deny and allow, ingress and egress, one port, many
ports and every protocol, the internet, CIDRs and explicit instances), alternately, best of N
after one warm-up run of each (so both read a warm parse cache).
The last JSON line holds the figures: wall and CPU time of each process (CPU time is the steadier
figure on a shared machine) and the growth of the `analysis` stage, where contracts are checked;
the target is an overhead of at most 30 % at G=2000 R=50 I=5000.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.estate import make_estate, write_estate

TARGET = (2000, 50, 5000)
QUICK = (200, 50, 500)
ROOT = Path(__file__).resolve().parent.parent


def contracts_hcl(instance_ids: list[str]) -> str:
    """20 contracts of the kinds teams write."""
    blocks: list[str] = []

    def expect(name: str, peer: str, protocol: str, ports: str | None, decision: str,
               direction: str = "ingress", instances: list[str] | None = None) -> None:
        lines = [f'expect "{name}" {{', f'  direction = "{direction}"', f"  peer      = {peer}",
                 f'  protocol  = "{protocol}"', f'  decision  = "{decision}"']
        if ports is not None:
            lines.append(f'  ports     = "{ports}"')
        if instances is not None:
            lines.append(f"  instances = {json.dumps(instances)}")
        blocks.append("\n".join(lines) + "\n}\n")

    for port in ("22", "3389", "23", "3306", "5432", "6379", "27017", "9200", "1433", "445"):
        expect(f"no_public_{port}", '["internet"]', "TCP", port, "deny")
    for port in ("53", "161", "123"):
        expect(f"no_public_udp_{port}", '["internet"]', "UDP", port, "deny")
    expect("nothing_public", '["internet"]', "ALL", None, "deny")
    expect("lan_https", '["10.0.0.0/8"]', "TCP", "443", "allow")
    expect("web_front", '["0.0.0.0/0", "::/0"]', "TCP", "80,443", "allow", instances=instance_ids[:50])
    expect("no_smtp_out", '["internet"]', "TCP", "25", "deny", direction="egress")
    expect("no_v6_ssh", '["::/0"]', "TCP", "22", "deny")
    expect("no_ping", '["0.0.0.0/0"]', "ICMP", None, "deny")
    expect("office_ssh", '["203.0.113.0/24"]', "TCP", "22", "allow")
    return "\n".join(blocks)


def _local(directory: Path) -> dict[str, Any]:
    """One `local` measurement in a fresh process, plus the CPU seconds that process used (CPU
    time barely moves when other jobs share the machine; wall time does)."""
    spec = json.dumps({"kind": "local", "dir": str(directory)})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.measure", spec], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["no output"])[-1])
    result = json.loads(lines[-1])
    result["cpu"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3)
    return result


def measure(groups: int, rules: int, instances: int, repeat: int = 2) -> dict[str, Any]:
    estate = make_estate(groups, rules, instances, variant="drift")
    with tempfile.TemporaryDirectory(prefix="sgplan-bench-contracts-") as tmp:
        plain, with_contracts = Path(tmp) / "plain", Path(tmp) / "contracts"
        write_estate(estate, plain)
        shutil.copytree(plain, with_contracts)
        ids = sorted(i["InstanceId"] for i in estate.state["Instances"])
        (with_contracts / "config" / "contracts.sg.hcl").write_text(contracts_hcl(ids))
        runs: dict[str, list[dict[str, Any]]] = {"plain": [], "contracts": []}
        for directory in (plain, with_contracts):
            _local(directory)  # warm-up: both variants then read a warm parse cache, as a re-plan does
        for _ in range(repeat):
            for name, directory in (("plain", plain), ("contracts", with_contracts)):
                runs[name].append(_local(directory))
    best = {name: min(found, key=lambda r: r["wall"]) for name, found in runs.items()}
    cpu = {name: min(r["cpu"] for r in found) for name, found in runs.items()}
    base, more = best["plain"], best["contracts"]
    analysis = base["seconds"].get("analysis", 0.0), more["seconds"].get("analysis", 0.0)
    return {
        "size": f"{groups}x{rules}x{instances}", "contracts": 20, "repeat": repeat,
        "plan_s": base["wall"], "plan_with_contracts_s": more["wall"],
        "overhead_pct": round(100 * (more["wall"] - base["wall"]) / base["wall"], 1),
        "plan_cpu_s": cpu["plain"], "plan_with_contracts_cpu_s": cpu["contracts"],
        "cpu_overhead_pct": round(100 * (cpu["contracts"] - cpu["plain"]) / cpu["plain"], 1),
        "analysis_s": analysis[0], "analysis_with_contracts_s": analysis[1],
        "contracts_s": round(analysis[1] - analysis[0], 3),
        "contracts_pct_of_plan": round(100 * (analysis[1] - analysis[0]) / base["wall"], 1),
        "target_pct": 30,
        "stages": base["seconds"], "stages_with_contracts": more["seconds"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"G, R, I = {QUICK} instead of {TARGET}")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant (best is kept)")
    args = parser.parse_args(argv)
    row = measure(*(QUICK if args.quick else TARGET), repeat=args.repeat)
    print(f"contracts at {row['size']}: plan {row['plan_s']:.2f} s wall / {row['plan_cpu_s']:.2f} s CPU, with 20 "
          f"contracts {row['plan_with_contracts_s']:.2f} s / {row['plan_with_contracts_cpu_s']:.2f} s "
          f"({row['overhead_pct']:+.1f} % wall, {row['cpu_overhead_pct']:+.1f} % CPU); contract checking "
          f"{row['contracts_s']:.2f} s = {row['contracts_pct_of_plan']:.1f} % of the plan (target <= 30 %)")
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
