"""Analysis speed at estate scale: exposure comparison, plan-time findings and `sgplan check`.

Run `python -m benchmarks.bench_analysis [--quick] [--json]`. Each size builds an estate with
`make_estate(G, R, I, variant="drift")` (instances carry 1–5 random groups, so nearly every
instance has its own group list), converts the live state and the configured state to model
values the way a refresh does, and times, each with a fresh evaluator:

- `compare`: exposure changes live → configured (what `plan` shows);
- `plan analysis`: compare + findings restricted to what changes (what `plan` runs);
- `check`: every finding on the configured state (what `sgplan check` runs).

Parsing HCL and reading the cloud are left out: they are other stages' figures.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

from benchmarks.estate import make_estate
from sgplan.analysis.access import Evaluator
from sgplan.analysis.checks import Scope, run_checks
from sgplan.analysis.exposure import AccessView, changed_subjects, compare
from sgplan.cloud.reader import to_group, to_instance
from sgplan.model import CloudState

BASE = (250, 50, 625)  # 1×: groups, rules per group, instances
SCALES = (1, 2, 4)
TARGET = (2000, 50, 5000)  # issue 6: analysis ≤ 2 s at this size


def _state(raw: dict[str, Any]) -> CloudState:
    memo: dict = {}
    groups = tuple(to_group(g, g["SecurityGroupPolicySet"], memo) for g in raw["SecurityGroups"])
    return CloudState(groups=groups, instances=tuple(to_instance(i) for i in raw["Instances"]))


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _plan_analysis(before: AccessView, after: AccessView) -> tuple[int, int]:
    evaluator = Evaluator(after.templates)
    changes = compare(before, after, evaluator)
    instances, groups = changed_subjects(before, after, evaluator)
    findings = run_checks(after, scope=Scope(frozenset(instances), frozenset(groups)), evaluator=evaluator)
    return len(changes), len(findings)


def measure(groups: int, rules: int, instances: int, *, variant: str = "drift") -> dict[str, Any]:
    """Seconds for each analysis on one estate (fresh caches each time)."""
    estate = make_estate(groups, rules, instances, variant=variant)
    live, desired = _state(estate.state), _state(estate.desired)
    distinct = len({tuple(i.security_group_ids) for i in desired.instances})

    def views() -> tuple[AccessView, AccessView]:
        return AccessView.from_state(live), AccessView.from_state(desired, templates=live)

    before, after = views()
    t_compare, changes = _timed(lambda: compare(before, after))
    before, after = views()
    t_plan, (n_changes, n_plan_findings) = _timed(lambda: _plan_analysis(before, after))
    _, after = views()
    t_check, findings = _timed(lambda: run_checks(after))
    return {
        "size": f"{groups}x{rules}x{instances}",
        "distinct_lists": distinct,
        "compare_s": round(t_compare, 3),
        "plan_analysis_s": round(t_plan, 3),
        "check_s": round(t_check, 3),
        "exposure_changes": len(changes),
        "plan_findings": n_plan_findings,
        "check_findings": len(findings),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1× and 2× only (a smoke run)")
    parser.add_argument("--json", action="store_true", help="one JSON line per size")
    args = parser.parse_args(argv)
    sizes = [tuple(n * k if i != 1 else n for i, n in enumerate(BASE)) for k in SCALES]
    sizes = sizes[:2] if args.quick else sizes + [TARGET]
    header = f"{'size':>16} {'lists':>6} {'compare':>8} {'plan':>8} {'check':>8} {'changes':>8} {'findings':>8}"
    if not args.json:
        print(header)
    for groups, rules, instances in sizes:
        row = measure(groups, rules, instances)
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['size']:>16} {row['distinct_lists']:>6} {row['compare_s']:>7.2f}s {row['plan_analysis_s']:>7.2f}s "
                  f"{row['check_s']:>7.2f}s {row['exposure_changes']:>8} {row['check_findings']:>8}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
