"""What is reviewed is exactly what is applied (issue 11, DESIGN §5).

A saved plan travels as a CI artifact: `apply PLANFILE` re-plans from the configuration and the
live cloud and refuses unless the fresh plan equals the file in every field. Each tampering below
must exit 1 and leave the state file byte-identical. The executor guard is tested on its own in
tests/apply/test_guard.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.e2e.cli import run_cli
from tests.e2e.conftest import REPO

FOREIGN = {"SecurityGroupId": "sg-foreign1", "SecurityGroupName": "someone-else",
           "TagSet": [{"Key": "sgplan-stack", "Value": "other-stack"}, {"Key": "sgplan-address", "Value": "security_group.x"}],
           "SecurityGroupPolicySet": {"Version": "1", "Ingress": [], "Egress": []}}
OTHER_INSTANCE = {"InstanceId": "ins-other001", "SecurityGroupIds": ["sg-foreign1"]}
# The telnet rule gives the plan a finding to hide (the quickstart itself has none).
PING = """
security_group "ping" {
  ingress {
    action     = "ACCEPT"
    protocol   = "ICMP"
    cidr_block = "10.0.0.0/8"
  }
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "23"
    cidr_block = "10.0.0.0/8"
  }
}
"""


@pytest.fixture
def reviewed(tmp_path: Path, capsys, monkeypatch) -> tuple[Path, Path, Path]:
    """(configuration, state file, saved plan): the quickstart applied, another stack's group and
    an instance no binding names beside it, then a change planned and saved (as CI's PR job does)."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "qs"
    shutil.copytree(REPO / "examples" / "quickstart", config)
    state = config / "live.json"
    assert run_cli(capsys, "apply", config, "--auto-approve").code == 0
    data = json.loads(state.read_text())
    data["SecurityGroups"].append(FOREIGN)
    data["Instances"].append(OTHER_INSTANCE)
    state.write_text(json.dumps(data))
    main = config / "main.sg.hcl"
    main.write_text(main.read_text().replace('web_ports = "80,443"', 'web_ports = "443"')
                    .replace("security_group.web.id]", "security_group.web.id, security_group.ping.id]")
                    + PING)
    planned = run_cli(capsys, "plan", "qs", "--out", "pr.plan")
    assert planned.code == 0, planned.err
    return config, state, tmp_path / "pr.plan"


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _first(ops: list[dict[str, Any]], action: str) -> dict[str, Any]:
    return next(op for op in ops if op["action"] == action)


def _port_80_to_22(d: dict[str, Any]) -> None:
    text = json.dumps(d["operations"]).replace('"Port": "443"', '"Port": "22"')
    assert text != json.dumps(d["operations"])
    d["operations"] = json.loads(text)


def _delete_foreign(d: dict[str, Any]) -> None:
    op = d["operations"][0]
    op.update(action="DeleteSecurityGroup", params={"SecurityGroupId": "sg-foreign1"}, group="sg-foreign1", stage=6)


def _bind_unnamed(d: dict[str, Any]) -> None:
    _first(d["operations"], "ModifyInstancesAttribute")["params"]["InstanceIds"].append("ins-other001")


def _drop_last_operation(d: dict[str, Any]) -> None:
    d["operations"].pop()


def _duplicate_operation(d: dict[str, Any]) -> None:
    d["operations"].append(dict(d["operations"][0]))


def _reorder(d: dict[str, Any]) -> None:
    d["operations"].reverse()


def _change_after_only(d: dict[str, Any]) -> None:
    change = next(c for c in d["resource_changes"] if c["address"] == "security_group.web")
    change["after"]["ingress"][0]["port"] = "80,443"


def _hide_exposure(d: dict[str, Any]) -> None:
    d["exposure_changes"] = []


def _hide_findings_and_warnings(d: dict[str, Any]) -> None:
    d["findings"], d["warnings"] = [], []


def _version(d: dict[str, Any]) -> None:
    op = next(op for op in d["operations"] if op.get("expected_version") is not None)
    op["expected_version"] += 1


def _other_stack(d: dict[str, Any]) -> None:
    d["stack"] = "other-stack"


def _cloud_elsewhere(d: dict[str, Any]) -> None:
    d["cloud"] = "http://127.0.0.1:9"


def _config_elsewhere(d: dict[str, Any]) -> None:
    d["config_dir"] = "/etc"


def _fingerprint(d: dict[str, Any]) -> None:
    d["fingerprint"]["groups"][0][1] += 5


def _summary_text(d: dict[str, Any]) -> None:
    d["operations"][0]["summary"] = "harmless"


def _config_hash(d: dict[str, Any]) -> None:
    d["config_hash"] = "0" * 64


def _action_rename(d: dict[str, Any]) -> None:
    _first(d["operations"], "ModifyInstancesAttribute")["action"] = "AssociateSecurityGroups"


def _add_rule_change_note(d: dict[str, Any]) -> None:
    d["resource_changes"][0]["notes"].append("reviewed by security")


TAMPERINGS = {
    "port-80-to-22": _port_80_to_22,
    "operation-deletes-a-foreign-group": _delete_foreign,
    "instance-ids-gain-an-unnamed-instance": _bind_unnamed,
    "an-operation-removed": _drop_last_operation,
    "an-operation-added": _duplicate_operation,
    "operations-reordered": _reorder,
    "resource-change-without-operation": _change_after_only,
    "exposure-changes-hidden": _hide_exposure,
    "findings-and-warnings-hidden": _hide_findings_and_warnings,
    "expected-version-changed": _version,
    "stack-changed": _other_stack,
    "cloud-pointed-elsewhere": _cloud_elsewhere,
    "configuration-pointed-elsewhere": _config_elsewhere,
    "fingerprint-changed": _fingerprint,
    "summary-text-changed": _summary_text,
    "config-hash-changed": _config_hash,
    "action-renamed": _action_rename,
    "note-added": _add_rule_change_note,
}


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_a_tampered_plan_is_refused_and_nothing_changes(name: str, reviewed, capsys) -> None:
    config, state, plan = reviewed
    _edit(plan, TAMPERINGS[name])
    before = state.read_bytes()
    result = run_cli(capsys, "apply", plan, "--auto-approve", "--allow-destroy")
    assert result.code == 1, result.out
    assert state.read_bytes() == before
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert result.err.strip(), "a refusal says why"


def test_the_untampered_plan_applies_and_converges(reviewed, capsys) -> None:
    config, state, plan = reviewed
    result = run_cli(capsys, "apply", plan, "--auto-approve")
    assert result.code == 0, result.err
    data = json.loads(state.read_text())
    assert any(g["SecurityGroupId"] == "sg-foreign1" for g in data["SecurityGroups"])
    assert run_cli(capsys, "plan", "qs", "--detailed-exitcode").code == 0


def test_show_and_apply_read_the_same_file(reviewed, capsys) -> None:
    config, state, plan = reviewed
    shown = run_cli(capsys, "show", plan)
    planned = run_cli(capsys, "plan", "qs")
    assert shown.code == 0 and shown.out == planned.out


def test_a_changed_configuration_is_refused(reviewed, capsys) -> None:
    config, state, plan = reviewed
    main = config / "main.sg.hcl"
    main.write_text(main.read_text().replace('web_ports = "443"', 'web_ports = "22,443"'))
    before = state.read_bytes()
    result = run_cli(capsys, "apply", plan, "--auto-approve")
    assert result.code == 1 and "another configuration" in result.err
    assert state.read_bytes() == before


def test_a_plan_file_never_names_code_to_run(reviewed, capsys, tmp_path: Path) -> None:
    """Format 1 rebuilt findings by the class names in the file (`{"__enum__": "sgplan.…:os.system"}`
    ran a command). The schema decoder has no such path: the value is a damaged field."""
    config, state, plan = reviewed
    marker = tmp_path / "pwned"
    payload = {"__enum__": "sgplan.plan.planfile:os.system", "value": f"touch {marker}"}
    _edit(plan, lambda d: d["findings"].append(payload))
    for command in (("show", plan), ("apply", plan, "--auto-approve")):
        result = run_cli(capsys, *command)
        assert result.code == 1 and "damaged plan file" in result.err, result.err
    _edit(plan, lambda d: d.update(findings=[{"__class__": "os:system", "fields": {"command": f"touch {marker}"}}]))
    assert run_cli(capsys, "show", plan).code == 1
    assert not marker.exists()


@pytest.mark.parametrize("text", ["", "null", "[]", "0", '{"format_version": "2"}', "[" * 100000,
                                  '{"format_version": "2", "operations": "' + "x" * 10 + '"}', "1" * 5000])
def test_malformed_plan_files_are_one_line_errors(text: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.plan"
    path.write_text(text)
    result = run_cli(capsys, "show", path)
    assert result.code == 1
    assert len(result.err.strip().splitlines()) == 1 and str(path) in result.err
    assert "internal error" not in result.err


@pytest.mark.parametrize("seed", ["1", "2"])
def test_plan_and_apply_in_different_processes_agree(seed: str, reviewed, tmp_path: Path) -> None:
    """The verification compares whole plans, so planning must not depend on the process (string
    hash order): the PR job and the merge job are different processes."""
    from tests.e2e.cli import run_subprocess

    config, state, plan = reviewed
    made = run_subprocess("plan", "qs", "--out", "again.plan", cwd=tmp_path, env={"PYTHONHASHSEED": "0"})
    assert made.code == 0, made.err
    applied = run_subprocess("apply", "again.plan", "--auto-approve", cwd=tmp_path, env={"PYTHONHASHSEED": seed})
    assert applied.code == 0, applied.err
