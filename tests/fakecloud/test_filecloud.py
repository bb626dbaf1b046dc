"""FileCloud: apply creates a missing file and writes it back atomically, only after a change; reads never write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sgplan.cloud import snapshot as snapshot_module
from sgplan.cloud.base import CloudError
from sgplan.diagnostics import UserError
from sgplan.fakecloud.filecloud import FileCloud


def test_missing_file_is_created_empty_by_apply_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "live.json"
    with pytest.raises(UserError, match=r"live\.json: no such state file; check the path \(only `sgplan apply` creates one\)"):
        FileCloud(path, region="ap-guangzhou")
    assert not path.parent.exists()  # a read-only client creates nothing, not even a directory
    cloud = FileCloud(path, region="ap-guangzhou", for_apply=True)
    assert json.loads(path.read_text())["SecurityGroups"] == []
    assert cloud.region == "ap-guangzhou" and cloud.retries == 0
    body = cloud.call("vpc", "DescribeSecurityGroups", {})
    assert body == {"SecurityGroupSet": [], "TotalCount": 0} and cloud.calls == 1


def test_round_trip_and_write_only_on_change(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"Region": "ap-shanghai", "SecurityGroups": [{"SecurityGroupId": "sg-aaaaaaaa"}]}))
    untouched = path.read_text()
    with FileCloud(path) as cloud:
        assert cloud.region == "ap-shanghai"
        cloud.call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": "sg-aaaaaaaa"})
        with pytest.raises(CloudError):
            cloud.call("vpc", "DeleteSecurityGroup", {"SecurityGroupId": "sg-nothere0"})
    assert path.read_text() == untouched  # reads and failed calls write nothing
    with FileCloud(path, rng_seed=1, for_apply=True) as cloud:
        cloud.call("vpc", "CreateSecurityGroupPolicies", {"SecurityGroupId": "sg-aaaaaaaa", "SecurityGroupPolicySet": {
            "Ingress": [{"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}]}})
        created = cloud.call("vpc", "CreateSecurityGroup", {"GroupName": "n", "GroupDescription": ""})
    state = json.loads(path.read_text())
    assert [g["SecurityGroupId"] for g in state["SecurityGroups"]] == [
        "sg-aaaaaaaa", created["SecurityGroup"]["SecurityGroupId"]]
    assert state["SecurityGroups"][0]["SecurityGroupPolicySet"]["Version"] == "1"
    again = FileCloud(path)
    assert again.engine.state == state
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "live.json"
    cloud = FileCloud(path, for_apply=True)
    before = path.read_text()
    cloud.call("vpc", "CreateSecurityGroup", {"GroupName": "n", "GroupDescription": ""})

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(snapshot_module.os, "replace", boom)
    with pytest.raises(UserError, match="live.json: cannot write the state file; it was left as it was"):
        cloud.close()
    assert path.read_text() == before
    assert not [p for p in os.listdir(tmp_path) if p not in ("live.json", ".live.json.lock")]


def test_corrupt_file_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="live.json"):
        FileCloud(path)
    path.write_text(json.dumps({"SecurityGroups": [{"SecurityGroupName": "no id"}]}))
    with pytest.raises(UserError, match="SecurityGroupId"):
        FileCloud(path)


def test_state_is_normalised_once_and_answers_are_detached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `--cloud file:` hands the file's JSON to the engine, which normalises it once (issue 8).
    from sgplan.cloud import snapshot

    path = tmp_path / "live.json"
    rule = {"Protocol": "tcp", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT", "PolicyIndex": 0}
    path.write_text(json.dumps({"SecurityGroups": [
        {"SecurityGroupId": f"sg-{n}", "SecurityGroupPolicySet": {"Ingress": [rule]}} for n in range(2)]}))
    calls = []
    real = snapshot.normalize_state
    monkeypatch.setattr("sgplan.fakecloud.engine.normalize_state", lambda *a, **k: calls.append(1) or real(*a, **k))
    cloud = FileCloud(path, "ap-guangzhou")
    assert calls == [1] and cloud.region == "ap-guangzhou"
    first = cloud.call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": "sg-0"})
    first["SecurityGroupPolicySet"]["Ingress"][0]["AddressTemplate"]["AddressId"] = "ipm-changed"
    second = cloud.call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": "sg-1"})
    assert second["SecurityGroupPolicySet"]["Ingress"][0]["AddressTemplate"]["AddressId"] == ""


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("text", ['{"SecurityGroups": [{"SecurityGroupId": "sg-aaaaaaaa"}]}', '{"SecurityGroups": [',
                                  '{"SecurityGroups": [{"SecurityGroupId": 1}]}'])
def test_the_collector_runs_again_after_reading_a_state_good_or_bad(tmp_path: Path, lazy: bool, text: str) -> None:
    import gc

    path = tmp_path / "live.json"
    path.write_text(text)
    assert gc.isenabled()
    try:
        FileCloud(path, lazy=lazy).region  # (parsed and normalised with the collector held)
    except UserError:
        pass
    assert gc.isenabled()
