"""Groups sgplan does not manage still count: an instance's access is all its groups in order.

Found by the full reliability run: with an unmanaged group's rules invisible, the planner deleted
a managed DROP while the unmanaged ACCEPT behind it was still bound — a moment of exposure."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import run_cli

BEFORE = """
sgplan {
  stack = "n"
}
security_group "g0" {
  name = "g0"
  ingress {
    action            = "DROP"
    protocol          = "TCP"
    port              = "ALL"
    security_group_id = security_group.g1.id
  }
}
security_group "g1" {
  name = "g1"
}
binding "b" {
  instance_ids    = ["ins-00000001"]
  security_groups = [security_group.g0.id, "sg-ext00001"]
}
"""

AFTER = """
sgplan {
  stack = "n"
}
security_group "g0" {
  name = "g0"
}
binding "b" {
  instance_ids    = ["ins-00000001"]
  security_groups = [security_group.g0.id]
}
"""

EXTERNAL = {"SecurityGroupId": "sg-ext00001", "SecurityGroupName": "external",
            "SecurityGroupPolicySet": {"Version": "1", "Egress": [], "Ingress": [
                {"Protocol": "TCP", "Port": "443", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}]}}


def test_unmanaged_neighbours_shape_order_and_exposure(tmp_path: Path, capsys) -> None:
    state = tmp_path / "live.json"
    state.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [EXTERNAL],
                                 "Instances": [{"InstanceId": "ins-00000001", "SecurityGroupIds": ["sg-ext00001"]}]}))
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text(BEFORE)
    assert run_cli(capsys, "apply", cfg, "--cloud", f"file:{state}", "--auto-approve").code == 0

    (cfg / "main.sg.hcl").write_text(AFTER)
    doc = run_cli(capsys, "plan", cfg, "--cloud", f"file:{state}", "--json").json()
    actions = [op["action"] for op in doc["operations"]]
    # Unbinding the external ACCEPT must come before the DROP in front of it goes.
    assert actions.index("ModifyInstancesAttribute") < actions.index("DeleteSecurityGroupPolicies")
    assert doc["transient_exposure"] == []
    assert {"instance_id": "ins-00000001", "direction": "ingress", "protocol": "TCP", "ports": "443",
            "peer": "0.0.0.0/0", "effect": "closed"} in doc["exposure_changes"]
    # The unmanaged group is read, never changed.
    before = next(g for g in json.loads(state.read_text())["SecurityGroups"] if g["SecurityGroupId"] == "sg-ext00001")
    assert run_cli(capsys, "apply", cfg, "--cloud", f"file:{state}", "--auto-approve", "--allow-destroy").code == 0
    after = next(g for g in json.loads(state.read_text())["SecurityGroups"] if g["SecurityGroupId"] == "sg-ext00001")
    assert after == before
