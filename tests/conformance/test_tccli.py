"""Tencent's own CLI (tccli, unmodified) drives every served action against the HTTP fake
(issue 13, "Done when" 2): a second client, written by Tencent, end to end through signing,
the envelope and the fake's answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tccli", reason="tccli is a test dependency (pip install -e .[test])")

from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, start_server  # noqa: E402
from tests.conformance import harness, metadata  # noqa: E402
from tests.conformance.test_examples import CONTRADICTIONS  # noqa: E402

ROOT = Path(__file__).parents[2]

# Requests for actions whose every documented example contradicts the action's text
# (CONTRADICTIONS): a valid request of the same shape instead.
VALID: dict[str, dict[str, Any]] = {
    "vpc.CreateSecurityGroupPolicies": {"SecurityGroupId": harness.BASE_GROUP, "SecurityGroupPolicySet": {
        "Ingress": [{"PolicyIndex": 0, "Protocol": "All", "CidrBlock": "0.0.0.0/0", "Action": "accept",
                     "PolicyDescription": "PolicyDescription1"}]}},
    "vpc.ReplaceSecurityGroupPolicy": {"SecurityGroupId": harness.BASE_GROUP, "SecurityGroupPolicySet": {
        "Version": "2", "Egress": [{"PolicyIndex": 0, "Protocol": "UDP", "Port": "20", "CidrBlock": "61.144.138.34",
                                    "Action": "accept", "PolicyDescription": "demo"}]}},
}


def request_for(service: str, action: str) -> dict[str, Any]:
    key = f"{service}.{action}"
    if key in VALID:
        return VALID[key]
    for n, example in enumerate(metadata.examples(service, action)):
        if (key, n) not in CONTRADICTIONS:
            return harness.adapt(service, action, metadata.example_params(service, action, example))
    raise AssertionError(f"no runnable request for {key}")


def _without_nulls(value: Any) -> Any:
    """tccli prints the SDK's response model, which writes every model field, null when the
    server sent none: drop those (a documented field the fake left out then shows as missing)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.fixture()
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT))  # tccli keeps its config and log under HOME
    return env


def test_tccli_drives_every_served_action(tmp_path: Path, _env: dict[str, str]) -> None:
    actions = list(metadata.served_actions())
    handles, jobs = [], []
    try:
        for n, (service, action) in enumerate(actions):
            params = request_for(service, action)
            (tmp_path / f"params{n}.json").write_text(json.dumps(params))
            handle = start_server(None, state=harness.seed_state(service, action, params))
            handles.append(handle)
            jobs.append({"argv": [service, action, "--secretId", DEFAULT_SECRET_ID, "--secretKey", DEFAULT_SECRET_KEY,
                                  "--region", harness.REGION, "--endpoint", handle.url,
                                  "--cli-input-json", f"file://{tmp_path / f'params{n}.json'}"]})
        (tmp_path / "jobs.json").write_text(json.dumps(jobs))
        run = subprocess.run([sys.executable, "-m", "tests.conformance.tccli_driver", str(tmp_path / "jobs.json")],
                             capture_output=True, text=True, env=_env, cwd=ROOT, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"job"')]
        assert len(results) == len(actions)
        failures = []
        for (service, action), result, handle in zip(actions, results, handles):
            if result["rc"] != 0:
                failures.append(f"{service}.{action}: exit {result['rc']}: {(result['err'] or result['out'])[-300:]}")
                continue
            answer = _without_nulls(json.loads(result["out"]))
            problems = metadata.check_response(service, action, {"RequestId": "printed-without-it", **answer},
                                              nulls_dropped=True)
            failures += [f"{service}.{action}: {p}" for p in problems]
            assert handle.stats["requests"] >= 1
        assert failures == []
    finally:
        for handle in handles:
            handle.stop()
