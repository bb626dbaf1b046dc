"""Contracts through the CLI (issue 16): plan proves every `expect` block, apply refuses a
violated one, and the results reach text, JSON, markdown and the plan file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import run_cli

STATE = {"Region": "ap-guangzhou", "SecurityGroups": [],
         "Instances": [{"InstanceId": "ins-aaaa1111", "SecurityGroupIds": []},
                       {"InstanceId": "ins-bbbb2222", "SecurityGroupIds": []}]}

DROP_SSH = """
  ingress {
    action     = "DROP"
    protocol   = "TCP"
    port       = "22"
    cidr_block = "0.0.0.0/0"
  }"""
ACCEPT_ALL = """
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "ALL"
    cidr_block = "0.0.0.0/0"
  }"""


def config(first: str, second: str) -> str:
    return f"""sgplan {{ stack = "contracts" }}

security_group "web" {{{first}{second}
}}

binding "web_servers" {{
  instance_ids    = ["ins-aaaa1111", "ins-bbbb2222"]
  security_groups = [security_group.web.id]
}}

expect "no_public_ssh" {{
  direction = "ingress"
  peer      = ["internet"]
  protocol  = "TCP"
  ports     = "22"
  decision  = "deny"
}}

expect "web_open" {{
  instances = binding.web_servers.instance_ids
  direction = "ingress"
  peer      = ["0.0.0.0/0"]
  protocol  = "TCP"
  ports     = "80,443"
  decision  = "allow"
}}
"""


def setup(tmp_path: Path, text: str) -> tuple[Path, str]:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "main.sg.hcl").write_text(text)
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    return tmp_path / "cfg", f"file:{state}"


def test_order_only_change_violates_and_apply_refuses(tmp_path: Path, capsys) -> None:
    cfg, cloud = setup(tmp_path, config(DROP_SSH, ACCEPT_ALL))
    first = run_cli(capsys, "plan", cfg, "--cloud", cloud)
    assert first.code == 0, first.err
    assert "✓ contract expect.no_public_ssh holds" in first.out
    assert run_cli(capsys, "apply", cfg, "--cloud", cloud, "--auto-approve").code == 0

    # Move the ACCEPT above the DROP: same rules, other order.
    (cfg / "main.sg.hcl").write_text(config(ACCEPT_ALL, DROP_SSH))
    plan = run_cli(capsys, "plan", cfg, "--cloud", cloud, "--detailed-exitcode", "--out", tmp_path / "p.plan")
    assert plan.code == 1
    assert not (tmp_path / "p.plan").exists()
    line = next(x for x in plan.err.splitlines() if "no_public_ssh" in x)
    # file:line of the expect block, the counterexample, and the moved rule with its line.
    assert line.startswith(f"{cfg / 'main.sg.hcl'}:")
    assert "this change violates it" in line
    assert "TCP 22 from" in line and "security_group.web ingress[0]" in line
    assert line.endswith("main.sg.hcl:4)")
    assert "web_open" not in plan.err

    data = run_cli(capsys, "plan", cfg, "--cloud", cloud, "--json")
    assert data.code == 1
    results = {r["address"]: r for r in data.json()["contract_results"]}
    broken = results["expect.no_public_ssh"]
    assert (broken["status"], broken["before"], broken["change"]) == ("fail", "pass", "violated-by-change")
    cx = broken["counterexample"]
    assert cx["ports"] == "22" and cx["decision"] == "ACCEPT" and cx["rule"]["policy_index"] == 0
    assert cx["rule"]["line"] == 4 and cx["more_instances"] == 1
    assert results["expect.web_open"]["status"] == "pass"

    # The sample flow of the counterexample is what `explain` decides on the planned state.
    explained = run_cli(capsys, "explain", cfg, "--cloud", cloud, "--instance", cx["instance_id"],
                        "--direction", "ingress", "--protocol", "TCP", "--port", str(cx["sample"]["port"]),
                        "--peer", cx["sample"]["peer"], "--json")
    assert explained.code == 0, explained.err
    assert explained.json()["decision"] == "ACCEPT" and explained.json()["matched"]["policy_index"] == 0

    md = run_cli(capsys, "plan", cfg, "--cloud", cloud, "--markdown")
    assert "Contracts: 1 of 2 violated" in md.out

    refused = run_cli(capsys, "apply", cfg, "--cloud", cloud, "--auto-approve")
    assert refused.code == 1 and "contract(s) violated" in refused.err
    live = json.loads((tmp_path / "live.json").read_text())
    [group] = live["SecurityGroups"]
    assert group["SecurityGroupPolicySet"]["Ingress"][0]["Action"] == "DROP"  # nothing applied


def test_already_violated_is_told_apart(tmp_path: Path, capsys) -> None:
    # Applied without contracts, then the contract is added: the live state breaks it already.
    cfg, cloud = setup(tmp_path, config(ACCEPT_ALL, DROP_SSH).split('expect "no_public_ssh"')[0])
    assert run_cli(capsys, "apply", cfg, "--cloud", cloud, "--auto-approve").code == 0
    (cfg / "main.sg.hcl").write_text(config(ACCEPT_ALL, DROP_SSH))
    plan = run_cli(capsys, "plan", cfg, "--cloud", cloud, "--json")
    assert plan.code == 1
    [broken] = [r for r in plan.json()["contract_results"] if r["status"] == "fail"]
    assert broken["change"] == "already-violated"


def test_saved_plan_round_trips_its_contract_results(tmp_path: Path, capsys) -> None:
    cfg, cloud = setup(tmp_path, config(DROP_SSH, ACCEPT_ALL))
    out = tmp_path / "ok.plan"
    assert run_cli(capsys, "plan", cfg, "--cloud", cloud, "--out", out).code == 0
    saved = json.loads(out.read_text())
    assert [r["status"] for r in saved["contract_results"]] == ["pass", "pass"]
    shown = run_cli(capsys, "show", out)
    assert "✓ contract expect.web_open holds" in shown.out
    applied = run_cli(capsys, "apply", out, "--cloud", cloud, "--auto-approve", "--config-dir", cfg)
    assert applied.code == 0, applied.err


def test_validation_errors_name_file_and_line(tmp_path: Path, capsys) -> None:
    text = config(DROP_SSH, ACCEPT_ALL).replace('ports     = "22"', 'ports     = "99999"').replace(
        'protocol  = "TCP"\n  ports     = "80,443"', 'protocol  = "ICMP"\n  ports     = "80,443"')
    cfg, cloud = setup(tmp_path, text)
    result = run_cli(capsys, "validate", cfg)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert any(x.startswith(f"{cfg / 'main.sg.hcl'}:") and "ports:" in x and "99999" in x for x in lines), lines
    assert any("ports:" in x and "ICMP" in x for x in lines), lines
    assert "Traceback" not in result.err


def test_contracts_example_holds_and_a_widened_variable_breaks_it(tmp_path: Path, capsys) -> None:
    from tests.e2e.test_examples import copy_example

    directory = copy_example("contracts", tmp_path)
    cloud = f"file:{directory / 'live.json'}"
    ok = run_cli(capsys, "plan", directory, "--cloud", cloud, "--json")
    assert ok.code == 0, ok.err
    assert [r["status"] for r in ok.json()["contract_results"]] == ["pass"] * 5
    bad = run_cli(capsys, "plan", directory, "--cloud", cloud, "--var", 'admin_cidrs=["0.0.0.0/0"]')
    assert bad.code == 1
    [line] = bad.err.strip().splitlines()
    assert "expect.no_public_ssh" in line and "module.admin.security_group.this ingress[0]" in line


def test_security_groups_selector_in_hcl(tmp_path: Path, capsys) -> None:
    text = config(ACCEPT_ALL, DROP_SSH).split('expect "no_public_ssh"')[0] + """
expect "web_no_ssh" {
  security_groups = [security_group.web.id]
  direction       = "ingress"
  peer            = ["internet"]
  protocol        = "TCP"
  ports           = "22"
  decision        = "deny"
}
"""
    cfg, cloud = setup(tmp_path, text)
    plan = run_cli(capsys, "plan", cfg, "--cloud", cloud, "--json")
    assert plan.code == 1
    [result] = [r for r in plan.json()["contract_results"] if r["address"] == "expect.web_no_ssh"]
    assert result["instances"] == 2 and result["status"] == "fail"
    both = text.replace('  direction       = "ingress"', '  instances       = ["ins-aaaa1111"]\n  direction       = "ingress"')
    (cfg / "main.sg.hcl").write_text(both)
    bad = run_cli(capsys, "validate", cfg)
    assert bad.code == 1 and "not both" in bad.err
