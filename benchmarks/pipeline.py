"""`sgplan plan` split into timed stages, through the same functions the CLI workflow calls
(parse, evaluate, read, diff, analysis, render), plus a timed apply of the resulting plan.
"""

from __future__ import annotations

import gc
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from sgplan.cloud.base import ApiClient
from sgplan.model import CloudState

STAGES = ("parse", "evaluate", "read", "diff", "analysis", "render")


@dataclass
class PlanRun:
    """One plan: the plan value, the live state it was made against, seconds per stage and
    the API calls of the read stage by action."""

    plan: Any
    live: CloudState
    seconds: dict[str, float] = field(default_factory=dict)
    read_actions: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start


def _actions(client: ApiClient) -> dict[str, int]:
    return dict(getattr(client, "actions", {}) or {})


def load(config_dir: Path) -> tuple[Any, Any, dict[str, float]]:
    """Parse and evaluate (ids unknown) as `load_workspace` does; returns (workspace, diags, seconds)."""
    from sgplan.cli.workflow import Workspace
    from sgplan.config import load_configuration
    from sgplan.diagnostics import has_errors

    seconds: dict[str, float] = {}
    with _timed(seconds, "parse"):
        cfg, diags = load_configuration(config_dir, var_inputs=[], env={})
        gc.freeze()  # as load_workspace does: the configuration lives for the whole run
    if cfg is None or has_errors(diags):
        raise RuntimeError(f"the benchmark configuration does not load: {[str(d) for d in diags][:3]}")
    with _timed(seconds, "evaluate"):
        desired, more = cfg.evaluate({})
    if desired is None or has_errors(more):
        raise RuntimeError(f"the benchmark configuration does not evaluate: {[str(d) for d in more][:3]}")
    ws = Workspace(config_dir, cfg, desired, "bench", desired.settings.region or "ap-guangzhou")
    return ws, list(diags) + list(more), seconds


def plan(ws: Any, client: ApiClient, *, cloud_spec: str, seconds: dict[str, float] | None = None,
         render: bool = True, analysis: bool = True) -> PlanRun:
    """Read, evaluate with ids, diff, analyse and render, as `make_plan_for` + `sgplan plan` do.

    `analysis=False` skips the exposure and findings annotation (apply does not need it)."""
    from sgplan.analysis.planned import annotate_plan
    from sgplan.cli.workflow import evaluate_against, read_live_for
    from sgplan.diagnostics import has_errors
    from sgplan.plan import make_plan

    seconds = dict(seconds or {})
    before = _actions(client)
    with _timed(seconds, "read"):
        live = read_live_for(ws, client)
    after = _actions(client)
    read_actions = {a: n - before.get(a, 0) for a, n in after.items() if n - before.get(a, 0)}
    with _timed(seconds, "evaluate"):
        desired = evaluate_against(ws, live)
    with _timed(seconds, "diff"):
        result, diags = make_plan(desired, live, cloud=cloud_spec, region=ws.region or live.region)
    if result is None or has_errors(diags):
        raise RuntimeError(f"the benchmark plan failed: {[str(d) for d in diags][:3]}")
    if analysis:
        with _timed(seconds, "analysis"):
            bound = tuple(dict.fromkeys(b.instance_id for b in desired.bindings))
            result = annotate_plan(result, live, desired.groups, desired.expects, bound)
    if render:
        from sgplan.render.plan_json import plan_to_json
        from sgplan.render.text import render_plan

        with _timed(seconds, "render"):
            render_plan(result, color=False)
            json.dumps(plan_to_json(result), separators=(",", ":"))  # as `sgplan plan --json`
    return PlanRun(result, live, seconds, read_actions)


def apply(plan_value: Any, client: ApiClient, *, parallelism: int = 8) -> tuple[float, dict[str, int], list[str]]:
    """Execute a plan as `sgplan apply --auto-approve` does; returns (seconds, calls by action, errors)."""
    from sgplan.apply import execute

    thread_safe = bool(getattr(client, "thread_safe", False)) or type(client).__name__ == "TencentClient"
    before = _actions(client)
    start = time.perf_counter()
    result = execute(plan_value, client, parallelism=parallelism, thread_safe=thread_safe)
    elapsed = time.perf_counter() - start
    after = _actions(client)
    calls = {a: n - before.get(a, 0) for a, n in after.items() if n - before.get(a, 0)}
    return elapsed, calls, list(result.errors)
