"""One measurement per fresh process: `python -m benchmarks.measure '<json spec>'` prints one JSON
line with the figures. Kinds: `local` (plan on --cloud file:, by stage, with peak RSS), `cloud`
(API calls of a refresh and an apply in-process, then optionally wall time against the HTTP
fake), `fmt_check` (`sgplan fmt --check`, wall and peak RSS), `import_http` (import's reads vs
plan's refresh over the HTTP fake) and `serve` (the HTTP fake at the documented per-action rate
limits, for `cloud` and `import_http`).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import pipeline

LATENCY_MS = 50.0


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _file_client(state_path: Path, *, for_apply: bool = False) -> Any:
    from benchmarks.counting import CountingClient
    from sgplan.fakecloud.filecloud import FileCloud

    return CountingClient(FileCloud(state_path, for_apply=for_apply))


def local(spec: dict[str, Any]) -> dict[str, Any]:
    """`sgplan plan` on `--cloud file:` by stage; the estate was written by the parent."""
    directory = Path(spec["dir"])
    state = directory / "live.json"
    start = time.perf_counter()
    ws, _diags, seconds = pipeline.load(directory / "config")
    run = pipeline.plan(ws, _file_client(state), cloud_spec=f"file:{state}", seconds=seconds)
    wall = time.perf_counter() - start
    return {"seconds": {k: round(v, 3) for k, v in run.seconds.items()}, "wall": round(wall, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1), "summary": dict(run.plan.summary)}


def _serve(spec: dict[str, Any]) -> None:
    """Run the HTTP fake until stdin closes; print its URL first."""
    from sgplan.cloud.ratelimit import DEFAULT_RATE_LIMITS, UNKNOWN_ACTION_RATE
    from sgplan.cloud.snapshot import load_state
    from sgplan.fakecloud.server import start_server

    limits = {**DEFAULT_RATE_LIMITS, "*": UNKNOWN_ACTION_RATE}
    # In memory only: the server would otherwise rewrite the whole state file after every change
    # (about a second per write at G=2000), which measures the fake's disk, not sgplan.
    handle = start_server(None, state=load_state(Path(spec["state"])),
                          latency_ms=float(spec.get("latency_ms", LATENCY_MS)), rate_limit=limits, quiet=True)
    print(json.dumps({"url": handle.url}), flush=True)
    sys.stdin.read()
    stats = handle.stats
    handle.stop()
    print(json.dumps({"stats": stats}), flush=True)


def _sdk_client(url: str) -> Any:
    from tencentcloud.common import credential

    from sgplan.cloud.tencent import FAKE_SECRET_ID, FAKE_SECRET_KEY, TencentClient

    # Explicit fake credentials: whatever the environment holds never reaches the benchmark.
    return TencentClient("ap-guangzhou", endpoint=url, credential=credential.Credential(FAKE_SECRET_ID, FAKE_SECRET_KEY),
                         on_progress=lambda _calls, _retries: None)


def cloud(spec: dict[str, Any]) -> dict[str, Any]:
    """API calls of a refresh and of an apply (in-process), then, with `http`, the wall time of
    the same refresh and apply through the SDK against the HTTP fake in another process."""
    directory = Path(spec["dir"])
    state = directory / "live.json"
    ws, _diags, seconds = pipeline.load(directory / "config")
    client = _file_client(state, for_apply=True)  # it applies too (a read-only client refuses writes)
    run = pipeline.plan(ws, client, cloud_spec=f"file:{state}", seconds=seconds, render=False,
                         analysis=False)
    client.reset()
    _elapsed, apply_calls, errors = pipeline.apply(run.plan, client)
    out: dict[str, Any] = {"refresh_calls": run.read_actions, "apply_calls": apply_calls,
                           "apply_errors": errors[:3], "plan_seconds": round(run.total, 2),
                           "summary": dict(run.plan.summary)}
    if spec.get("http"):
        out["http"] = _over_http(ws, run.plan, state, float(spec.get("latency_ms", LATENCY_MS)))
    return out


def _over_http(ws: Any, plan_value: Any, state: Path, latency_ms: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        served = Path(tmp, "live.json")
        shutil.copyfile(state, served)
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.measure", json.dumps({"kind": "serve", "state": str(served),
                                                                      "latency_ms": latency_ms})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_child_env())
        try:
            url = json.loads(server.stdout.readline())["url"]
            client = _sdk_client(url)
            from sgplan.cli.workflow import read_live_for

            start = time.perf_counter()
            read_live_for(ws, client)
            refresh = time.perf_counter() - start
            refresh_calls = dict(client.actions)
            refresh_retries = client.retries
            apply_seconds, apply_calls, errors = pipeline.apply(plan_value, client)
            apply_retries = client.retries - refresh_retries
        finally:
            server.stdin.close()
            tail = server.stdout.read()
            server.wait(timeout=30)
    stats = json.loads(tail.strip().splitlines()[-1])["stats"] if tail.strip() else {}
    return {"refresh_seconds": round(refresh, 3), "refresh_calls": refresh_calls, "refresh_retries": refresh_retries,
            "apply_seconds": round(apply_seconds, 3), "apply_calls": apply_calls, "apply_retries": apply_retries,
            "apply_errors": errors[:3], "throttled": stats.get("throttled", 0)}


def fmt_check(spec: dict[str, Any]) -> dict[str, Any]:
    """`sgplan fmt --check` on the estate's configuration: wall time and peak RSS (issue 18);
    `lex_every_file` measures the path without the line-level canonical check (the old one)."""
    from sgplan.hcl import format as formatter
    from sgplan.hcl.format import format_files, targets

    if spec.get("lex_every_file"):  # fmt as before issue 18: the full formatter on every file
        formatter.is_canonical = lambda _text: False  # type: ignore[assignment]
    start = time.perf_counter()
    changed, diags = format_files(targets([Path(spec["dir"]) / "config"]), write=False)
    return {"wall": round(time.perf_counter() - start, 3), "changed": len(changed), "errors": len(diags),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


class _Served:
    """The HTTP fake serving a copy of `state` (in another process) while the block runs."""

    def __init__(self, state: Path, latency_ms: float) -> None:
        self.state, self.latency_ms = state, latency_ms

    def __enter__(self) -> str:
        self._tmp = tempfile.TemporaryDirectory()
        served = Path(self._tmp.name, "live.json")
        shutil.copyfile(self.state, served)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.measure", json.dumps({"kind": "serve", "state": str(served),
                                                                      "latency_ms": self.latency_ms})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_child_env())
        return json.loads(self.server.stdout.readline())["url"]

    def __exit__(self, *_exc: Any) -> None:
        self.server.stdin.close()
        self.server.stdout.read()
        self.server.wait(timeout=30)
        self._tmp.cleanup()


def import_http(spec: dict[str, Any]) -> dict[str, Any]:
    """Import's reads against the HTTP fake vs the refresh of `plan` on the same estate (issue
    18): `refresh` is plan's read_live_for; `import` is `sgplan import --all-unmanaged`'s reads
    (read_for_import) of the same groups with the stack tag removed, so all are unmanaged;
    `import_sequential` is those reads one group at a time, as import did before."""
    from sgplan.cli.import_cmd import read_for_import
    from sgplan.cli.workflow import read_live_for
    from sgplan.cloud import reader

    directory = Path(spec["dir"])
    latency = float(spec.get("latency_ms", LATENCY_MS))
    ws, _diags, _seconds = pipeline.load(directory / "config")
    out: dict[str, Any] = {}
    with _Served(directory / "live.json", latency) as url:
        start = time.perf_counter()
        read_live_for(ws, _sdk_client(url))
        out["refresh_seconds"] = round(time.perf_counter() - start, 3)
    state = json.loads((directory / "live.json").read_text())
    for group in state.get("SecurityGroups", []):
        group["TagSet"] = [t for t in group.get("TagSet", []) if t.get("Key") != "sgplan-stack"]
    with tempfile.TemporaryDirectory() as tmp:
        untagged = Path(tmp, "live.json")
        untagged.write_text(json.dumps(state))
        for label, sequential in (("import_sequential_seconds", True), ("import_seconds", False)):
            with _Served(untagged, latency) as url:
                client = _sdk_client(url)
                if sequential:  # what import did before: the builtin map, one rule set at a time
                    client.map = map  # type: ignore[method-assign]
                start = time.perf_counter()
                live, chosen, _stack = read_for_import(client, [], True)
                out[label] = round(time.perf_counter() - start, 3)
                out["imported_groups"] = len(chosen)
                out[label.replace("seconds", "calls")] = dict(client.actions)
    out["import_over_refresh"] = round(out["import_seconds"] / out["refresh_seconds"], 2)
    return out


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


KINDS = {"local": local, "cloud": cloud, "fmt_check": fmt_check, "import_http": import_http}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    if spec["kind"] == "serve":
        _serve(spec)
        return 0
    result = KINDS[spec["kind"]](spec)
    result.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
