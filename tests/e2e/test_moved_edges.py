"""`moved` edge cases end to end (issue 14, DESIGN §3), through the CLI on the embedded fake:

- both ends exist live → `file:line: moved: …`, exit 1, nothing changed (Terraform refuses it);
- chained moves (`a → b`, `b → c`) and a for_each instance moved into `module.m["k"]`: one
  guarded ModifyResourceTags, the group's id, rules and Version kept;
- the plan says so as Terraform does: `previous_address` in the JSON resource change,
  `# a has moved to b` in the text (and so in the markdown diff), `(moved from a)` when the
  moved group changes as well.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import run_cli

STATE = {"Region": "ap-guangzhou", "SecurityGroups": [],
         "Instances": [{"InstanceId": "ins-aaaa1111", "SecurityGroupIds": []}]}
HEAD = 'sgplan {\n  stack  = "mv"\n  region = "ap-guangzhou"\n}\n'
RULE = ('  ingress {\n    action     = "ACCEPT"\n    protocol   = "TCP"\n    port       = "443"\n'
        '    cidr_block = "0.0.0.0/0"\n  }\n')


def group(label: str, extra: str = "") -> str:
    return f'security_group "{label}" {{\n  name = "web"\n{extra}{RULE}}}\n'


def moved(source: str, target: str) -> str:
    return f"moved {{\n  from = {source}\n  to   = {target}\n}}\n"


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, Path, str]:
    directory = tmp_path / "cfg"
    directory.mkdir()
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    return directory, state, f"file:{state}"


def live_groups(state: Path) -> dict[str, dict]:
    data = json.loads(state.read_text())
    return {next(t["Value"] for t in g["TagSet"] if t["Key"] == "sgplan-address"): g for g in data["SecurityGroups"]}


def operations(capsys: pytest.CaptureFixture, directory: Path, cloud: str, planfile: Path) -> list[tuple[str, str]]:
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--out", planfile)
    assert plan.code == 0, plan.err
    return [(o["service"], o["action"]) for o in json.loads(planfile.read_text())["operations"]]


def test_moved_when_both_addresses_exist_live_is_an_error(capsys: pytest.CaptureFixture, env) -> None:
    directory, state, cloud = env
    (directory / "main.sg.hcl").write_text(HEAD + group("a") + group("b"))
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    before = state.read_text()
    # a's block removed, a moved block a → b: but b has its own group already.
    (directory / "main.sg.hcl").write_text(HEAD + group("b") + moved("security_group.a", "security_group.b"))
    line = (HEAD + group("b")).count("\n") + 2  # the `from` line
    for command in (("plan",), ("apply", "--auto-approve", "--allow-destroy")):
        result = run_cli(capsys, *command, directory, "--cloud", cloud)
        assert result.code == 1, result.out + result.err
        errors = [e for e in result.err.splitlines() if "moved:" in e]
        assert len(errors) == 1, result.err
        assert errors[0].startswith(f"{directory / 'main.sg.hcl'}:{line}: moved: security_group.a (sg-")
        assert "and security_group.b (sg-" in errors[0] and "both exist" in errors[0]
        assert "Traceback" not in result.err
        assert state.read_text() == before  # no change at all


def test_chained_moves_keep_the_group_with_one_tag_call(capsys: pytest.CaptureFixture, env, tmp_path: Path) -> None:
    directory, state, cloud = env
    (directory / "main.sg.hcl").write_text(HEAD + group("a"))
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    [before] = live_groups(state).values()
    (directory / "main.sg.hcl").write_text(HEAD + group("c") + moved("security_group.a", "security_group.b")
                                           + moved("security_group.b", "security_group.c"))
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    assert plan.code == 0, plan.err
    [change] = plan.json()["resource_changes"]
    assert (change["address"], change["previous_address"], change["change"]["actions"]) == (
        "security_group.c", "security_group.a", ["update"])
    assert list(change)[:2] == ["address", "previous_address"]  # where Terraform's jsonplan puts it
    text = run_cli(capsys, "plan", directory, "--cloud", cloud)
    assert f"  # security_group.a has moved to security_group.c ({before['SecurityGroupId']})" in text.out
    assert "will be updated in place" not in text.out
    markdown = run_cli(capsys, "plan", directory, "--cloud", cloud, "--markdown")
    assert "# security_group.a has moved to security_group.c" in markdown.out
    assert operations(capsys, directory, cloud, tmp_path / "chain.plan") == [("tag", "ModifyResourceTags")]
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    [after] = live_groups(state).items()
    assert after[0] == "security_group.c"
    assert after[1]["SecurityGroupId"] == before["SecurityGroupId"]
    assert after[1]["SecurityGroupPolicySet"] == before["SecurityGroupPolicySet"]  # rules and Version kept
    again = run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode", "--json")
    assert again.code == 0, again.out
    assert all("previous_address" not in c for c in again.json()["resource_changes"])


def test_for_each_instance_moved_into_an_expanded_module(capsys: pytest.CaptureFixture, env, tmp_path: Path) -> None:
    directory, state, cloud = env
    (directory / "main.sg.hcl").write_text(
        HEAD + group("tier", '  for_each = toset(["web", "api"])\n').replace('name = "web"', 'name = each.key'))
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    before = live_groups(state)
    assert sorted(before) == ['security_group.tier["api"]', 'security_group.tier["web"]']
    module = directory / "modules" / "web"
    module.mkdir(parents=True)
    (module / "main.sg.hcl").write_text('variable "name" {}\nsecurity_group "this" {\n  name = var.name\n'
                                        '  description = "moved"\n' + RULE + "}\n")
    (directory / "main.sg.hcl").write_text(
        HEAD + group("tier", '  for_each = toset(["api"])\n').replace('name = "web"', 'name = each.key')
        + 'module "site" {\n  for_each = toset(["web"])\n  source = "./modules/web"\n  name = each.key\n}\n'
        + moved('security_group.tier["web"]', 'module.site["web"].security_group.this'))
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    assert plan.code == 0, plan.err
    changes = {c["address"]: c for c in plan.json()["resource_changes"]}
    target = changes['module.site["web"].security_group.this']
    assert target["previous_address"] == 'security_group.tier["web"]'
    assert target["module_address"] == 'module.site["web"]'
    assert target["change"]["actions"] == ["update"]  # the description changes as well
    assert changes['security_group.tier["api"]']["change"]["actions"] == ["no-op"]
    assert "previous_address" not in changes['security_group.tier["api"]']
    text = run_cli(capsys, "plan", directory, "--cloud", cloud)
    assert ('  # module.site["web"].security_group.this (' + before['security_group.tier["web"]']["SecurityGroupId"]
            + ') will be updated in place\n  # (moved from security_group.tier["web"])') in text.out
    assert text.out.count('moved from security_group.tier["web"]') == 1  # said once, as Terraform does
    ops = operations(capsys, directory, cloud, tmp_path / "into.plan")
    assert ops == [("vpc", "ModifySecurityGroupAttribute"), ("tag", "ModifyResourceTags")]  # no delete, no create
    applied = run_cli(capsys, "apply", tmp_path / "into.plan", "--cloud", cloud, "--auto-approve")
    assert applied.code == 0, applied.err
    after = live_groups(state)
    assert sorted(after) == ['module.site["web"].security_group.this', 'security_group.tier["api"]']
    moved_group = after['module.site["web"].security_group.this']
    assert moved_group["SecurityGroupId"] == before['security_group.tier["web"]']["SecurityGroupId"]
    assert moved_group["SecurityGroupDesc"] == "moved"
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode").code == 0
