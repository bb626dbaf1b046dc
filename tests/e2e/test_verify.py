"""`sgplan verify` (issue 16): contracts and checks on the live cloud only; exit codes; SARIF
valid against the OASIS SARIF 2.1.0 schema, located at the deciding rule and the expect block."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.e2e.cli import run_cli
from tests.e2e.test_contracts import ACCEPT_ALL, DROP_SSH, config, setup

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"


def validate_sarif(path: Path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)
    return doc


def test_verify_reads_only_the_live_cloud_and_exits_by_verdict(tmp_path: Path, capsys) -> None:
    cfg, cloud = setup(tmp_path, config(DROP_SSH, ACCEPT_ALL))
    assert run_cli(capsys, "apply", cfg, "--cloud", cloud, "--auto-approve").code == 0
    ok = run_cli(capsys, "verify", cfg, "--cloud", cloud, "--sarif", tmp_path / "ok.sarif")
    assert ok.code == 0, ok.err
    assert "2 of 2 contract(s) hold" in ok.out
    doc = validate_sarif(tmp_path / "ok.sarif")
    assert not [r for r in doc["runs"][0]["results"] if r["ruleId"] == "contract-violated"]

    # The configuration now orders the rules badly, but verify looks at the live cloud only.
    (cfg / "main.sg.hcl").write_text(config(ACCEPT_ALL, DROP_SSH))
    assert run_cli(capsys, "verify", cfg, "--cloud", cloud).code == 0

    # Drift: someone reorders the live rules out of band.
    state = json.loads((tmp_path / "live.json").read_text())
    ingress = state["SecurityGroups"][0]["SecurityGroupPolicySet"]["Ingress"]
    ingress.reverse()
    for index, rule in enumerate(ingress):
        rule["PolicyIndex"] = index
    (tmp_path / "live.json").write_text(json.dumps(state))
    (cfg / "main.sg.hcl").write_text(config(DROP_SSH, ACCEPT_ALL))
    before = (tmp_path / "live.json").read_text()
    bad = run_cli(capsys, "verify", cfg, "--cloud", cloud, "--json", "--sarif", tmp_path / "bad.sarif")
    assert bad.code == 1
    assert (tmp_path / "live.json").read_text() == before  # nothing written
    data = bad.json()
    assert data["summary"]["violated"] == 1
    [broken] = [r for r in data["contract_results"] if r["status"] == "fail"]
    assert broken["address"] == "expect.no_public_ssh" and broken["before"] is None
    assert broken["counterexample"]["rule"]["policy_index"] == 0
    assert any(line.startswith(f"{cfg / 'main.sg.hcl'}:") and "no_public_ssh" in line for line in bad.err.splitlines())

    doc = validate_sarif(tmp_path / "bad.sarif")
    run = doc["runs"][0]
    [result] = [r for r in run["results"] if r["ruleId"] == "contract-violated"]
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "contract-violated"
    assert result["level"] == "error"
    location = result["locations"][0]
    # Live rules have no configuration line: the result points at the expect block.
    assert location["physicalLocation"]["artifactLocation"]["uri"].endswith("main.sg.hcl")


def test_verify_fail_on_and_usage_errors(tmp_path: Path, capsys) -> None:
    cfg, cloud = setup(tmp_path, config(DROP_SSH, ACCEPT_ALL))
    assert run_cli(capsys, "apply", cfg, "--cloud", cloud, "--auto-approve").code == 0
    # The accept-all rule leaves every other port open to the internet: a high finding.
    assert run_cli(capsys, "verify", cfg, "--cloud", cloud, "--fail-on", "high").code == 1
    bad = run_cli(capsys, "verify", cfg, "--cloud", cloud, "--fail-on", "urgent")
    assert bad.code == 1 and "--fail-on" in bad.err and "Traceback" not in bad.err
    missing = run_cli(capsys, "verify", tmp_path / "nope", "--cloud", cloud)
    assert missing.code == 1 and len(missing.err.strip().splitlines()) == 1


def test_verify_names_the_configured_line_when_live_matches_it(tmp_path: Path, capsys) -> None:
    text = config(ACCEPT_ALL, DROP_SSH)
    cfg, cloud = setup(tmp_path, text.split('expect "no_public_ssh"')[0])
    assert run_cli(capsys, "apply", cfg, "--cloud", cloud, "--auto-approve").code == 0
    (cfg / "main.sg.hcl").write_text(text)
    bad = run_cli(capsys, "verify", cfg, "--cloud", cloud, "--sarif", tmp_path / "v.sarif")
    assert bad.code == 1
    assert "security_group.web ingress[0]" in bad.err and bad.err.strip().endswith("main.sg.hcl:4)")
    doc = validate_sarif(tmp_path / "v.sarif")
    [result] = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "contract-violated"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
    assert result["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] > 4


def test_check_reports_contracts_on_the_planned_state(tmp_path: Path, capsys) -> None:
    cfg, cloud = setup(tmp_path, config(ACCEPT_ALL, DROP_SSH))
    result = run_cli(capsys, "check", cfg, "--cloud", cloud, "--json", "--sarif", tmp_path / "c.sarif")
    assert result.code == 1
    assert {r["address"]: r["status"] for r in result.json()["contract_results"]} == {
        "expect.no_public_ssh": "fail", "expect.web_open": "pass"}
    doc = validate_sarif(tmp_path / "c.sarif")
    assert [r["ruleId"] for r in doc["runs"][0]["results"]].count("contract-violated") == 1


def test_verify_through_both_clouds(cloud, tmp_path: Path, capsys) -> None:
    """The embedded fake and the HTTP fake through the unmodified SDK give the same verdicts."""
    from tests.e2e.test_contracts import STATE

    target = cloud(STATE)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    text = config(ACCEPT_ALL, DROP_SSH)
    (cfg / "main.sg.hcl").write_text(text.split('expect "no_public_ssh"')[0])
    where = ("--cloud", target.spec, "--region", "ap-guangzhou")
    assert run_cli(capsys, "apply", cfg, *where, "--auto-approve").code == 0
    (cfg / "main.sg.hcl").write_text(text)
    bad = run_cli(capsys, "verify", cfg, *where, "--json")
    assert bad.code == 1
    assert {r["address"]: r["status"] for r in bad.json()["contract_results"]} == {
        "expect.no_public_ssh": "fail", "expect.web_open": "pass"}


def test_expect_blocks_in_modules(tmp_path: Path, capsys) -> None:
    from tests.e2e.test_contracts import STATE

    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "mod").mkdir()
    (root / "mod" / "main.sg.hcl").write_text(
        'variable "ids" { type = list(string) }\n'
        'security_group "this" {\n' + ACCEPT_ALL + "\n}\n"
        'binding "here" {\n  instance_ids    = var.ids\n  security_groups = [security_group.this.id]\n}\n'
        'expect "no_ssh" {\n  instances = binding.here.instance_ids\n  direction = "ingress"\n'
        '  peer      = ["internet"]\n  protocol  = "TCP"\n  ports     = "22"\n  decision  = "deny"\n}\n')
    cfg = root / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text('sgplan { stack = "m" }\nmodule "web" {\n  source = "../mod"\n'
                                     '  ids    = ["ins-aaaa1111"]\n}\n')
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    plan = run_cli(capsys, "plan", cfg, "--cloud", f"file:{state}", "--json")
    assert plan.code == 1
    [result] = plan.json()["contract_results"]
    assert result["address"] == "module.web.expect.no_ssh" and result["instances"] == 1
    assert result["counterexample"]["rule"]["address"] == "module.web.security_group.this"
