"""The benchmark set: which estates to measure, each in a fresh subprocess under a time budget,
the floors to compare against, the tables, and `results.json`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from benchmarks.estate import make_estate, write_estate
from benchmarks.floor import apply_floor, rate_floor_by_action, rate_floor_seconds, refresh_floor
from benchmarks.report import growth_table, table

SCALES = (1, 2, 4, 10)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """The sizes one run measures. Scaling points are base × SCALES; the 10× point is the headline."""

    name: str
    local_base: tuple[int, int, int]  # (G, R, I) at 1×
    calls_base: tuple[int, int, int]
    wall_sizes: tuple[tuple[int, int, int], ...]  # (G, R, I) against the HTTP fake, besides the 10× calls point
    parse_args: tuple[str, ...]
    import_args: tuple[str, ...]
    budget: float  # seconds for the whole run
    cap: float  # seconds for one measurement
    reserve: float  # seconds kept for the parser and import sections
    fmt_size: tuple[int, int, int] = (2000, 50, 5000)  # fmt --check vs a cold plan (issue 18)
    import_http_size: tuple[int, int, int] = (500, 10, 1500)  # import reads vs plan's refresh, HTTP fake
    goals_sizes: tuple[tuple[int, int, int], tuple[int, int, int]] = ((2000, 50, 5000), (500, 20, 1500))  # issue 18
    goals_repeat: int = 3  # warm runs of each command (the best counts: the machine is shared)


# The 10× API-calls point (G=2000, I=5000) also runs against the HTTP fake: it is the brief's
# largest wall-time size, measured once.
FULL = Profile("full", (200, 50, 500), (200, 10, 500), ((200, 10, 5000), (1000, 10, 5000)),
               ("--repeat", "1"), ("1000", "20"), budget=570.0, cap=240.0, reserve=90.0)
QUICK = Profile("quick", (10, 10, 25), (10, 5, 25), ((20, 5, 200),),
                ("--groups", "5", "--rules", "10", "--repeat", "1"), ("50", "5"), budget=55.0, cap=25.0, reserve=12.0,
                fmt_size=(20, 10, 50), import_http_size=(20, 5, 50), goals_sizes=((20, 10, 50), (10, 5, 25)),
                goals_repeat=1)


class Runner:
    """Runs measurements in subprocesses, never past the profile's budget."""

    def __init__(self, profile: Profile, workdir: Path, log: Callable[[str], None] = print) -> None:
        self.profile = profile
        self.workdir = workdir
        self.log = log
        self.started = time.monotonic()

    def remaining(self) -> float:
        return self.profile.budget - (time.monotonic() - self.started)

    def affordable(self, predicted: float, *, keep: float = 0.0) -> bool:
        """Whether a measurement predicted to take `predicted` seconds fits what is left."""
        return predicted <= min(self.profile.cap, self.remaining() - keep)

    def subprocess_json(self, args: list[str], *, cap: float | None = None) -> dict[str, Any]:
        """Run a child that prints one JSON line last; {"error": …} on failure or timeout."""
        limit = min(cap or self.profile.cap, self.remaining())
        if limit < 2:
            return {"skipped": "time budget used up"}
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        child = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env, cwd=ROOT, start_new_session=True)
        try:
            out, err = child.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the child and the fake server it started
            child.communicate()
            return {"timeout": round(limit, 1)}
        lines = [line for line in out.strip().splitlines() if line.startswith("{")]
        if child.returncode != 0 or not lines:
            return {"error": (err.strip().splitlines() or ["exit %d" % child.returncode])[-1][:300]}
        return json.loads(lines[-1])

    def estate_dir(self, name: str, groups: int, rules: int, instances: int, variant: str) -> tuple[Path, Any]:
        estate = make_estate(groups, rules, instances, variant=variant)
        directory = self.workdir / f"{name}-{groups}x{rules}x{instances}-{variant}"
        write_estate(estate, directory)
        return directory, estate

    def measure(self, kind: str, directory: Path, **extra: Any) -> dict[str, Any]:
        spec = json.dumps({"kind": kind, "dir": str(directory), **extra})
        return self.subprocess_json(["-m", "benchmarks.measure", spec])


# -- sections --------------------------------------------------------------------------------


def _calls_row(label: str, groups: int, instances: int, estate: Any, got: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"size": label, "G": groups, "I": instances}
    if "refresh_calls" not in got:
        row["status"] = _status(got)
        return row
    refresh = sum(got["refresh_calls"].values())
    floor = refresh_floor(groups, instances)
    applied = got["apply_calls"]
    writes = {a: n for a, n in applied.items() if not a.startswith("Describe")}
    polls = sum(n for a, n in applied.items() if a.startswith("Describe"))
    need = apply_floor(estate.state, estate.desired)
    row.update(refresh_calls=refresh, refresh_floor=floor, refresh_ratio=round(refresh / floor, 3),
               refresh_by_action=got["refresh_calls"],
               apply_calls=sum(writes.values()), apply_floor=need["total"],
               apply_ratio=round(sum(writes.values()) / need["total"], 3) if need["total"] else None,
               apply_floor_parts=need, apply_by_action=applied, apply_reads=polls,
               apply_errors=got.get("apply_errors", []), plan_seconds=got.get("plan_seconds"))
    return row


def _status(got: dict[str, Any]) -> str:
    if "timeout" in got:
        return f"timeout > {got['timeout']} s"
    return got.get("skipped") or got.get("error") or "failed"


def api_calls(runner: Runner, variant: str = "drift") -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """API calls of a refresh and of an apply versus the floor, at each scale; the largest
    point also runs against the HTTP fake, and its wall-time row is returned with the rows."""
    g0, r0, i0 = runner.profile.calls_base
    rows, wall_row = [], None
    for k in SCALES:
        g, i = g0 * k, i0 * k
        directory, estate = runner.estate_dir("calls", g, r0, i, variant)
        last = k == SCALES[-1]
        runner.log(f"  api calls {k}x: G={g} R={r0} I={i} ({variant}){' + HTTP wall time' if last else ''}, "
                   f"{runner.remaining():.0f} s left")
        got = runner.measure("cloud", directory, http=last, latency_ms=50)
        rows.append(_calls_row(f"{k}x", g, i, estate, got))
        if last:
            wall_row = _wall_row(g, r0, i, got)
    directory, estate = runner.estate_dir("calls", g0, r0, i0, "heavy")
    runner.log(f"  api calls heavy: G={g0} R={r0} I={i0}")
    rows.append(_calls_row("1x heavy", g0, i0, estate, runner.measure("cloud", directory)))
    return rows, wall_row


def wall_time(runner: Runner, variant: str = "drift") -> list[dict[str, Any]]:
    """Refresh and apply through the SDK against the HTTP fake (50 ms latency, documented limits)."""
    rows = []
    for g, r, i in runner.profile.wall_sizes:
        directory, _estate = runner.estate_dir("wall", g, r, i, variant)
        runner.log(f"  wall time: G={g} R={r} I={i} ({variant}), {runner.remaining():.0f} s left")
        rows.append(_wall_row(g, r, i, runner.measure("cloud", directory, http=True, latency_ms=50)))
    return rows


def _wall_row(g: int, r: int, i: int, got: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"G": g, "R": r, "I": i}
    http = got.get("http")
    if not http:
        row["status"] = _status(got)
        return row
    for phase in ("refresh", "apply"):
        calls = {a: n for a, n in http[f"{phase}_calls"].items()}
        floor = rate_floor_seconds(calls)
        row[f"{phase}_seconds"] = http[f"{phase}_seconds"]
        row[f"{phase}_floor"] = round(floor, 3)
        row[f"{phase}_ratio"] = round(http[f"{phase}_seconds"] / floor, 3) if floor else None
        row[f"{phase}_calls"] = sum(calls.values())
        row[f"{phase}_retries"] = http[f"{phase}_retries"]
        row[f"{phase}_floor_by_action"] = {a: round(s, 3) for a, s in rate_floor_by_action(calls).items()}
    row["throttled"] = http.get("throttled", 0)
    row["apply_errors"] = http.get("apply_errors", [])
    return row


def local_cost(runner: Runner, variant: str = "drift") -> list[dict[str, Any]]:
    """`sgplan plan --cloud file:` wall time and peak RSS by stage, at each scale (fresh process each)."""
    g0, r0, i0 = runner.profile.local_base
    rows: list[dict[str, Any]] = []
    spent: list[tuple[int, float]] = []  # (scale, seconds) measured so far
    for k in SCALES:
        g, i = g0 * k, i0 * k
        row: dict[str, Any] = {"size": f"{k}x", "G": g, "R": r0, "I": i}
        predicted = _predict(spent, k)
        if not runner.affordable(predicted, keep=runner.profile.reserve):
            row["status"] = f"skipped: predicted ~{predicted:.0f} s, {runner.remaining():.0f} s left"
            rows.append(row)
            continue
        directory, _estate = runner.estate_dir("local", g, r0, i, variant)
        runner.log(f"  local cost {k}x: G={g} R={r0} I={i} ({variant}), {runner.remaining():.0f} s left")
        start = time.monotonic()
        got = runner.measure("local", directory)
        spent.append((k, time.monotonic() - start))
        if "seconds" in got:
            row.update(wall=got["wall"], peak_rss_mb=got["peak_rss_mb"], **got["seconds"])
        else:
            row["status"] = _status(got)
        rows.append(row)
    return rows


def _predict(spent: list[tuple[int, float]], k: int) -> float:
    """Seconds the k× point should take, extrapolating the growth seen so far (at least linear)."""
    if not spent:
        return 0.0
    (k1, t1) = spent[-1]
    exponent = 1.0
    if len(spent) >= 2:
        (k0, t0) = spent[-2]
        if t0 > 0 and k1 > k0:
            exponent = max(1.0, math.log(max(t1, 1e-3) / t0) / math.log(k1 / k0))
    return t1 * (k / k1) ** exponent


def parser(runner: Runner) -> dict[str, Any]:
    """bench_parse.py's figures (another helper's module), if it is there."""
    if not (ROOT / "benchmarks" / "bench_parse.py").exists():
        return {"status": "benchmarks/bench_parse.py not present"}
    return _text_or_json(runner, ["-m", "benchmarks.bench_parse", *runner.profile.parse_args])


def importer(runner: Runner) -> dict[str, Any]:
    """bench_import.py's figure (another helper's module)."""
    if not (ROOT / "benchmarks" / "bench_import.py").exists():
        return {"status": "benchmarks/bench_import.py not present"}
    return _text_or_json(runner, ["-m", "benchmarks.bench_import", *runner.profile.import_args])


def fmt_check(runner: Runner) -> dict[str, Any]:
    """`fmt --check` (with and without the line-level canonical check) beside a cold plan of the
    same estate, fresh process each (issue 18: fmt --check <= cold plan, <= 600 MB)."""
    g, r, i = runner.profile.fmt_size
    directory, _estate = runner.estate_dir("fmt", g, r, i, "drift")
    out: dict[str, Any] = {"G": g, "R": r, "I": i}
    for label, kind, extra in (("fmt_check", "fmt_check", {}), ("fmt_check_lexing", "fmt_check", {"lex_every_file": True}),
                               ("plan_cold", "local", {})):
        if not runner.affordable(0.0, keep=5.0):
            out[label] = {"status": "time budget used up"}
            continue
        shutil.rmtree(directory / "config" / ".sgplan", ignore_errors=True)  # cold: no parse cache
        got = runner.measure(kind, directory, **extra)
        out[label] = {"wall": got.get("wall"), "peak_rss_mb": got.get("peak_rss_mb"),
                      "status": "" if "wall" in got else _status(got)}
    shutil.rmtree(directory / "config" / ".sgplan", ignore_errors=True)
    fmt, plan = out["fmt_check"].get("wall"), out["plan_cold"].get("wall")
    if fmt and plan:
        out["fmt_over_cold_plan"] = round(fmt / plan, 2)
    return out


def import_http(runner: Runner) -> dict[str, Any]:
    """`import --all-unmanaged`'s reads beside plan's refresh over the HTTP fake (50 ms latency,
    documented limits), and the one-at-a-time reads import did before (issue 18: <= 1.2x)."""
    g, r, i = runner.profile.import_http_size
    if not runner.affordable(0.0, keep=5.0):
        return {"status": "time budget used up"}
    directory, _estate = runner.estate_dir("import", g, r, i, "identical")
    got = runner.measure("import_http", directory)
    got.pop("import_sequential_calls", None)
    if "import_seconds" not in got:
        got["status"] = _status(got)
    return {"G": g, "R": r, "I": i, **got}


def goals(runner: Runner) -> dict[str, Any]:
    """Issue 18's goals as whole commands, fresh process each (benchmarks/bench_goals.py): cold and
    warm plan at the target and the middle size, warm validate, warm check ÷ warm plan."""
    from benchmarks.bench_goals import child_env, measure_size

    env = child_env(runner.workdir)
    (tg, tr, ti), (mg, mr, mi) = runner.profile.goals_sizes
    out: dict[str, Any] = {"load_average_start": machine().get("load_average"),
                           "target_size": [tg, tr, ti], "mid_size": [mg, mr, mi]}
    for label, (g, r, i), commands in (("mid", (mg, mr, mi), False), ("target", (tg, tr, ti), True)):
        if not runner.affordable(0.0, keep=5.0):
            out[label] = {"status": "time budget used up"}
            continue
        directory, _estate = runner.estate_dir("goals", g, r, i, "drift")
        limit = max(2.0, min(runner.profile.cap, runner.remaining() - 5.0))
        out[label] = measure_size(directory, env, repeat=runner.profile.goals_repeat, timeout=limit,
                                  with_commands=commands)
        shutil.rmtree(directory, ignore_errors=True)
    out["load_average_end"] = machine().get("load_average")
    return out


def contracts(runner: Runner) -> dict[str, Any]:
    """bench_contracts.py: what 20 `expect` blocks add to the local plan time (issue 16)."""
    quick = ["--quick", "--repeat", "1"] if runner.profile.name == "quick" else ["--repeat", "2"]
    return _text_or_json(runner, ["-m", "benchmarks.bench_contracts", *quick])


def _text_or_json(runner: Runner, args: list[str]) -> dict[str, Any]:
    limit = min(runner.profile.cap, runner.remaining())
    if limit < 2:
        return {"status": "time budget used up"}
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=ROOT, start_new_session=True)
    try:
        out, err = child.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return {"status": f"timeout > {limit:.0f} s"}
    result: dict[str, Any] = {"command": "python " + " ".join(args), "exit": child.returncode,
                              "seconds": round(time.perf_counter() - start, 2)}
    json_lines = [line for line in out.splitlines() if line.startswith("{")]
    if json_lines:
        try:
            result["result"] = json.loads(json_lines[-1])
        except json.JSONDecodeError:
            pass
    result["output"] = out.strip()[-2000:]
    if child.returncode:
        result["stderr"] = err.strip()[-500:]
    return result


# -- the whole run ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on (the load average says how busy it was)."""
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpus": os.cpu_count()}
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name"))
        info["memory_gb"] = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


SECTIONS = ("calls", "wall", "local", "parser", "import", "contracts", "fmt", "import_http", "goals")


def run(profile: Profile, out: Path, *, only: tuple[str, ...] = SECTIONS, log: Callable[[str], None] = print
        ) -> dict[str, Any]:
    """Run the chosen sections, print the tables, write `out`; returns the results document."""
    results: dict[str, Any] = {"profile": profile.name, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="sgplan-bench-") as tmp:
        runner = Runner(profile, Path(tmp), log)
        # Cheapest first, so a tight budget still yields every kind of figure.
        steps = [("calls", api_calls), ("wall", wall_time), ("local", local_cost), ("parser", parser),
                 ("import", importer), ("contracts", contracts), ("fmt", fmt_check), ("import_http", import_http),
                 ("goals", goals)]
        for name, step in steps:
            if name not in only:
                continue
            log(f"{name} ({runner.remaining():.0f} s of budget left)")
            if name == "calls":
                results["calls"], largest = api_calls(runner)
                if largest is not None:
                    results.setdefault("wall", []).append(largest)
            elif name == "wall":
                results["wall"] = step(runner) + results.get("wall", [])
            else:
                results[name] = step(runner)
        results["seconds"] = round(time.monotonic() - runner.started, 1)
    results["machine"]["load_average_end"] = machine().get("load_average")
    results["scaling"] = scaling(results)
    log("")
    log(render(results))
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"\nwrote {out}")
    return results


def scaling(results: dict[str, Any]) -> dict[str, Any]:
    """Growth factor of each figure from 1× to k× (linear growth = k)."""
    out: dict[str, Any] = {}

    def grow(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
        base = next((r for r in rows if r.get("size") == "1x"), None)
        found: dict[str, Any] = {}
        for key in keys:
            if base is None or not base.get(key):
                continue
            found[key] = {r["size"]: round(r[key] / base[key], 2) for r in rows
                          if r.get("size", "").endswith("x") and r.get(key) is not None}
        return found

    if "calls" in results:
        out["calls"] = grow(results["calls"], ("refresh_calls", "apply_calls", "plan_seconds"))
    if "local" in results:
        out["local"] = grow(results["local"], ("wall", "peak_rss_mb", "parse", "evaluate", "read", "diff",
                                               "analysis", "render"))
    if results.get("wall"):
        rows = [r for r in results["wall"] if "refresh_seconds" in r]
        if rows:
            base = rows[0]
            out["wall"] = {key: {f"G={r['G']}": round(r[key] / base[key], 2) for r in rows if base.get(key)}
                           for key in ("refresh_seconds", "apply_seconds")}
    return out


def render(results: dict[str, Any]) -> str:
    """Every table, as plain text."""
    parts = [f"sgplan benchmarks ({results['profile']}, {results.get('seconds', '?')} s, "
             f"load {results['machine'].get('load_average')} -> {results['machine'].get('load_average_end')})"]
    if "calls" in results:
        parts.append(table("API calls (refresh floor ceil(G/100)+G+ceil(I/100); apply floor = edit runs + "
                           "groups + bind lists/100)", results["calls"],
                           [("size", "size"), ("G", "G"), ("I", "I"), ("refresh_calls", "refresh"),
                            ("refresh_floor", "floor"), ("refresh_ratio", "ratio"), ("apply_calls", "apply"),
                            ("apply_floor", "floor"), ("apply_ratio", "ratio"), ("apply_reads", "polls"),
                            ("status", "status")]))
    if "wall" in results:
        parts.append(table("Wall time against the HTTP fake (50 ms latency, documented per-action limits; "
                           "floor = calls / limit)", results["wall"],
                           [("G", "G"), ("I", "I"), ("refresh_seconds", "refresh s"), ("refresh_floor", "floor s"),
                            ("refresh_ratio", "ratio"), ("apply_seconds", "apply s"), ("apply_floor", "floor s"),
                            ("apply_ratio", "ratio"), ("throttled", "429s"), ("status", "status")]))
    if "local" in results:
        parts.append(table("Local cost, sgplan plan --cloud file: (seconds; fresh process each; targets at "
                           "G=2000 R=50 I=5000: <= 3 s, <= 400 MB)", results["local"],
                           [("size", "size"), ("G", "G"), ("R", "R"), ("I", "I"), ("parse", "parse"),
                            ("evaluate", "eval"), ("read", "read"), ("diff", "diff"), ("analysis", "analysis"),
                            ("render", "render"), ("wall", "total"), ("peak_rss_mb", "RSS MB"),
                            ("status", "status")]))
    for name in ("parser", "import", "contracts"):
        if name in results:
            item = results[name]
            parts.append(f"{name}:\n" + (item.get("output") or item.get("status") or json.dumps(item)))
    if "fmt" in results:
        f = results["fmt"]
        rows = [{"what": k, **f[k]} for k in ("fmt_check", "fmt_check_lexing", "plan_cold") if isinstance(f.get(k), dict)]
        parts.append(table(f"fmt --check vs a cold plan, G={f.get('G')} R={f.get('R')} I={f.get('I')} (target: fmt "
                           f"<= cold plan, <= 600 MB; fmt/plan = {f.get('fmt_over_cold_plan')})", rows,
                           [("what", "what"), ("wall", "wall s"), ("peak_rss_mb", "RSS MB"), ("status", "status")]))
    if "import_http" in results:
        m = results["import_http"]
        parts.append(table(f"import reads vs plan's refresh over the HTTP fake, G={m.get('G')} R={m.get('R')} "
                           f"I={m.get('I')} (target: import <= 1.2x refresh)", [m],
                           [("refresh_seconds", "refresh s"), ("import_seconds", "import s"),
                            ("import_sequential_seconds", "one-at-a-time s"), ("import_over_refresh", "ratio"),
                            ("status", "status")]))
    if "goals" in results:
        from benchmarks.bench_goals import goals_table

        g = results["goals"]
        parts.append(table(f"Issue 18 goals (whole commands, fresh process each; load {g.get('load_average_start')} "
                           f"-> {g.get('load_average_end')})", goals_table(g, results),
                           [("figure", "figure"), ("measured", "measured"), ("target", "target"),
                            ("ratio", "ratio"), ("met", "met")]))
    if results.get("scaling"):
        parts.append(growth_table(results["scaling"]))
    return "\n\n".join(parts)


def ratio_ok(value: float | None, target: float) -> bool:
    return value is not None and not math.isnan(value) and value <= target
