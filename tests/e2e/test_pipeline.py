"""The core pipeline end to end through the CLI: HCL → plan → apply → plan shows nothing.

Every test runs on the embedded fake and on the HTTP fake with the unmodified SDK (see conftest).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.e2e.cli import run_cli

INSTANCES = [
    {"InstanceId": "ins-aaaa1111", "SecurityGroupIds": []},
    {"InstanceId": "ins-bbbb2222", "SecurityGroupIds": []},
]
TEMPLATES = {
    "AddressTemplates": [{"AddressTemplateId": "ipm-office01", "AddressTemplateName": "office",
                          "AddressSet": ["203.0.113.0/24"]}],
    "AddressTemplateGroups": [{"AddressTemplateGroupId": "ipmg-office01", "AddressTemplateGroupName": "offices",
                               "AddressTemplateIdSet": ["ipm-office01"]}],
    "ServiceTemplates": [{"ServiceTemplateId": "ppm-web00001", "ServiceTemplateName": "web",
                          "ServiceSet": ["tcp:80", "tcp:443"]}],
    "ServiceTemplateGroups": [{"ServiceTemplateGroupId": "ppmg-web0001", "ServiceTemplateGroupName": "webs",
                               "ServiceTemplateIdSet": ["ppm-web00001"]}],
}


def empty_state(**extra) -> dict:
    return {"Region": "ap-guangzhou", "SecurityGroups": [], "Instances": INSTANCES, **extra}


def write_config(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.sg.hcl").write_text(text)
    return directory


def test_quickstart_plans_applies_and_converges(cloud, quickstart: Path, capsys) -> None:
    target = cloud(json.loads((quickstart / "live.json").read_text()))
    plan = run_cli(capsys, "plan", quickstart, "--cloud", target.spec)
    assert plan.code == 0, plan.err
    assert "security_group.admin" in plan.out and "security_group.web" in plan.out
    assert "Plan: 2 to add, 2 to change, 0 to destroy." in plan.out

    applied = run_cli(capsys, "apply", quickstart, "--cloud", target.spec, "--auto-approve")
    assert applied.code == 0, applied.err
    state = target.load()
    groups = {g["SecurityGroupName"]: g for g in state["SecurityGroups"]}
    assert set(groups) == {"quickstart-admin", "quickstart-web"}
    tags = {t["Key"]: t["Value"] for t in groups["quickstart-web"]["TagSet"]}
    assert tags == {"sgplan-stack": "quickstart", "sgplan-address": "security_group.web", "team": "web"}
    order = [groups["quickstart-admin"]["SecurityGroupId"], groups["quickstart-web"]["SecurityGroupId"]]
    assert [i["SecurityGroupIds"] for i in state["Instances"]] == [order, order]
    web_ingress = groups["quickstart-web"]["SecurityGroupPolicySet"]["Ingress"]
    assert web_ingress[1]["SecurityGroupId"] == order[0]

    again = run_cli(capsys, "plan", quickstart, "--cloud", target.spec, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out


def test_plan_json_shape_and_saved_plan(cloud, quickstart: Path, tmp_path: Path, capsys) -> None:
    target = cloud(json.loads((quickstart / "live.json").read_text()))
    result = run_cli(capsys, "plan", quickstart, "--cloud", target.spec, "--json", "--detailed-exitcode")
    assert result.code == 2
    doc = result.json()
    assert doc["format_version"] == "1.2" and doc["stack"] == "quickstart"
    assert doc["summary"]["create"] == 2 and doc["summary"]["update"] == 2
    by_address = {c["address"]: c for c in doc["resource_changes"]}
    assert by_address["security_group.web"]["change"]["actions"] == ["create"]
    assert by_address['binding.web_servers["ins-web00001"]']["type"] == "binding"
    assert doc["planned_values"]["outputs"]["web_id"] == {"known": False}

    planfile = tmp_path / "web.plan"
    saved = run_cli(capsys, "plan", quickstart, "--cloud", target.spec, "--out", planfile)
    assert saved.code == 0 and planfile.exists()
    secret = os.environ.get("TENCENTCLOUD_SECRET_KEY")
    assert not secret or secret not in planfile.read_text()
    shown = run_cli(capsys, "show", planfile, "--json")
    assert shown.json()["resource_changes"] == doc["resource_changes"]
    applied = run_cli(capsys, "apply", planfile, "--cloud", target.spec, "--auto-approve")
    assert applied.code == 0, applied.err
    # The same plan again is stale now: the instances it would bind have moved.
    stale = run_cli(capsys, "apply", planfile, "--cloud", target.spec, "--auto-approve")
    assert stale.code == 1 and "stale" in stale.err


def test_identical_plans_on_both_clouds(quickstart: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, start_server

    live = (quickstart / "live.json").read_text()
    (tmp_path / "a.json").write_text(live)
    (tmp_path / "b.json").write_text(live)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
    server = start_server(tmp_path / "b.json")
    try:
        via_file = run_cli(capsys, "plan", quickstart, "--cloud", f"file:{tmp_path / 'a.json'}", "--json")
        via_http = run_cli(capsys, "plan", quickstart, "--cloud", server.url, "--json")
    finally:
        server.stop()
    a, b = via_file.json(), via_http.json()
    assert a["resource_changes"] == b["resource_changes"]
    assert a["summary"] == b["summary"]


EVERY_SHAPE = """
sgplan {
  stack  = "shapes"
  region = "ap-guangzhou"
}

security_group "peer" {
  name = "peer"
}

security_group "shapes" {
  name        = "all-shapes"
  description = "every rule shape"
  ingress {
    action     = "accept"
    protocol   = "tcp"
    port       = "22"
    cidr_block = "10.0.0.0/8"
  }
  ingress {
    action     = "ACCEPT"
    protocol   = "UDP"
    port       = "8000-8010"
    cidr_block = "192.168.1.7"
  }
  ingress {
    action          = "DROP"
    protocol        = "TCP"
    port            = "443,80"
    ipv6_cidr_block = "2001:DB8::/32"
  }
  ingress {
    action     = "ACCEPT"
    protocol   = "ICMP"
    cidr_block = "0.0.0.0/0"
  }
  ingress {
    action          = "ACCEPT"
    protocol        = "ICMPv6"
    ipv6_cidr_block = "::/0"
  }
  ingress {
    action     = "ACCEPT"
    protocol   = "GRE"
    cidr_block = "172.16.0.0/12"
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "ALL"
    security_group_id = security_group.peer.id
    description       = "from peers"
  }
  ingress {
    action              = "ACCEPT"
    protocol            = "TCP"
    port                = "ALL"
    address_template_id = "ipm-office01"
  }
  ingress {
    action                    = "DROP"
    protocol                  = "UDP"
    port                      = "ALL"
    address_template_group_id = "ipmg-office01"
  }
  ingress {
    action              = "ACCEPT"
    service_template_id = "ppm-web00001"
    cidr_block          = "198.51.100.0/24"
  }
  egress {
    action                    = "ACCEPT"
    service_template_group_id = "ppmg-web0001"
    cidr_block                = "0.0.0.0/0"
  }
  egress {
    action      = "DROP"
    protocol    = "ALL"
    cidr_block  = "0.0.0.0/0"
    description = "deny the rest"
  }
}
"""


def test_every_rule_shape_round_trips(cloud, tmp_path: Path, capsys) -> None:
    target = cloud(empty_state(**TEMPLATES))
    config = write_config(tmp_path / "cfg", EVERY_SHAPE)
    applied = run_cli(capsys, "apply", config, "--cloud", target.spec, "--auto-approve")
    assert applied.code == 0, applied.err
    group = next(g for g in target.load()["SecurityGroups"] if g["SecurityGroupName"] == "all-shapes")
    assert len(group["SecurityGroupPolicySet"]["Ingress"]) == 10
    again = run_cli(capsys, "plan", config, "--cloud", target.spec, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err


def fifty_rules(extra_top: bool) -> str:
    rules = []
    if extra_top:
        rules.append('  ingress {\n    action = "DROP"\n    protocol = "TCP"\n    port = "23"\n    cidr_block = "0.0.0.0/0"\n  }\n')
    for i in range(50):
        rules.append(f'  ingress {{\n    action = "ACCEPT"\n    protocol = "TCP"\n    port = "{1000 + i}"\n'
                     f'    cidr_block = "10.{i}.0.0/16"\n  }}\n')
    return 'sgplan {\n  stack = "big"\n  region = "ap-guangzhou"\n}\nsecurity_group "big" {\n  name = "big"\n' + "".join(rules) + "}\n"


def test_insert_at_top_of_fifty_rules_is_one_call(cloud, tmp_path: Path, capsys) -> None:
    target = cloud(empty_state())
    config = write_config(tmp_path / "cfg", fifty_rules(extra_top=False))
    assert run_cli(capsys, "apply", config, "--cloud", target.spec, "--auto-approve").code == 0
    before = target.load()["SecurityGroups"][0]["SecurityGroupPolicySet"]["Version"]

    write_config(config, fifty_rules(extra_top=True))
    planned = run_cli(capsys, "plan", config, "--cloud", target.spec, "--json")
    doc = planned.json()
    assert [op["action"] for op in doc["operations"]] == ["CreateSecurityGroupPolicies"]
    assert run_cli(capsys, "apply", config, "--cloud", target.spec, "--auto-approve").code == 0
    group = target.load()["SecurityGroups"][0]
    assert int(group["SecurityGroupPolicySet"]["Version"]) == int(before) + 1
    assert group["SecurityGroupPolicySet"]["Ingress"][0]["Port"] == "23"
    assert len(group["SecurityGroupPolicySet"]["Ingress"]) == 51


def test_apply_without_terminal_refuses(cloud, quickstart: Path, capsys) -> None:
    target = cloud(json.loads((quickstart / "live.json").read_text()))
    before = target.state.read_bytes()
    result = run_cli(capsys, "apply", quickstart, "--cloud", target.spec)
    assert result.code == 1 and "--auto-approve" in result.err
    assert target.state.read_bytes() == before


def test_destroy_needs_allow_destroy_with_auto_approve(cloud, quickstart: Path, capsys) -> None:
    target = cloud(json.loads((quickstart / "live.json").read_text()))
    assert run_cli(capsys, "apply", quickstart, "--cloud", target.spec, "--auto-approve").code == 0
    text = (quickstart / "main.sg.hcl").read_text()
    admin_start = text.index('security_group "admin"')
    admin_end = text.index('security_group "web"')
    text = text[:admin_start] + text[admin_end:]
    text = text.replace("[security_group.admin.id, security_group.web.id]", "[security_group.web.id]")
    text = text.replace("security_group_id = security_group.admin.id", 'cidr_block = "10.0.0.0/8"')
    (quickstart / "main.sg.hcl").write_text(text)
    refused = run_cli(capsys, "apply", quickstart, "--cloud", target.spec, "--auto-approve")
    assert refused.code == 1 and "--allow-destroy" in refused.err
    done = run_cli(capsys, "apply", quickstart, "--cloud", target.spec, "--auto-approve", "--allow-destroy")
    assert done.code == 0, done.err
    assert [g["SecurityGroupName"] for g in target.load()["SecurityGroups"]] == ["quickstart-web"]
    assert run_cli(capsys, "plan", quickstart, "--cloud", target.spec, "--detailed-exitcode").code == 0


def test_snapshot_of_http_fake_plans_the_same_offline(quickstart: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """The recorded fake: `snapshot` of the HTTP fake, planned with `--cloud file:`, gives the same plan."""
    from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, start_server

    state = tmp_path / "served.json"
    state.write_text((quickstart / "live.json").read_text())
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", DEFAULT_SECRET_KEY)
    server = start_server(state)
    try:
        assert run_cli(capsys, "apply", quickstart, "--cloud", server.url, "--auto-approve").code == 0
        # Drift the configuration so the plan has rule-level work against existing groups.
        text = (quickstart / "main.sg.hcl").read_text().replace('"80,443"', '"443"')
        (quickstart / "main.sg.hcl").write_text(text)
        snap = tmp_path / "snap.json"
        recorded = run_cli(capsys, "snapshot", "--out", snap, "--cloud", server.url, "--region", "ap-guangzhou")
        assert recorded.code == 0, recorded.err
        online = run_cli(capsys, "plan", quickstart, "--cloud", server.url, "--json").json()
    finally:
        server.stop()
    offline = run_cli(capsys, "plan", quickstart, "--cloud", f"file:{snap}", "--json").json()
    assert online["summary"] == offline["summary"] == {**online["summary"], "update": 1}
    assert online["resource_changes"] == offline["resource_changes"]
    assert online["operations"] == offline["operations"]
    assert DEFAULT_SECRET_KEY not in snap.read_text()
