"""Parse-speed benchmark: python-hcl2's `hcl2.loads` against sgplan's `load_configuration` on the
same generated configuration, cold (no parse cache) and warm (cache filled), at 1× and 4× a
base size. Not a unit test: `python -m benchmarks.bench_parse [--groups N] [--rules N]`.

The machine may be noisy: every figure is the best of `--repeat` runs, taken side by side in
one process, and the ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from benchmarks.estate import make_estate, write_estate


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _measure(config: Path, repeat: int, hcl2_repeat: int) -> dict[str, float]:
    import hcl2

    from sgplan.config import load_configuration

    text = (config / "main.sg.hcl").read_text()
    cache_dir = config / ".sgplan"

    def cold() -> None:
        cfg, diags = load_configuration(config, env={}, cache=False)
        assert cfg is not None and not diags, diags

    def first() -> None:  # a cold run that also writes the cache
        shutil.rmtree(cache_dir, ignore_errors=True)
        cfg, diags = load_configuration(config, env={})
        assert cfg is not None and not diags, diags

    def warm() -> None:
        cfg, diags = load_configuration(config, env={})
        assert cfg is not None and not diags, diags

    out = {"lines": float(text.count("\n"))}
    out["hcl2.loads"] = _best(lambda: hcl2.loads(text), hcl2_repeat)
    out["cold"] = _best(cold, repeat)
    out["cold+write"] = _best(first, repeat)
    out["warm"] = _best(warm, repeat)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=50, help="groups at 1× (each with --rules rules)")
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--scales", default="1,4", help="comma-separated multiples of --groups")
    parser.add_argument("--repeat", type=int, default=3, help="runs per sgplan figure (best is kept)")
    parser.add_argument("--hcl2-repeat", type=int, default=1, help="runs of hcl2.loads (slow)")
    args = parser.parse_args(argv)

    # The benchmark must not touch the user's own cache key or grammar cache.
    work = Path(tempfile.mkdtemp(prefix="sgplan-bench-parse-"))
    os.environ["XDG_CACHE_HOME"] = str(work / "xdg")
    try:
        import hcl2

        from sgplan.hcl.parser import parse_text

        hcl2.loads("a = 1\n")  # build or load both grammars before timing
        parse_text("a = 1\n")
        print(f"{'scale':>5} {'lines':>8} {'hcl2.loads':>11} {'cold':>8} {'cold+write':>11} {'warm':>8}"
              f" {'loads/cold':>11} {'loads/warm':>11}")
        for scale in (int(s) for s in args.scales.split(",")):
            estate = make_estate(args.groups * scale, args.rules, 10 * args.groups * scale)
            _, config = write_estate(estate, work / f"x{scale}")
            r = _measure(config, args.repeat, args.hcl2_repeat)
            print(f"{scale:>4}× {int(r['lines']):>8} {r['hcl2.loads']:>10.2f}s {r['cold']:>7.2f}s"
                  f" {r['cold+write']:>10.2f}s {r['warm']:>7.3f}s"
                  f" {r['hcl2.loads'] / r['cold']:>10.1f}× {r['hcl2.loads'] / r['warm']:>10.1f}×", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
