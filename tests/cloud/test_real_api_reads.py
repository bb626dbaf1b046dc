"""Rules as the real API answers them plan as no change where they match (issue 13): portless
rules read back with Port "ALL", and a rule stored without Protocol reads back as ALL/ALL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import run

LIVE = {"Region": "ap-guangzhou", "SecurityGroups": [{
    "SecurityGroupId": "sg-aaaa1111", "SecurityGroupName": "web",
    "TagSet": [{"Key": "sgplan-stack", "Value": "prod"}, {"Key": "sgplan-address", "Value": "security_group.web"}],
    "SecurityGroupPolicySet": {"Version": "3", "Ingress": [
        {"Protocol": "icmp", "Port": "ALL", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"},
        {"Protocol": "gre", "Port": "ALL", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}],
        "Egress": [{"CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}]}}]}
CONFIG = """
sgplan { stack = "prod" }
security_group "web" {
  ingress {
    action     = "ACCEPT"
    protocol   = "ICMP"
    cidr_block = "0.0.0.0/0"
  }
  ingress {
    action     = "ACCEPT"
    protocol   = "GRE"
    cidr_block = "10.0.0.0/8"
  }
  egress {
    action     = "ACCEPT"
    protocol   = "ALL"
    cidr_block = "0.0.0.0/0"
  }
}
"""


def test_rules_as_the_real_api_answers_them_plan_as_no_change(tmp_path: Path) -> None:
    (tmp_path / "live.json").write_text(json.dumps(LIVE))
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "main.sg.hcl").write_text(CONFIG)
    code, out, err = run("plan", tmp_path / "cfg", "--cloud", f"file:{tmp_path / 'live.json'}", "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes" in out
