"""Warnings (issue 14): every warning is on stderr and in the plan output, once each — the
configuration's own (a CIDR with host bits), the planner's (a template over the member quota)
and those noted on the plan after it is made (a deleted group another product still uses).
stdout stays the plan: the JSON plan still parses; a saved plan with warnings still applies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import run_cli

HOST_BITS = 'cidr_block: "10.0.0.1/8" has host bits set'
QUOTA = "address_template.big: 21 members: more than the default quota of 20 per template"
CONFIG = """sgplan {
  stack  = "warn"
  region = "ap-guangzhou"
}
address_template "big" {
  addresses = [for i in range(21) : "10.0.${i}.0/24"]
}
security_group "g" {
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "22"
    cidr_block = "10.0.0.1/8"
  }
}
"""


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, str]:
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "main.sg.hcl").write_text(CONFIG)
    state = tmp_path / "live.json"
    state.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [], "Instances": []}))
    return directory, f"file:{state}"


def test_warnings_are_on_stderr_and_once_in_the_text_plan(capsys: pytest.CaptureFixture, env) -> None:
    directory, cloud = env
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud)
    assert plan.code == 0, plan.err
    for text in (HOST_BITS, "21 members: more than the default quota"):
        assert len([line for line in plan.err.splitlines() if text in line]) == 1, plan.err
        assert len([line for line in plan.out.splitlines() if text in line]) == 1, plan.out
    assert f"{directory / 'main.sg.hcl'}:13: warning: {HOST_BITS}" in plan.err
    assert f"Warning: main.sg.hcl:13: {HOST_BITS}" in plan.out  # relative: the same wherever it is planned
    assert f"Warning: {QUOTA}" in plan.out


def test_warnings_in_markdown_and_json_plans(capsys: pytest.CaptureFixture, env) -> None:
    directory, cloud = env
    markdown = run_cli(capsys, "plan", directory, "--cloud", cloud, "--markdown")
    assert markdown.code == 0, markdown.err
    section = markdown.out.split("### ⚠️ Warnings", 1)[1].split("<details>", 1)[0]
    assert section.count("host bits set") == 1 and section.count("more than the default quota") == 1
    assert markdown.err.count("host bits set") == 1
    data = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    assert data.code == 0, data.err
    assert data.json()["resource_changes"]  # stdout is the JSON plan alone
    assert data.err.count("host bits set") == 1 and data.err.count("more than the default quota") == 1


def test_a_saved_plan_with_warnings_applies(capsys: pytest.CaptureFixture, env, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    directory, cloud = env
    (directory / "main.sg.hcl").write_text(CONFIG.replace("range(21)", "range(2)"))  # the fake keeps the quota
    planfile = tmp_path / "w.plan"
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--out", planfile).code == 0
    assert any("main.sg.hcl:13:" in w for w in json.loads(planfile.read_text())["warnings"])
    monkeypatch.chdir(tmp_path)  # the configuration is now spelled another way: the warnings still compare equal
    applied = run_cli(capsys, "apply", planfile.name, "--cloud", cloud, "--auto-approve")
    assert applied.code == 0, applied.out + applied.err


def test_warnings_noted_after_planning_reach_stderr(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    owned = [{"Key": "sgplan-stack", "Value": "prod"}, {"Key": "sgplan-address", "Value": "security_group.old"}]
    state = tmp_path / "live.json"
    state.write_text(json.dumps({
        "Region": "ap-guangzhou",
        "SecurityGroups": [{"SecurityGroupId": "sg-old00001", "SecurityGroupName": "old", "TagSet": owned}],
        "Instances": [],
        "OtherAssociations": [{"ResourceType": "CLB", "ResourceId": "lb-web00001", "SecurityGroupIds": ["sg-old00001"]}],
    }))
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "main.sg.hcl").write_text('sgplan { stack = "prod" }\nsecurity_group "new" {}\n')
    plan = run_cli(capsys, "plan", directory, "--cloud", f"file:{state}", "--region", "ap-guangzhou")
    assert plan.code == 0, plan.err
    assert [line for line in plan.err.splitlines() if "still used by 1 CLB" in line] == [
        line for line in plan.err.splitlines() if line.startswith("warning: security_group.old: still used by 1 CLB")]
    assert len([line for line in plan.err.splitlines() if "still used by 1 CLB" in line]) == 1
