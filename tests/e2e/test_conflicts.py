"""A colleague's console edit lands in the middle of `sgplan apply`: the Version check catches it,
the group is left alone from then on, the run exits 1 naming the conflict, and nothing is clobbered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgplan.fakecloud.filecloud import FileCloud
from tests.e2e.cli import run_cli

RULE_EDITS = {"CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies", "ReplaceSecurityGroupPolicy",
              "ReplaceSecurityGroupPolicies"}
RULE = '  ingress {{\n    action     = "ACCEPT"\n    protocol   = "TCP"\n    port       = "{port}"\n    cidr_block = "10.0.0.0/8"\n  }}\n'


def config(ports_a: list[int], ports_b: list[int]) -> str:
    head = 'sgplan {\n  stack = "conflict"\n}\n'
    a = 'security_group "a" {\n  name = "a"\n' + "".join(RULE.format(port=p) for p in ports_a) + "}\n"
    b = 'security_group "b" {\n  name = "b"\n' + "".join(RULE.format(port=p) for p in ports_b) + "}\n"
    return head + a + b


def test_console_edit_mid_apply_is_a_reported_conflict(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "live.json"
    state.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [], "Instances": []}))
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text(config([22, 80, 443], [22]))
    assert run_cli(capsys, "apply", cfg, "--cloud", f"file:{state}", "--auto-approve").code == 0
    ids = {g["SecurityGroupName"]: g["SecurityGroupId"] for g in json.loads(state.read_text())["SecurityGroups"]}

    # Group a: replace the middle rule and insert two at the top (several calls); b: one insert.
    (cfg / "main.sg.hcl").write_text(config([1, 2, 22, 8080, 443], [21, 22]))
    real_call = FileCloud.call
    edits_on_a = []

    def call_with_console_edit(self: FileCloud, service: str, action: str, params: dict) -> dict:
        if action in RULE_EDITS and params.get("SecurityGroupId") == ids["a"]:
            edits_on_a.append(action)
            if len(edits_on_a) == 2:  # between sgplan's first and second call on group a
                self.engine.handle("vpc", "CreateSecurityGroupPolicies", {
                    "SecurityGroupId": ids["a"],
                    "SecurityGroupPolicySet": {"Egress": [{"Protocol": "UDP", "Port": "53", "CidrBlock": "8.8.8.8",
                                                           "Action": "ACCEPT", "PolicyDescription": "console"}]}})
        return real_call(self, service, action, params)

    monkeypatch.setattr(FileCloud, "call", call_with_console_edit)
    result = run_cli(capsys, "apply", cfg, "--cloud", f"file:{state}", "--auto-approve")
    monkeypatch.setattr(FileCloud, "call", real_call)

    assert result.code == 1
    assert f"conflict on security_group.a ({ids['a']}): expected Version" in result.err
    assert "Traceback" not in result.err
    groups = {g["SecurityGroupName"]: g for g in json.loads(state.read_text())["SecurityGroups"]}
    # The console's rule survives; b (independent) was still brought up to date.
    assert [p["PolicyDescription"] for p in groups["a"]["SecurityGroupPolicySet"]["Egress"]] == ["console"]
    assert [p["Port"] for p in groups["b"]["SecurityGroupPolicySet"]["Ingress"]] == ["21", "22"]

    # The next plan shows the remaining work on a, including the console rule it would remove.
    again = run_cli(capsys, "plan", cfg, "--cloud", f"file:{state}", "--json")
    changes = {c["address"]: c["change"]["actions"] for c in again.json()["resource_changes"]}
    assert changes["security_group.a"] == ["update"] and changes["security_group.b"] == ["no-op"]
