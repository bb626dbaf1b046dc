"""Parameter templates as code end to end (issue 17, "Done when"): through the HTTP fake and the
unmodified SDK — create templates and the groups that use them, re-plan empty, add one member
(one member change, the exposure widened on exactly the instances whose groups use it, one API
call), re-plan empty; a template an unmanaged group still names cannot be deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, start_server
from tests.e2e.cli import run_cli

STATE = {"Region": "ap-guangzhou", "SecurityGroups": [],
         "Instances": [{"InstanceId": "ins-aaaa1111", "SecurityGroupIds": []},
                       {"InstanceId": "ins-bbbb2222", "SecurityGroupIds": []},
                       {"InstanceId": "ins-cccc3333", "SecurityGroupIds": []}]}


def config(office: list[str], keep_office: bool = True) -> str:
    office_block = f"""
address_template "office" {{
  name      = "office"
  addresses = {json.dumps(office)}
}}
""" if keep_office else ""
    admins_members = "[address_template.office.id]" if keep_office else "[address_template.vpn.id]"
    ssh_source = "address_template_id = address_template.office.id" if keep_office else 'cidr_block = "10.9.0.0/16"'
    return f"""sgplan {{
  stack  = "tpl"
  region = "ap-guangzhou"
}}
{office_block}
address_template "vpn" {{
  name      = "vpn"
  addresses = ["10.8.0.0/16"]
}}
address_template_group "admins" {{
  name         = "admins"
  template_ids = {admins_members}
}}
service_template "web" {{
  name     = "web"
  services = ["tcp:80", "tcp:443"]
}}
service_template_group "web_all" {{
  name         = "web-all"
  template_ids = [service_template.web.id]
}}

security_group "ssh" {{
  ingress {{
    action   = "ACCEPT"
    protocol = "TCP"
    port     = "22"
    {ssh_source}
  }}
}}
security_group "web" {{
  ingress {{
    action                    = "ACCEPT"
    service_template_group_id = service_template_group.web_all.id
    cidr_block                = "0.0.0.0/0"
  }}
}}

binding "admin_hosts" {{
  instance_ids    = ["ins-aaaa1111", "ins-bbbb2222"]
  security_groups = [security_group.ssh.id, security_group.web.id]
}}
binding "web_only" {{
  instance_ids    = ["ins-cccc3333"]
  security_groups = [security_group.web.id]
}}
"""


@pytest.fixture
def http_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    handle = start_server(state)
    yield handle, state
    handle.stop()


def test_templates_end_to_end_through_the_http_fake(tmp_path: Path, capsys, http_cloud) -> None:
    handle, state = http_cloud
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text(config(["203.0.113.0/24", "198.51.100.7"]))
    cloud = ("--cloud", handle.url)

    first = run_cli(capsys, "apply", cfg, *cloud, "--auto-approve")
    assert first.code == 0, first.err
    live = json.loads(state.read_text())
    [office] = [t for t in live["AddressTemplates"] if t["AddressTemplateName"] == "office"]
    assert {"Key": "sgplan-stack", "Value": "tpl"} in office["TagSet"]
    assert {"Key": "sgplan-address", "Value": "address_template.office"} in office["TagSet"]
    [admins] = live["AddressTemplateGroups"]
    assert admins["AddressTemplateIdSet"] == [office["AddressTemplateId"]]
    ssh = next(g for g in live["SecurityGroups"] if g["SecurityGroupName"] == "ssh")
    assert ssh["SecurityGroupPolicySet"]["Ingress"][0]["AddressTemplate"]["AddressId"] == office["AddressTemplateId"]

    again = run_cli(capsys, "plan", cfg, *cloud, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err

    # One member more: one member-level call, widened exactly where the template is used.
    (cfg / "main.sg.hcl").write_text(config(["203.0.113.0/24", "198.51.100.7", "192.0.2.0/24"]))
    data = run_cli(capsys, "plan", cfg, *cloud, "--json")
    assert data.code == 0, data.err
    plan = data.json()
    assert [(o["action"], o["params"]["TemplateMember"]) for o in plan["operations"]] == [
        ("AddTemplateMember", [{"Member": "192.0.2.0/24"}])]
    [change] = [c for c in plan["resource_changes"] if c["change"]["actions"] != ["no-op"]]
    assert (change["address"], change["type"], change["change"]["actions"]) == (
        "address_template.office", "address_template", ["update"])
    exposure = plan["exposure_changes"]
    assert sorted(e["instance_id"] for e in exposure) == ["ins-aaaa1111", "ins-bbbb2222"]
    assert all((e["peer"], e["ports"], e["effect"]) == ("192.0.2.0/24", "22", "opened") for e in exposure)
    text = run_cli(capsys, "plan", cfg, *cloud)
    assert "widened: ins-aaaa1111 TCP 22 from 192.0.2.0/24, via address_template.office" in text.out

    writes = handle.stats.get("changes", 0)
    applied = run_cli(capsys, "apply", cfg, *cloud, "--auto-approve")
    assert applied.code == 0, applied.err
    assert handle.stats.get("changes", 0) - writes == 1  # one API call
    assert run_cli(capsys, "plan", cfg, *cloud, "--detailed-exitcode").code == 0


def test_a_template_an_unmanaged_group_names_is_not_deleted(tmp_path: Path, capsys, http_cloud) -> None:
    handle, state = http_cloud
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text(config(["203.0.113.0/24"]))
    cloud = ("--cloud", handle.url)
    assert run_cli(capsys, "apply", cfg, *cloud, "--auto-approve").code == 0
    office = next(t for t in handle.engine.state["AddressTemplates"] if t["AddressTemplateName"] == "office")
    # Someone else's group names the template.
    other = handle.engine.handle("vpc", "CreateSecurityGroupWithPolicies", {
        "GroupName": "someone-else", "GroupDescription": "", "SecurityGroupPolicySet": {"Ingress": [
            {"Protocol": "TCP", "Port": "3389", "AddressTemplate": {"AddressId": office["AddressTemplateId"]},
             "Action": "ACCEPT"}]}})["SecurityGroup"]["SecurityGroupId"]

    (cfg / "main.sg.hcl").write_text(config([], keep_office=False))
    plan = run_cli(capsys, "plan", cfg, *cloud)
    assert plan.code == 0, plan.err
    assert f"still referenced by the rules of {other}, not managed by this stack" in plan.out
    refused = run_cli(capsys, "apply", cfg, *cloud, "--auto-approve")
    assert refused.code == 1
    assert f"cannot delete address_template.office ({office['AddressTemplateId']})" in refused.err
    assert any(t["AddressTemplateId"] == office["AddressTemplateId"] for t in handle.engine.state["AddressTemplates"])


IMPORT_STATE = {
    "Region": "ap-guangzhou",
    "SecurityGroups": [{"SecurityGroupId": "sg-legacy01", "SecurityGroupName": "legacy",
                        "SecurityGroupPolicySet": {"Version": "3", "Ingress": [
                            {"Protocol": "TCP", "Port": "22", "AddressTemplate": {"AddressGroupId": "ipmg-admins01"},
                             "Action": "ACCEPT"},
                            {"ServiceTemplate": {"ServiceId": "ppm-web00001"}, "CidrBlock": "0.0.0.0/0",
                             "Action": "ACCEPT"},
                            {"Protocol": "TCP", "Port": "3389", "AddressTemplate": {"AddressId": "ipm-unknown1"},
                             "Action": "DROP"}], "Egress": []}}],
    "Instances": [{"InstanceId": "ins-aaaa1111", "SecurityGroupIds": ["sg-legacy01"]}],
    "AddressTemplates": [
        {"AddressTemplateId": "ipm-office01", "AddressTemplateName": "office", "AddressSet": ["203.0.113.0/24", "198.51.100.7"]},
        {"AddressTemplateId": "ipm-vpn00001", "AddressTemplateName": "vpn", "AddressSet": ["10.8.0.0/16"]},
        {"AddressTemplateId": "ipm-unknown1", "AddressTemplateName": "blocked", "AddressSet": ["192.0.2.0/24"]},
    ],
    "AddressTemplateGroups": [{"AddressTemplateGroupId": "ipmg-admins01", "AddressTemplateGroupName": "admins",
                               "AddressTemplateIdSet": ["ipm-office01", "ipm-vpn00001"]}],
    "ServiceTemplates": [{"ServiceTemplateId": "ppm-web00001", "ServiceTemplateName": "web",
                          "ServiceSet": ["tcp:80", "tcp:443"]}],
}


def test_import_writes_template_blocks_and_round_trips(tmp_path: Path, capsys) -> None:
    state = tmp_path / "live.json"
    state.write_text(json.dumps(IMPORT_STATE))
    cloud = ("--cloud", f"file:{state}", "--region", "ap-guangzhou")
    out = tmp_path / "imported"
    result = run_cli(capsys, "import", "--all-unmanaged", "--out", out, *cloud)
    assert result.code == 0, result.err
    text = "\n".join(p.read_text() for p in sorted(out.glob("*.hcl"))) if out.is_dir() else out.read_text()
    assert 'address_template_group "admins"' in text and 'id           = "ipmg-admins01"' in text
    assert "template_ids = [address_template.office.id, address_template.vpn.id]" in text
    assert "address_template_group_id = address_template_group.admins.id" in text
    assert "service_template_id = service_template.web.id" in text
    assert run_cli(capsys, "plan", out, *cloud, "--detailed-exitcode").code == 0
    assert run_cli(capsys, "fmt", "--check", out).code == 0


def test_bundled_modules_take_address_templates(tmp_path: Path, capsys) -> None:
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text('''sgplan {
  stack  = "mods"
  region = "ap-guangzhou"
}
address_template "webrdp" {
  addresses = ["81.69.102.0/24", "106.55.203.0/24", "101.33.121.0/24", "101.32.250.0/24"]
}
module "rdp" {
  source               = "sgplan/windows-rdp"
  name                 = "rdp"
  address_template_ids = [address_template.webrdp.id]
}
module "ssh" {
  source = "sgplan/linux-ssh"
  name   = "ssh"
}
binding "hosts" {
  instance_ids    = ["ins-aaaa1111"]
  security_groups = [module.rdp.id, module.ssh.id]
}
''')
    cloud = ("--cloud", f"file:{state}")
    applied = run_cli(capsys, "apply", cfg, *cloud, "--auto-approve")
    assert applied.code == 0, applied.err
    live = json.loads(state.read_text())
    [template] = live["AddressTemplates"]
    groups = {g["SecurityGroupName"]: g["SecurityGroupPolicySet"]["Ingress"] for g in live["SecurityGroups"]}
    assert [(r["Port"], r["AddressTemplate"]["AddressId"]) for r in groups["rdp"]] == [
        ("3389", template["AddressTemplateId"])]
    assert [(r["Port"], r["CidrBlock"]) for r in groups["ssh"]] == [("22", "0.0.0.0/0")]  # default unchanged
    assert run_cli(capsys, "plan", cfg, *cloud, "--detailed-exitcode").code == 0


def test_template_changes_take_the_least_calls(tmp_path: Path, capsys, http_cloud) -> None:
    """API calls at their floor: one call per created, renamed, member-edited or deleted template
    (a member edit of any shape is one call)."""
    handle, state = http_cloud
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    cloud = ("--cloud", handle.url)

    def write(text: str) -> None:
        (cfg / "main.sg.hcl").write_text('sgplan {\n  stack  = "floor"\n  region = "ap-guangzhou"\n}\n' + text)

    def block(label: str, members: list[str], name: str | None = None) -> str:
        return f'address_template "{label}" {{\n  name = "{name or label}"\n  addresses = {json.dumps(members)}\n}}\n'

    write(block("a", ["10.0.0.1"]) + block("b", ["10.0.0.2"]) + block("c", ["10.0.0.3"]) + block("d", ["10.0.0.4"])
          + block("e", ["10.0.0.5"]))
    writes = handle.stats.get("changes", 0)
    assert run_cli(capsys, "apply", cfg, *cloud, "--auto-approve").code == 0
    assert handle.stats.get("changes", 0) - writes == 5  # one create each, tags included

    # a: +member, b: -member, c: swap, d: rename, e: removed; f: new.
    write(block("a", ["10.0.0.1", "10.1.0.1"]) + block("b", []) + block("c", ["10.3.0.3"])
          + block("d", ["10.0.0.4"], name="renamed") + block("f", ["10.0.0.6"]))
    data = run_cli(capsys, "plan", cfg, *cloud, "--json").json()
    assert sorted(o["action"] for o in data["operations"]) == [
        "AddTemplateMember", "CreateAddressTemplate", "DeleteAddressTemplate", "DeleteTemplateMember",
        "ModifyAddressTemplateAttribute", "ModifyTemplateMember"]
    writes = handle.stats.get("changes", 0)
    assert run_cli(capsys, "apply", cfg, *cloud, "--auto-approve").code == 0
    assert handle.stats.get("changes", 0) - writes == 6
    assert run_cli(capsys, "plan", cfg, *cloud, "--detailed-exitcode").code == 0
