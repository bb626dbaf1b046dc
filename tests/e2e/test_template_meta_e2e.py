"""for_each / count on template blocks end to end (issue 14): plan → apply → re-plan empty, each
keyed template created with its own sgplan-address; removing one key deletes only that template;
through the embedded fake (`file:`) and through the HTTP fake with the unmodified SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, start_server
from tests.e2e.cli import run_cli

STATE = {"Region": "ap-guangzhou", "SecurityGroups": [],
         "Instances": [{"InstanceId": "ins-aaaa1111", "SecurityGroupIds": []}]}


def config(offices: dict[str, str], replicas: int = 2) -> str:
    pairs = ", ".join(f'"{k}" = "{v}"' for k, v in offices.items())
    first = sorted(offices)[0]
    return f"""sgplan {{
  stack  = "tplmeta"
  region = "ap-guangzhou"
}}
address_template "office" {{
  for_each  = {{ {pairs} }}
  addresses = [each.value]
}}
service_template "port" {{
  count    = {replicas}
  name     = "port-${{count.index}}"
  services = ["tcp:${{8000 + count.index}}"]
}}
address_template_group "offices" {{
  template_ids = [for o in address_template.office : o.id]
}}
security_group "ssh" {{
  ingress {{
    action              = "ACCEPT"
    protocol            = "TCP"
    port                = "22"
    address_template_id = address_template.office["{first}"].id
  }}
  ingress {{
    action                    = "ACCEPT"
    service_template_id       = service_template.port[0].id
    address_template_group_id = address_template_group.offices.id
  }}
}}
binding "b" {{
  instance_ids    = ["ins-aaaa1111"]
  security_groups = [security_group.ssh.id]
}}
"""


def templates(state: Path) -> dict[str, dict]:
    """Live templates of every kind by their sgplan-address tag."""
    data = json.loads(state.read_text())
    out = {}
    for kind in ("AddressTemplates", "AddressTemplateGroups", "ServiceTemplates", "ServiceTemplateGroups"):
        for item in data.get(kind, []):
            tags = {t["Key"]: t["Value"] for t in item.get("TagSet", [])}
            out[tags["sgplan-address"]] = item
    return out


def _round_trip(capsys: pytest.CaptureFixture, directory: Path, state: Path, cloud: tuple[str, ...]) -> None:
    (directory / "main.sg.hcl").write_text(config({"hq": "203.0.113.0/24", "branch.1": "198.51.100.7"}))
    plan = run_cli(capsys, "plan", directory, *cloud, "--json")
    assert plan.code == 0, plan.err
    changes = [(c["address"], c["name"], c.get("index"), c["change"]["actions"]) for c in plan.json()["resource_changes"]
               if c["type"] != "binding"]
    assert changes == [
        ('address_template.office["branch.1"]', "office", "branch.1", ["create"]),
        ('address_template.office["hq"]', "office", "hq", ["create"]),
        ("service_template.port[0]", "port", 0, ["create"]),
        ("service_template.port[1]", "port", 1, ["create"]),
        ("address_template_group.offices", "offices", None, ["create"]),
        ("security_group.ssh", "ssh", None, ["create"]),
    ]
    text = run_cli(capsys, "plan", directory, *cloud)
    assert '# address_template.office["hq"] will be created' in text.out
    assert '+ address_template "office" {' in text.out

    applied = run_cli(capsys, "apply", directory, *cloud, "--auto-approve")
    assert applied.code == 0, applied.err
    live = templates(state)
    assert sorted(live) == sorted(['address_template.office["branch.1"]', 'address_template.office["hq"]',
                                   "service_template.port[0]", "service_template.port[1]",
                                   "address_template_group.offices"])
    hq, branch = live['address_template.office["hq"]'], live['address_template.office["branch.1"]']
    assert (hq["AddressTemplateName"], hq["AddressSet"]) == ("office-hq", ["203.0.113.0/24"])
    assert live["service_template.port[1]"]["ServiceSet"] == ["tcp:8001"]
    assert live["address_template_group.offices"]["AddressTemplateIdSet"] == [branch["AddressTemplateId"],
                                                                              hq["AddressTemplateId"]]
    [ssh] = json.loads(state.read_text())["SecurityGroups"]
    ingress = ssh["SecurityGroupPolicySet"]["Ingress"]
    assert ingress[0]["AddressTemplate"]["AddressId"] == branch["AddressTemplateId"]  # "branch.1" < "hq"
    assert ingress[1]["ServiceTemplate"]["ServiceId"] == live["service_template.port[0]"]["ServiceTemplateId"]

    again = run_cli(capsys, "plan", directory, *cloud, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err

    # Remove one key and one count instance: only those two templates go; the rest stay as they are.
    (directory / "main.sg.hcl").write_text(config({"hq": "203.0.113.0/24"}, replicas=1))
    plan = run_cli(capsys, "plan", directory, *cloud, "--json")
    assert plan.code == 0, plan.err
    actions = {c["address"]: c["change"]["actions"] for c in plan.json()["resource_changes"] if c["type"] != "binding"}
    assert actions == {'address_template.office["hq"]': ["no-op"], "service_template.port[0]": ["no-op"],
                       "address_template_group.offices": ["update"], "security_group.ssh": ["update"],
                       'address_template.office["branch.1"]': ["delete"], "service_template.port[1]": ["delete"]}
    applied = run_cli(capsys, "apply", directory, *cloud, "--auto-approve", "--allow-destroy")
    assert applied.code == 0, applied.err
    after = templates(state)
    kept = ('address_template.office["hq"]', "service_template.port[0]", "address_template_group.offices")
    assert sorted(after) == sorted(kept)
    for address in kept[:2]:
        assert after[address] == live[address]  # untouched: same id, members and tags
    assert run_cli(capsys, "plan", directory, *cloud, "--detailed-exitcode").code == 0


def test_expanded_templates_through_the_embedded_fake(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir()
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    _round_trip(capsys, directory, state, ("--cloud", f"file:{state}"))


def test_expanded_templates_through_the_http_fake(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
    directory = tmp_path / "cfg"
    directory.mkdir()
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    handle = start_server(state)
    try:
        _round_trip(capsys, directory, state, ("--cloud", handle.url))
    finally:
        handle.stop()


def test_templates_in_an_expanded_module(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """Templates declared in a module called with for_each: module-qualified keyed addresses and
    tags, plan → apply → re-plan empty; dropping one module key deletes only its templates."""
    directory = tmp_path / "cfg"
    module = directory / "modules" / "site"
    module.mkdir(parents=True)
    (module / "main.sg.hcl").write_text(
        'variable "cidr" {}\n'
        'address_template "net" {\n  for_each  = toset(["a", "b.c"])\n'
        '  addresses = [cidrsubnet(var.cidr, 8, each.key == "a" ? 1 : 2)]\n}\n'
        'address_template_group "all" {\n  template_ids = [for t in address_template.net : t.id]\n}\n'
        'output "group_id" { value = address_template_group.all.id }\n')
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    cloud = ("--cloud", f"file:{state}")

    def write(sites: dict[str, str]) -> None:
        pairs = ", ".join(f'{k} = "{v}"' for k, v in sites.items())
        (directory / "main.sg.hcl").write_text(
            'sgplan {\n  stack  = "tplmod"\n  region = "ap-guangzhou"\n}\n'
            f'module "site" {{\n  for_each = {{ {pairs} }}\n  source = "./modules/site"\n  cidr = each.value\n}}\n'
            'security_group "ssh" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n    port = "22"\n'
            '    address_template_group_id = module.site["east"].group_id\n  }\n}\n')

    write({"east": "10.1.0.0/16", "west": "10.2.0.0/16"})
    plan = run_cli(capsys, "plan", directory, *cloud, "--json")
    assert plan.code == 0, plan.err
    created = [(c["address"], c["module_address"], c["name"], c.get("index")) for c in plan.json()["resource_changes"]
               if c["type"] == "address_template"]
    assert created == [
        ('module.site["east"].address_template.net["a"]', 'module.site["east"]', "net", "a"),
        ('module.site["east"].address_template.net["b.c"]', 'module.site["east"]', "net", "b.c"),
        ('module.site["west"].address_template.net["a"]', 'module.site["west"]', "net", "a"),
        ('module.site["west"].address_template.net["b.c"]', 'module.site["west"]', "net", "b.c"),
    ]
    assert run_cli(capsys, "apply", directory, *cloud, "--auto-approve").code == 0
    live = templates(state)
    assert live['module.site["west"].address_template.net["b.c"]']["AddressSet"] == ["10.2.2.0/24"]
    east_group = live['module.site["east"].address_template_group.all']["AddressTemplateGroupId"]
    [ssh] = json.loads(state.read_text())["SecurityGroups"]
    assert ssh["SecurityGroupPolicySet"]["Ingress"][0]["AddressTemplate"]["AddressGroupId"] == east_group
    assert run_cli(capsys, "plan", directory, *cloud, "--detailed-exitcode").code == 0

    write({"east": "10.1.0.0/16"})
    assert run_cli(capsys, "apply", directory, *cloud, "--auto-approve", "--allow-destroy").code == 0
    after = templates(state)
    assert sorted(after) == sorted(a for a in live if a.startswith('module.site["east"]'))
    assert all(after[a] == live[a] for a in after)
    assert run_cli(capsys, "plan", directory, *cloud, "--detailed-exitcode").code == 0
