"""Deleting a group that another product still uses (issue 13): DescribeSecurityGroupAssociation-
Statistics is read, the plan notes what still uses the group, and apply refuses before its first
call instead of stopping half-way at a late ResourceInUse."""

from __future__ import annotations

import json
from pathlib import Path

from sgplan.cloud.reader import deletion_usage
from sgplan.cloud.usage import group_usage
from sgplan.fakecloud.filecloud import FileCloud
from sgplan.model import CloudState, DesiredState, SecurityGroup, Settings
from sgplan.plan.diff import make_plan, with_usage
from tests.e2e.cli import run

OWNED = [{"Key": "sgplan-stack", "Value": "prod"}, {"Key": "sgplan-address", "Value": "security_group.old"}]
STATE = {
    "Region": "ap-guangzhou",
    "SecurityGroups": [{"SecurityGroupId": "sg-old00001", "SecurityGroupName": "old", "TagSet": OWNED}],
    "Instances": [{"InstanceId": "ins-aaaa1111", "SecurityGroupIds": ["sg-old00001"]}],
    "OtherAssociations": [{"ResourceType": "CLB", "ResourceId": "lb-web00001", "SecurityGroupIds": ["sg-old00001"]}],
}
CONFIG = 'sgplan { stack = "prod" }\nsecurity_group "new" {\n  description = "n"\n}\n'


def test_usage_is_read_in_batches_and_only_non_cvm_users_count(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(STATE))
    client = FileCloud(path, "ap-guangzhou")
    try:
        assert group_usage(client, ["sg-old00001", "sg-gone0001"]) == {"sg-old00001": {"CLB": 1}}
        assert client.calls == 3  # the batch named a group that is gone: read again one by one
    finally:
        client.close()


def test_the_plan_notes_what_still_uses_a_group_it_deletes(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(STATE))
    live = CloudState(region="ap-guangzhou", groups=(SecurityGroup("old", id="sg-old00001", address="security_group.old",
                                                                    stack="prod", version="0"),))
    plan, _ = make_plan(DesiredState(Settings(stack="prod")), live, cloud="file:x", region="ap-guangzhou")
    client = FileCloud(path, "ap-guangzhou")
    try:
        noted = with_usage(plan, deletion_usage(client, plan))
    finally:
        client.close()
    (change,) = noted.resource_changes
    assert change.actions == ("delete",)
    assert any("still used by 1 CLB" in n for n in change.notes)
    assert any("security_group.old: still used by 1 CLB" in w for w in noted.warnings)
    assert with_usage(plan, {}) is plan


def test_apply_refuses_before_its_first_call(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(STATE))
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text(CONFIG)
    before = path.read_bytes()
    code, out, err = run("apply", cfg, "--cloud", f"file:{path}", "--auto-approve", "--allow-destroy")
    assert code == 1
    assert "cannot delete security_group.old (sg-old00001): still used by 1 CLB" in out + err
    assert "Traceback" not in out + err
    assert path.read_bytes() == before  # nothing created, unbound or deleted: not half-way


def test_sgplan_plan_shows_what_still_uses_the_group(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(STATE))
    cfg = tmp_path / "plan-cfg"
    cfg.mkdir()
    (cfg / "main.sg.hcl").write_text(CONFIG)
    code, out, err = run("plan", cfg, "--cloud", f"file:{path}")
    assert code == 0, err
    assert "still used by 1 CLB" in out + err
