"""Tag changes on an existing group, end to end through the CLI (DESIGN §3, issue 13 "Done when"):
plan shows the update → apply makes one minimal tag-service call → the next plan has no changes.
Runs on the embedded fake and on the HTTP fake through the unmodified SDK (tag client included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import run
from tests.e2e.conftest import cloud  # noqa: F401 (the parametrised file/http cloud fixture)

CONFIG = """
sgplan { stack = "prod" }
security_group "web" {
  description = "web"
  tags = { team = "web", env = "prod" }
  ingress {
    action = "ACCEPT"
    protocol = "TCP"
    port = "443"
    cidr_block = "0.0.0.0/0"
  }
}
"""


def _tags(state: dict) -> dict[str, str]:
    regions = state.get("Regions")
    groups = (regions["ap-guangzhou"] if regions else state)["SecurityGroups"]
    (group,) = groups
    return {t["Key"]: t["Value"] for t in group["TagSet"]}


def test_tag_change_on_an_existing_group_is_applied_and_converges(tmp_path: Path, cloud) -> None:  # noqa: F811
    target = cloud({"Region": "ap-guangzhou"})
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text(CONFIG)
    flags = ["--cloud", target.spec, "--region", "ap-guangzhou"]
    assert run("apply", cfg, *flags, "--auto-approve")[0] == 0

    # team changes, env goes, owner comes: one ModifyResourceTags with exactly those keys.
    (cfg / "main.sg.hcl").write_text(CONFIG.replace('team = "web", env = "prod"', 'team = "payments", owner = "ops"'))
    code, out, err = run("plan", cfg, *flags, "--json", "--detailed-exitcode")
    assert code == 2, err
    plan = json.loads(out)
    (change,) = plan["resource_changes"]
    assert change["change"]["actions"] == ["update"]
    assert change["change"]["after"]["tags"] == {"owner": "ops", "team": "payments"}
    assert plan["summary"]["update"] == 1

    code, out, err = run("apply", cfg, *flags, "--auto-approve")
    assert code == 0, err
    assert _tags(target.load()) == {"sgplan-stack": "prod", "sgplan-address": "security_group.web",
                                    "team": "payments", "owner": "ops"}
    code, out, err = run("plan", cfg, *flags, "--detailed-exitcode")
    assert code == 0, out + err


@pytest.mark.parametrize("region", ["ap-guangzhou", "ap-shanghai"])
def test_two_regions_in_one_fake_do_not_see_each_other(tmp_path: Path, cloud, region: str) -> None:  # noqa: F811
    """DESIGN §4: a group created in one region is invisible in the other."""
    target = cloud({"Regions": {"ap-guangzhou": {}, "ap-shanghai": {}}})
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text(CONFIG)
    other = "ap-shanghai" if region == "ap-guangzhou" else "ap-guangzhou"
    assert run("apply", cfg, "--cloud", target.spec, "--region", region, "--auto-approve")[0] == 0
    code, out, _ = run("plan", cfg, "--cloud", target.spec, "--region", other, "--json")
    assert code == 0 and json.loads(out)["summary"]["create"] == 1
    code, out, _ = run("plan", cfg, "--cloud", target.spec, "--region", region, "--json")
    assert code == 0 and json.loads(out)["summary"]["create"] == 0
    regions = target.load()["Regions"]
    assert len(regions[region]["SecurityGroups"]) == 1 and not regions[other].get("SecurityGroups")
