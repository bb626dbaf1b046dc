"""The fault suite of issue 12 §3: answers lost after the change was made, at random points, for
every write action, on random change sets. No group is made twice, nothing is lost, and repeated
applies converge to an empty plan.

- In process: the planner and apply on the fake engine, through a wrapper that makes a write take
  effect and then answers InternalError / drops the connection / times out / garbles the answer
  (or fails before the change with the same answers), and fails reads now and then.
- End to end: the CLI and the real, unmodified SDK against the HTTP fake, whose engine answers
  InternalError after making a change and whose server drops connections after changes.

Fast subset by default (CI); `--run-slow` / SGPLAN_RELIABILITY_FULL=1 runs the full counts and
prints the figures (docs/reliability.md).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgplan.apply import execute
from sgplan.cloud.base import CloudError
from sgplan.fakecloud.engine import Engine
from sgplan.fakecloud.server import start_server
from tests.apply.fake_clients import WRITE_ACTIONS, EngineClient, LostAnswers, random_losses
from tests.reliability.harness import (
    APPLY_FLAGS,
    STACK,
    Config,
    change_sets,
    cli,
    initial_state,
    managed_matches,
    unmanaged_changes,
    write_config,
)

FULL = {"in_process": 400, "http": 25}
FAST = {"in_process": 30, "http": 3}
HYPO = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
_COUNTER = iter(range(10**9))


class Figures:
    def __init__(self) -> None:
        self.runs = 0
        self.converged = 0
        self.first_apply_ok = 0
        self.applies = 0
        self.lost: Counter[str] = Counter()  # per write action
        self.reads_failed = 0
        self.stopped: Counter[str] = Counter()  # why an apply stopped (first words of its first error)
        self.kinds: Counter[str] = Counter()
        self.duplicated = 0
        self.wrong = 0
        self.unmanaged_touched = 0
        self.notes: list[str] = []

    def line(self, label: str) -> str:
        stopped = "; ".join(f"{n}x {why}" for why, n in self.stopped.most_common())
        return (f"{label}: converged {self.converged}/{self.runs}, first apply ok {self.first_apply_ok}, "
                f"applies {self.applies}, duplicated {self.duplicated}, lost-or-wrong {self.wrong}, "
                f"unmanaged-touched {self.unmanaged_touched}; lost write answers {sum(self.lost.values())} "
                f"({', '.join(f'{a} {n}' for a, n in sorted(self.lost.items()))}; "
                f"{', '.join(f'{k} {n}' for k, n in sorted(self.kinds.items()))}), failed reads {self.reads_failed}"
                + (f"; applies stopped by: {stopped}" if stopped else ""))


IN_PROCESS = Figures()
HTTP = Figures()


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    for label, figures in (("lost answers, in process", IN_PROCESS), ("lost answers, HTTP + SDK", HTTP)):
        if figures.runs:
            print(f"\n{figures.line(label)}")
            for note in figures.notes[:10]:
                print(f"  {note}")


def _count(full: bool, kind: str) -> int:
    return (FULL if full else FAST)[kind]


def _managed_counts(state: dict[str, Any]) -> Counter[str]:
    out: Counter[str] = Counter()
    for group in state.get("SecurityGroups", []):
        tags = {t["Key"]: t["Value"] for t in group.get("TagSet") or []}
        if tags.get("sgplan-stack") == STACK:
            out[tags.get("sgplan-address", "")] += 1
    return out


# ---------------------------------------------------------------------------------------------
# In process


def _plan(directory: Path, client: Any):
    from sgplan.cli.workflow import load_workspace, make_plan_for

    ws = load_workspace(directory, [], cloud_flag="file:unused.json")
    plan, _live = make_plan_for(ws, client)
    return plan


def _apply(directory: Path, client: Any, *, parallelism: int, rng: random.Random) -> bool:
    plan = _plan(directory, client)
    if not plan.has_changes:
        return True
    return execute(plan, client, sleep=lambda s: None, rng=rng, parallelism=parallelism).ok


def run_in_process(tmp: Path, before: Config, after: Config, seed: int, figures: Figures) -> None:
    rng = random.Random(seed)
    client = EngineClient(initial_state())
    assert _apply(write_config(tmp / "before", before), client, parallelism=1, rng=rng)
    start = json.loads(json.dumps(client.engine.state))
    after_dir = write_config(tmp / "after", after)
    rate = rng.choice((0.2, 0.4, 0.7))
    losses = LostAnswers(client, lambda *_: None)
    figures.runs += 1
    converged = False
    for attempt in range(4):
        plan = _plan(after_dir, client)  # the planner's reads are not failed: read_live has no retries
        if not plan.has_changes:
            converged = True
            break
        losses.pick = random_losses(rng, rate, read_rate=0.1)
        result = execute(plan, losses, sleep=lambda s: None, rng=rng, parallelism=rng.choice((1, 4)))
        losses.pick = lambda *_: None
        figures.applies += 1
        figures.first_apply_ok += result.ok and attempt == 0
        if not result.ok:
            figures.stopped[_why(result.errors[0])] += 1
        if any(n > 1 for n in _managed_counts(client.engine.state).values()):
            break
    for action, kind in losses.lost:
        if action in WRITE_ACTIONS:
            figures.lost[action] += 1
            figures.kinds[kind] += 1
        else:
            figures.reads_failed += 1
    _check_end(figures, start, client.engine.state, after, losses.created, converged)


def _why(error: str) -> str:
    """"create …: RequestTimeout: …" → "RequestTimeout on create"."""
    summary, _, rest = error.partition(": ")
    return f"{rest.partition(':')[0]} on {summary.split(' ')[0]}"


def _check_end(figures: Figures, start: dict, final: dict, after: Config, created: dict[str, int],
               converged: bool) -> None:
    figures.converged += converged
    twice = {a: n for a, n in created.items() if n > 1} or {a: n for a, n in _managed_counts(final).items() if n > 1}
    figures.duplicated += bool(twice)
    figures.notes += [f"made twice: {twice}"] if twice else []
    problems = managed_matches(final, after) if converged else ["did not converge"]
    figures.wrong += bool(problems)
    figures.notes += problems[:3]
    touched = unmanaged_changes(start, final)
    figures.unmanaged_touched += bool(touched)
    figures.notes += touched


def test_lost_answers_in_process(tmp_path_factory: pytest.TempPathFactory, full_run: bool) -> None:
    @settings(max_examples=_count(full_run, "in_process"), **HYPO)
    @given(change=change_sets, seed=st.integers(0, 10**6))
    def one(change: tuple[Config, Config], seed: int) -> None:
        run_in_process(tmp_path_factory.mktemp(f"l{next(_COUNTER)}"), change[0], change[1], seed, IN_PROCESS)

    one()
    f = IN_PROCESS
    assert f.converged == f.runs and f.duplicated == f.wrong == f.unmanaged_touched == 0, (f.line("in process"), f.notes)
    # Every write action the change sets produce had answers lost.
    assert set(f.lost) >= {"CreateSecurityGroupWithPolicies", "CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies",
                           "ModifyInstancesAttribute", "DeleteSecurityGroup"}, f.lost


# ---------------------------------------------------------------------------------------------
# End to end: CLI → unmodified SDK → HTTP fake


class LyingEngine:
    """The fake engine, but a write it has made is answered with InternalError (chance `rate`).

    Counts the creates that took effect per sgplan-address tag. Everything else is the engine's.
    """

    rate = 0.0
    rng = random.Random(0)

    def __init__(self, state: dict[str, Any], *, bind_delay: float, seed: int | None) -> None:
        object.__setattr__(self, "inner", Engine(state, clock=time.time, bind_delay=bind_delay, rng_seed=seed))
        object.__setattr__(self, "created", Counter())
        object.__setattr__(self, "lost", Counter())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.inner, name, value)

    def handle(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = self.inner.handle(service, action, params)
        if action == "CreateSecurityGroupWithPolicies":
            tags = {t.get("Key"): t.get("Value") for t in params.get("Tags") or []}
            self.created[str(tags.get("sgplan-address"))] += 1
        if action in WRITE_ACTIONS and self.rng.random() < self.rate:
            self.lost[action] += 1
            raise CloudError("InternalError", "the change was made, the answer is lost")
        return answer


def _converge_http(config_dir: Path, url: str, figures: Figures, attempts: int = 4) -> tuple[bool, bool]:
    first_ok = False
    for attempt in range(attempts):
        code, _out, _err = cli("apply", config_dir, "--cloud", url, *APPLY_FLAGS)
        figures.applies += 1
        first_ok |= code == 0 and attempt == 0
        if code == 0:
            code, _out, _err = cli("plan", config_dir, "--cloud", url, "--detailed-exitcode")
            if code == 0:
                return True, first_ok
    return False, first_ok


def run_http(tmp: Path, before: Config, after: Config, seed: int, figures: Figures) -> None:
    state = tmp / "live.json"
    state.write_text(json.dumps(initial_state()))
    code, out, err = cli("apply", write_config(tmp / "before", before), "--cloud", f"file:{state}", *APPLY_FLAGS)
    assert code == 0, out + err
    start = json.loads(state.read_text())
    LyingEngine.rng = random.Random(seed)
    LyingEngine.rate = 0.3
    handle = start_server(state, fault_rate=0.1, seed=seed, fault_kinds=("drop-after", "drop-before", "internal-error"),
                          engine_factory=LyingEngine)
    try:
        figures.runs += 1
        converged, first_ok = _converge_http(write_config(tmp / "after", after), handle.url, figures)
        figures.first_apply_ok += first_ok
        engine = handle.engine
        final = json.loads(json.dumps(engine.inner.state))
        for action, n in engine.lost.items():
            figures.lost[action] += n
        figures.kinds["internal-error-after"] += sum(engine.lost.values())
        figures.kinds["server faults"] += handle.stats["faults"]
        _check_end(figures, start, final, after, dict(engine.created), converged)
    finally:
        LyingEngine.rate = 0.0
        handle.stop()


def test_lost_answers_through_the_sdk(tmp_path_factory: pytest.TempPathFactory, full_run: bool) -> None:
    @settings(max_examples=_count(full_run, "http"), **HYPO)
    @given(change=change_sets, seed=st.integers(0, 10**6))
    def one(change: tuple[Config, Config], seed: int) -> None:
        run_http(tmp_path_factory.mktemp(f"h{next(_COUNTER)}"), change[0], change[1], seed, HTTP)

    one()
    f = HTTP
    assert f.converged == f.runs and f.duplicated == f.wrong == f.unmanaged_touched == 0, (f.line("http"), f.notes)


def test_a_create_answered_with_internal_error_makes_one_group(tmp_path: Path) -> None:
    # The finding of issue 12 §3: the client re-sent the create 6 times, "Apply complete!".
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "main.sg.hcl").write_text(f'sgplan {{\n  region = "ap-guangzhou"\n  stack = "{STACK}"\n}}\n\n'
                                        'security_group "web" {\n  name = "web"\n}\n')
    LyingEngine.rng = random.Random(0)
    LyingEngine.rate = 1.0
    handle = start_server(None, state={"Region": "ap-guangzhou"}, engine_factory=LyingEngine)
    try:
        code, out, err = cli("apply", config, "--cloud", handle.url, "--auto-approve")
        LyingEngine.rate = 0.0
        plan_code, plan_out, _ = cli("plan", config, "--cloud", handle.url, "--detailed-exitcode")
        groups = handle.engine.inner.state["SecurityGroups"]
    finally:
        LyingEngine.rate = 0.0
        handle.stop()
    assert code == 0 and "Apply complete!" in out, err
    assert len(groups) == 1 and handle.engine.created == {"security_group.web": 1}
    assert handle.engine.lost["CreateSecurityGroupWithPolicies"] == 1
    assert plan_code == 0, plan_out
