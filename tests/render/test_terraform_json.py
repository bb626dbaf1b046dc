"""`plan --json` read by tools written for Terraform plans (issue 15): two independent consumers of
Terraform's plan JSON from PyPI (flatplan walks planned_values.root_module and configuration's
provider_config; readtheplan classifies resource_changes), and a policy written against
Terraform's plan format ("deny any create of a rule with 0.0.0.0/0 and port 22")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.cli import run

flattener = pytest.importorskip("flatplan.flattener")
readtheplan = pytest.importorskip("readtheplan")

ROOT = Path(__file__).resolve().parents[2]

# A pull request that opens SSH to the internet, inside a module and at the root.
OPEN_SSH = """
security_group "bastion" {
  name = "bastion"
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "22"
    cidr_block = "0.0.0.0/0"
  }
}
module "web" {
  source = "sgplan/web"
  name   = "web-extra"
}
"""


def _plan_json(tmp_path: Path, extra: str = "") -> dict[str, Any]:
    directory = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", directory)
    if extra:
        (directory / "extra.sg.hcl").write_text(extra)
    code, out, err = run("plan", directory, "--json")
    assert code in (0, 1), err  # 1: a contract may fail on purpose
    return json.loads(out)


def test_flatplan_reads_the_resources_and_the_provider(tmp_path: Path) -> None:
    doc = _plan_json(tmp_path, OPEN_SSH)
    flat = flattener.PlanFlattener(json.dumps(doc)).flatten()
    addresses = sorted(r["address"] for r in flat["resources"])
    assert "security_group.bastion" in addresses and "module.web.security_group.this" in addresses
    assert 'binding.web_servers["ins-web00001"]' in addresses
    assert [p["full_name"] for p in flat["providers"]] == ["registry.terraform.io/sgplan/tencentcloud"]
    bastion = next(r for r in flat["resources"] if r["address"] == "security_group.bastion")
    assert bastion["values"]["id"] is None and bastion["values"]["ingress"][0]["port"] == "22"


def test_readtheplan_classifies_the_changes(tmp_path: Path) -> None:
    doc = _plan_json(tmp_path, OPEN_SSH)
    summary = readtheplan.analyze(doc)
    assert summary.terraform_version == doc["sgplan_version"]
    by_address = {c.address: c for c in summary.resource_changes}
    assert by_address["security_group.bastion"].actions == ("create",)
    assert by_address["module.web.security_group.this"].resource_type == "security_group"
    assert sum(summary.action_counts.values()) == len(doc["resource_changes"])


def test_terraform_fields_are_all_there(tmp_path: Path) -> None:
    doc = _plan_json(tmp_path)
    assert doc["format_version"] == "1.2"
    for key in ("terraform_version", "resource_changes", "output_changes", "prior_state", "planned_values",
                "configuration", "applyable", "complete", "errored"):
        assert key in doc
    for key in ("sgplan_version", "region", "stack", "exposure_changes", "exposure_summary", "findings",
                "contract_results", "transient_exposure", "summary", "operations"):
        assert key in doc  # sgplan's own fields stay
    for change in doc["resource_changes"]:
        assert change["mode"] == "managed" and change["provider_name"] == "registry.terraform.io/sgplan/tencentcloud"
        for key in ("actions", "before", "after", "after_unknown", "before_sensitive", "after_sensitive"):
            assert key in change["change"]
    binding = next(c for c in doc["resource_changes"] if c["type"] == "binding")
    assert binding["index"] == binding["id"]
    # The groups are created by this plan: their ids are unknown, never a reference string.
    assert binding["change"]["after"]["security_groups"] == [None, None]
    assert binding["change"]["after_unknown"] == {"security_groups": [True, True]}
    assert doc["output_changes"]["web_id"]["after_unknown"] is True
    assert "root_module" in doc["planned_values"] and "root_module" in doc["prior_state"]["values"]
    web = next(r for r in doc["configuration"]["root_module"]["resources"] if r["address"] == "security_group.web")
    assert web["provider_config_key"] == "tencentcloud"


# --- a policy written for Terraform plans, as one would for OPA/conftest or Sentinel -----------


def _ports(port: str | None) -> Iterator[tuple[int, int]]:
    for part in (port or "ALL").split(","):
        if part.upper() == "ALL":
            yield 1, 65535
        else:
            lo, _, hi = part.partition("-")
            yield int(lo), int(hi or lo)


def deny_public_ssh(plan: dict[str, Any]) -> list[str]:
    """deny[msg] { rc := input.resource_changes[_]; rc.change.actions[_] in {"create","update"};
    rule := rc.change.after.ingress[_]; rule.cidr_block == "0.0.0.0/0"; rule allows TCP 22 }"""
    messages = []
    for rc in plan["resource_changes"]:
        if not {"create", "update"} & set(rc["change"]["actions"]):
            continue
        before_rules = (rc["change"]["before"] or {}).get("ingress", []) or []
        for rule in (rc["change"]["after"] or {}).get("ingress", []) or []:
            if rule in before_rules or rule.get("action") != "ACCEPT" or rule.get("cidr_block") != "0.0.0.0/0":
                continue
            if rule.get("protocol") in ("TCP", "ALL") and any(lo <= 22 <= hi for lo, hi in _ports(rule.get("port"))):
                messages.append(f"{rc['address']}: ingress from 0.0.0.0/0 to port 22")
    return messages


def test_terraform_style_policy_runs_on_sgplan_json(tmp_path: Path) -> None:
    assert deny_public_ssh(_plan_json(tmp_path / "ok")) == []  # the quickstart keeps SSH to the office
    assert deny_public_ssh(_plan_json(tmp_path / "bad", OPEN_SSH)) == [
        "security_group.bastion: ingress from 0.0.0.0/0 to port 22"]
