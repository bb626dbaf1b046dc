"""The proof of issue 4: random change sets applied through the CLI and the HTTP fake under faults,
kills and out-of-band edits; every recorded state is checked for transient exposure.

Fast subset by default; `--run-slow` / SGPLAN_RELIABILITY_FULL=1 runs 200 / 50 / 50 and prints the
figures (docs/reliability.md has the last full run).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgplan.fakecloud.server import start_server
from sgplan.plan.planfile import read_plan
from tests.reliability.harness import (
    APPLY_FLAGS,
    Config,
    Tally,
    change_sets,
    cli,
    exposure_violations,
    fake_env,
    initial_state,
    load,
    managed_matches,
    unmanaged_changes,
    write_config,
)

FULL = {"faults": 200, "kills": 50, "oob": 50}
FAST = {"faults": 6, "kills": 2, "oob": 3}
TALLY = Tally()
_COUNTER = iter(range(10**9))


def _count(full: bool, kind: str) -> int:
    return (FULL if full else FAST)[kind]


def _setup(tmp: Path, before: Config) -> Path:
    """A cloud state file holding `before`, applied through the embedded fake (no faults)."""
    state = tmp / "live.json"
    state.write_text(json.dumps(initial_state()))
    code, out, err = cli("apply", write_config(tmp / "before", before), "--cloud", f"file:{state}", *APPLY_FLAGS)
    assert code == 0, out + err
    return state


def _converge(config_dir: Path, url: str, tally: Tally, attempts: int = 5) -> bool:
    for _ in range(attempts):
        code, _out, _err = cli("apply", config_dir, "--cloud", url, *APPLY_FLAGS)
        tally.applies += 1
        if code == 0:
            code, out, err = cli("plan", config_dir, "--cloud", url, "--detailed-exitcode")
            if code == 0:
                return True
    return False


def _check_end(tally: Tally, before_state: dict, recorded: list, state_path: Path, after: Config,
               announced: bool = False) -> None:
    final = load(state_path)
    bad = exposure_violations(before_state, final, recorded)
    if announced:
        tally.announced_states += len(bad)  # the plan said so and apply ran with --allow-transient-exposure
    else:
        tally.violations += len(bad)
        tally.notes += bad[:3]
    problems = managed_matches(final, after)
    tally.lost_or_duplicated += bool(problems)
    tally.notes += problems[:3]
    touched = unmanaged_changes(before_state, final)
    tally.unmanaged_touched += bool(touched)
    tally.notes += touched


def run_with_faults(tmp: Path, before: Config, after: Config, seed: int, tally: Tally) -> None:
    state = _setup(tmp, before)
    start = load(state)
    recorded: list = []
    handle = start_server(state, fault_rate=0.1, seed=seed, record=recorded)
    try:
        after_dir = write_config(tmp / "after", after)
        code, out, err = cli("plan", after_dir, "--cloud", handle.url, "--out", tmp / "plan.json")
        assert code == 0, out + err
        announced = bool(read_plan(tmp / "plan.json").transient_exposure)
        tally.unsafe_plans += announced
        tally.runs += 1
        tally.converged += _converge(after_dir, handle.url, tally)
    finally:
        handle.stop()
    _check_end(tally, start, recorded, state, after, announced)


def run_killed(tmp: Path, before: Config, after: Config, rng: random.Random, tally: Tally) -> None:
    state = _setup(tmp, before)
    start = load(state)
    recorded: list = []
    handle = start_server(state, seed=rng.randrange(10**6), record=recorded, latency_ms=40)
    try:
        after_dir = write_config(tmp / "after", after)
        code, out, err = cli("plan", after_dir, "--cloud", handle.url, "--out", tmp / "plan.json")
        assert code == 0, out + err
        first = read_plan(tmp / "plan.json")
        announced = bool(first.transient_exposure)
        tally.unsafe_plans += announced
        planned = {c.address for c in first.resource_changes if c.is_change}
        proc = subprocess.Popen([sys.executable, "-m", "sgplan", "apply", str(after_dir), "--cloud", handle.url, *APPLY_FLAGS],
                                env=fake_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 1.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            tally.killed += 1
        proc.wait(timeout=60)
        code, out, err = cli("plan", after_dir, "--cloud", handle.url, "--out", tmp / "replan.json")
        assert code == 0, out + err
        remaining = {c.address for c in read_plan(tmp / "replan.json").resource_changes if c.is_change}
        extra = remaining - planned
        tally.replan_extra_work += bool(extra)
        tally.notes += [f"re-plan adds {sorted(extra)}"] if extra else []
        tally.runs += 1
        ok = _converge(after_dir, handle.url, tally)
        tally.converged += ok
        tally.killed_resumed += ok
    finally:
        handle.stop()
    _check_end(tally, start, recorded, state, after, announced)


def run_out_of_band(tmp: Path, before: Config, after: Config, tally: Tally) -> None:
    state = _setup(tmp, before)
    handle = start_server(state)
    try:
        after_dir = write_config(tmp / "after", after)
        code, out, err = cli("plan", after_dir, "--cloud", handle.url, "--out", tmp / "plan.json")
        assert code == 0, out + err
        plan = read_plan(tmp / "plan.json")
        engine = handle.engine
        marker = {"Protocol": "TCP", "Port": "6553", "CidrBlock": "192.0.2.0/24", "Action": "ACCEPT", "PolicyDescription": "oob"}
        if plan.fingerprint.groups:
            group_id, version = plan.fingerprint.groups[0]
            engine.handle("vpc", "CreateSecurityGroupPolicies", {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {"Version": str(version), "Ingress": [marker]}})
            still_there = lambda s: any(p.get("Port") == "6553" for g in s["SecurityGroups"] if g["SecurityGroupId"] == group_id for p in g["SecurityGroupPolicySet"]["Ingress"])  # noqa: E731
        elif plan.fingerprint.instances:
            instance_id, groups = plan.fingerprint.instances[0]
            moved = ["sg-ext00001"] if list(groups) != ["sg-ext00001"] else []
            engine.handle("cvm", "ModifyInstancesAttribute", {"InstanceIds": [instance_id], "SecurityGroups": moved})
            still_there = lambda s: any(i["SecurityGroupIds"] == moved for i in s["Instances"] if i["InstanceId"] == instance_id)  # noqa: E731
        else:
            return  # nothing to touch: no changes planned
        handle.save()
        tally.oob_injected += 1
        code, out, err = cli("apply", tmp / "plan.json", "--cloud", handle.url, *APPLY_FLAGS)
        tally.oob_detected += code == 1 and "stale" in err
        handle.save()
        tally.oob_clobbered += not still_there(load(state))
    finally:
        handle.stop()


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\nreliability: {TALLY.line()}")
    for note in TALLY.notes[:20]:
        print(f"  {note}")


HYPO = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)


def test_change_sets_converge_under_faults(tmp_path_factory: pytest.TempPathFactory, full_run: bool) -> None:
    @settings(max_examples=_count(full_run, "faults"), **HYPO)
    @given(change=change_sets, seed=st.integers(0, 10**6))
    def one(change: tuple[Config, Config], seed: int) -> None:
        run_with_faults(tmp_path_factory.mktemp(f"f{next(_COUNTER)}"), change[0], change[1], seed, TALLY)

    one()
    assert TALLY.converged == TALLY.runs, TALLY.line()
    assert TALLY.violations == TALLY.lost_or_duplicated == TALLY.unmanaged_touched == 0, (TALLY.line(), TALLY.notes)


def test_killed_applies_resume(tmp_path_factory: pytest.TempPathFactory, full_run: bool) -> None:
    before_runs = TALLY.runs

    @settings(max_examples=_count(full_run, "kills"), **HYPO)
    @given(change=change_sets, seed=st.integers(0, 10**6))
    def one(change: tuple[Config, Config], seed: int) -> None:
        run_killed(tmp_path_factory.mktemp(f"k{next(_COUNTER)}"), change[0], change[1], random.Random(seed), TALLY)

    one()
    assert TALLY.runs > before_runs
    assert TALLY.converged == TALLY.runs and TALLY.replan_extra_work == 0, (TALLY.line(), TALLY.notes)
    assert TALLY.violations == TALLY.lost_or_duplicated == TALLY.unmanaged_touched == 0, (TALLY.line(), TALLY.notes)


def test_out_of_band_edits_are_detected(tmp_path_factory: pytest.TempPathFactory, full_run: bool) -> None:
    @settings(max_examples=_count(full_run, "oob"), **HYPO)
    @given(change=change_sets)
    def one(change: tuple[Config, Config]) -> None:
        run_out_of_band(tmp_path_factory.mktemp(f"o{next(_COUNTER)}"), change[0], change[1], TALLY)

    one()
    assert TALLY.oob_detected == TALLY.oob_injected and TALLY.oob_clobbered == 0, TALLY.line()
