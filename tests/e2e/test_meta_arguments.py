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


# -- moved (DESIGN §3) ----------------------------------------------------------------------------

RULES = """  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "443"
    cidr_block = "0.0.0.0/0"
  }
"""


def moved_config(address_block: str, reference: str, moved: str = "", module: bool = False) -> str:
    text = f'sgplan {{\n  stack = "meta"\n  region = "ap-guangzhou"\n}}\n{address_block}\n'
    text += f'binding "b" {{\n  instance_ids    = ["ins-aaaa1111"]\n  security_groups = [{reference}]\n}}\n'
    return text + moved


def _apply_and_operations(capsys: pytest.CaptureFixture, directory: Path, cloud: str, planfile: Path) -> list[tuple[str, str]]:
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--out", planfile)
    assert plan.code == 0, plan.err
    operations = [(o["service"], o["action"]) for o in json.loads(planfile.read_text())["operations"]]
    applied = run_cli(capsys, "apply", planfile, "--cloud", cloud, "--auto-approve")
    assert applied.code == 0, applied.err
    return operations


def test_moved_rename_keeps_the_group_with_one_tag_call(capsys: pytest.CaptureFixture, setup: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    directory, state = setup
    cloud = f"file:{state}"
    (directory / "main.sg.hcl").write_text(moved_config(
        f'security_group "old" {{\n  name = "web"\n{RULES}}}', "security_group.old.id"))
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    [before] = json.loads(state.read_text())["SecurityGroups"]
    (directory / "main.sg.hcl").write_text(moved_config(
        f'security_group "web" {{\n  name = "web"\n{RULES}}}', "security_group.web.id",
        "moved {\n  from = security_group.old\n  to   = security_group.web\n}\n"))
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    [change] = [c for c in plan.json()["resource_changes"] if c["type"] == "security_group"]
    assert (change["address"], change["change"]["actions"]) == ("security_group.web", ["update"])
    assert run_cli(capsys, "plan", directory, "--cloud", cloud).out.count("moved from security_group.old") == 1
    operations = _apply_and_operations(capsys, directory, cloud, tmp_path / "move.plan")
    assert operations == [("tag", "ModifyResourceTags")]  # no delete, no create, no rule call
    [after] = json.loads(state.read_text())["SecurityGroups"]
    assert after["SecurityGroupId"] == before["SecurityGroupId"]
    assert after["SecurityGroupPolicySet"] == before["SecurityGroupPolicySet"]  # rules and Version untouched
    assert {t["Key"]: t["Value"] for t in after["TagSet"]} == {"sgplan-stack": "meta",
                                                               "sgplan-address": "security_group.web"}
    again = run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode")
    assert again.code == 0, again.out


def test_without_moved_a_rename_is_delete_and_create(capsys: pytest.CaptureFixture, setup: tuple[Path, Path]) -> None:
    directory, state = setup
    cloud = f"file:{state}"
    (directory / "main.sg.hcl").write_text(moved_config('security_group "old" {}', "security_group.old.id"))
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    (directory / "main.sg.hcl").write_text(moved_config('security_group "web" {}', "security_group.web.id"))
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    actions = {c["address"]: c["change"]["actions"] for c in plan.json()["resource_changes"]
               if c["type"] == "security_group"}
    assert actions == {"security_group.web": ["create"], "security_group.old": ["delete"]}


def test_moved_into_a_module_and_into_an_expanded_block(capsys: pytest.CaptureFixture, setup: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    directory, state = setup
    cloud = f"file:{state}"
    (directory / "main.sg.hcl").write_text(moved_config(
        f'security_group "web" {{\n  name = "web"\n{RULES}}}', "security_group.web.id"))
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    [before] = json.loads(state.read_text())["SecurityGroups"]
    module = directory / "modules" / "web"
    module.mkdir(parents=True)
    (module / "main.sg.hcl").write_text(f'security_group "this" {{\n  name = "web"\n{RULES}}}\n'
                                        'output "id" { value = security_group.this.id }\n')
    (directory / "main.sg.hcl").write_text(moved_config(
        'module "web" {\n  source = "./modules/web"\n}', "module.web.id",
        "moved {\n  from = security_group.web\n  to   = module.web.security_group.this\n}\n"))
    operations = _apply_and_operations(capsys, directory, cloud, tmp_path / "into-module.plan")
    assert operations == [("tag", "ModifyResourceTags")]
    [after] = json.loads(state.read_text())["SecurityGroups"]
    assert after["SecurityGroupId"] == before["SecurityGroupId"]
    assert after["SecurityGroupPolicySet"] == before["SecurityGroupPolicySet"]
    assert {t["Key"]: t["Value"] for t in after["TagSet"]}["sgplan-address"] == "module.web.security_group.this"
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode").code == 0
    # And on into a for_each block: `module.web.security_group.this` → `security_group.tier["web"]`.
    (directory / "main.sg.hcl").write_text(moved_config(
        f'security_group "tier" {{\n  for_each = toset(["web"])\n  name = "web"\n{RULES}}}', 'security_group.tier["web"].id',
        'moved {\n  from = module.web.security_group.this\n  to   = security_group.tier["web"]\n}\n'))
    operations = _apply_and_operations(capsys, directory, cloud, tmp_path / "into-key.plan")
    assert operations == [("tag", "ModifyResourceTags")]
    [last] = json.loads(state.read_text())["SecurityGroups"]
    assert last["SecurityGroupId"] == before["SecurityGroupId"]
    assert {t["Key"]: t["Value"] for t in last["TagSet"]}["sgplan-address"] == 'security_group.tier["web"]'
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode").code == 0


def test_for_each_on_a_module_plan_apply_replan_and_remove_one_key(capsys: pytest.CaptureFixture,
                                                                   setup: tuple[Path, Path]) -> None:
    directory, state = setup
    cloud = f"file:{state}"
    module = directory / "modules" / "ssh"
    module.mkdir(parents=True)
    (module / "main.sg.hcl").write_text('variable "cidr" {}\nsecurity_group "this" {\n  ingress {\n'
                                        '    action = "ACCEPT"\n    protocol = "TCP"\n    port = "22"\n'
                                        '    cidr_block = var.cidr\n  }\n}\noutput "id" { value = security_group.this.id }\n')

    def write(envs: dict[str, str]) -> None:
        pairs = ", ".join(f'{k} = "{v}"' for k, v in envs.items())
        (directory / "main.sg.hcl").write_text(
            f'sgplan {{\n  stack = "meta"\n  region = "ap-guangzhou"\n}}\n'
            f'module "ssh" {{\n  for_each = {{ {pairs} }}\n  source = "./modules/ssh"\n  cidr = each.value\n}}\n'
            'binding "b" {\n  instance_ids = ["ins-aaaa1111"]\n  security_groups = [module.ssh["prod"].id]\n}\n')

    write({"prod": "10.0.0.0/8", "dev": "192.168.0.0/16"})
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve").code == 0
    live = groups(state)
    assert sorted(live) == ['module.ssh["dev"].security_group.this', 'module.ssh["prod"].security_group.this']
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode").code == 0
    write({"prod": "10.0.0.0/8"})
    plan = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    actions = {c["address"]: c["change"]["actions"] for c in plan.json()["resource_changes"]
               if c["type"] == "security_group"}
    assert actions == {'module.ssh["prod"].security_group.this': ["no-op"],
                       'module.ssh["dev"].security_group.this': ["delete"]}
    assert run_cli(capsys, "apply", directory, "--cloud", cloud, "--auto-approve", "--allow-destroy").code == 0
    assert {a: g["SecurityGroupId"] for a, g in groups(state).items()} == {
        'module.ssh["prod"].security_group.this': live['module.ssh["prod"].security_group.this']["SecurityGroupId"]}
    assert run_cli(capsys, "plan", directory, "--cloud", cloud, "--detailed-exitcode").code == 0
