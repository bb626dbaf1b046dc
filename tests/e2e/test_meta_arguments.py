"""for_each / count end to end (issue 14 "Meta-arguments", DESIGN §2): plan → apply → re-plan
empty on the embedded fake; removing one key deletes only that group; a saved plan of an
expanded configuration applies (it is re-derived exactly, so expansion is deterministic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import run_cli

STATE = {"Region": "ap-guangzhou", "SecurityGroups": [],
         "Instances": [{"InstanceId": "ins-aaaa1111", "SecurityGroupIds": []},
                       {"InstanceId": "ins-bbbb2222", "SecurityGroupIds": []}]}


def config(tiers: dict[str, str], replicas: int = 2) -> str:
    tier_map = ", ".join(f'{k} = "{v}"' for k, v in tiers.items())
    return f"""sgplan {{
  stack  = "meta"
  region = "ap-guangzhou"
}}
security_group "tier" {{
  for_each    = {{ {tier_map} }}
  description = "tier ${{each.key}}"
  ingress {{
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = each.value
    cidr_block = "0.0.0.0/0"
  }}
}}
security_group "replica" {{
  count = {replicas}
  name  = "replica-${{count.index}}"
}}
binding "per_instance" {{
  for_each        = {{ "ins-aaaa1111" = "web", "ins-bbbb2222" = "web" }}
  instance_ids    = [each.key]
  security_groups = [security_group.tier[each.value].id, security_group.replica[0].id]
}}
"""


def groups(state: Path) -> dict[str, dict]:
    """Live groups by their sgplan-address tag."""
    data = json.loads(state.read_text())
    return {next(t["Value"] for t in g["TagSet"] if t["Key"] == "sgplan-address"): g for g in data["SecurityGroups"]}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "cfg"
    directory.mkdir()
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    return directory, state


def test_for_each_and_count_plan_apply_replan_empty(capsys: pytest.CaptureFixture, setup: tuple[Path, Path]) -> None:
    directory, state = setup
    (directory / "main.sg.hcl").write_text(config({"web": "80", "api": "8080"}))
    cloud = f"file:{state}"
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    assert plan.code == 0, plan.err
    addresses = [c["address"] for c in plan.json()["resource_changes"] if c["type"] == "security_group"]
    assert addresses == ['security_group.tier["api"]', 'security_group.tier["web"]',
                         "security_group.replica[0]", "security_group.replica[1]"]
    first = plan.json()["resource_changes"][0]
    assert (first["name"], first["index"]) == ("tier", "api")
    text = run_cli(capsys, "plan", directory, "--cloud", cloud)
    assert '# security_group.tier["api"] will be created' in text.out
    applied = run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve")
    assert applied.code == 0, applied.err
    live = groups(state)
    assert sorted(live) == sorted(addresses)
    assert live['security_group.tier["api"]']["SecurityGroupPolicySet"]["Ingress"][0]["Port"] == "8080"
    instances = {i["InstanceId"]: i["SecurityGroupIds"] for i in json.loads(state.read_text())["Instances"]}
    web, replica0 = live['security_group.tier["web"]']["SecurityGroupId"], live["security_group.replica[0]"]["SecurityGroupId"]
    assert instances == {"ins-aaaa1111": [web, replica0], "ins-bbbb2222": [web, replica0]}
    again = run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out


def test_removing_one_key_deletes_only_that_group(capsys: pytest.CaptureFixture, setup: tuple[Path, Path]) -> None:
    directory, state = setup
    cloud = f"file:{state}"
    (directory / "main.sg.hcl").write_text(config({"web": "80", "api": "8080"}, replicas=2))
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    before = {a: g["SecurityGroupId"] for a, g in groups(state).items()}
    (directory / "main.sg.hcl").write_text(config({"web": "80"}, replicas=1))
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    actions = {c["address"]: c["change"]["actions"] for c in plan.json()["resource_changes"]
               if c["type"] == "security_group"}
    assert actions == {'security_group.tier["web"]': ["no-op"], "security_group.replica[0]": ["no-op"],
                       'security_group.tier["api"]': ["delete"], "security_group.replica[1]": ["delete"]}
    applied = run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve", "--allow-destroy")
    assert applied.code == 0, applied.err
    after = {a: g["SecurityGroupId"] for a, g in groups(state).items()}
    assert after == {a: before[a] for a in ('security_group.tier["web"]', "security_group.replica[0]")}
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode").code == 0


def test_saved_plan_of_an_expanded_configuration_applies(capsys: pytest.CaptureFixture, setup: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    directory, state = setup
    cloud = f"file:{state}"
    (directory / "main.sg.hcl").write_text(config({"web": "80", "api": "8080"}))
    planfile = tmp_path / "plan.out"
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--out", planfile).code == 0
    applied = run_cli(capsys, "apply", planfile, "--cloud", cloud, "--auto-approve")
    assert applied.code == 0, applied.err
    assert len(groups(state)) == 4
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode").code == 0
