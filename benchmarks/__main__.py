"""`python -m benchmarks [--quick] [--only SECTION…] [--out FILE]`: run the benchmark set,
print the tables and write `benchmarks/results.json` (see docs/performance.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.runner import FULL, QUICK, SECTIONS, run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default benchmarks/results.json, or results-quick.json with --quick)")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole run")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.budget:
        from dataclasses import replace

        profile = replace(profile, budget=args.budget)
    here = Path(__file__).resolve().parent
    out = args.out or here / ("results-quick.json" if args.quick else "results.json")
    run(profile, out, only=tuple(args.only), log=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
