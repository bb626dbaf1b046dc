"""A `moved` block's sgplan-address rewrite (DESIGN §3) is the one ownership-tag write the guard
lets through: exactly that tag, nothing else in the call, on a group this stack owns, to an
address a moved block names. Everything else that touches sgplan-* stays refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgplan.apply import execute
from sgplan.apply.guard import Scope
from sgplan.fakecloud.filecloud import FileCloud
from sgplan.plan.operation import Operation, Stage
from sgplan.plan.plan import Fingerprint, Plan
from tests.apply.test_guard import STATE

SCOPE = Scope.of("s", ["sg-pinned01"], ["ins-named001"], ["security_group.web"])
MINE = "qcs::cvm:ap-guangzhou:uin/:sg/sg-mine0001"


def _tag_op(params: dict, group: str = "sg-mine0001") -> Operation:
    return Operation(stage=Stage.EDIT_GROUPS, service="tag", action="ModifyResourceTags", params=params,
                     summary="move", group=group)


def _run(state: Path, op: Operation) -> tuple[bool, list[str]]:
    client = FileCloud(state, "ap-guangzhou", for_apply=True)
    try:
        plan = Plan(region="ap-guangzhou", stack="s", cloud="file:x", config_hash="", fingerprint=Fingerprint(),
                    operations=(op,))
        result = execute(plan, client, scope=SCOPE, sleep=lambda _s: None)
    finally:
        client.close()
    return result.ok, list(result.errors)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(STATE))
    return path


def test_the_move_rewrite_of_an_owned_group_passes(state: Path) -> None:
    ok, errors = _run(state, _tag_op({"Resource": MINE, "ReplaceTags": [
        {"TagKey": "sgplan-address", "TagValue": "security_group.web"}]}))
    assert ok, errors
    tags = {t["Key"]: t["Value"] for t in json.loads(state.read_text())["SecurityGroups"][0]["TagSet"]}
    assert tags == {"sgplan-stack": "s", "sgplan-address": "security_group.web"}


REFUSED = {
    "to an address no moved block names": {"Resource": MINE, "ReplaceTags": [
        {"TagKey": "sgplan-address", "TagValue": "security_group.other"}]},
    "with another tag in the same call": {"Resource": MINE, "ReplaceTags": [
        {"TagKey": "sgplan-address", "TagValue": "security_group.web"}, {"TagKey": "team", "TagValue": "x"}]},
    "with a delete in the same call": {"Resource": MINE, "ReplaceTags": [
        {"TagKey": "sgplan-address", "TagValue": "security_group.web"}], "DeleteTags": [{"TagKey": "team"}]},
    "the stack tag": {"Resource": MINE, "ReplaceTags": [{"TagKey": "sgplan-stack", "TagValue": "security_group.web"}]},
    "another stack's group": {"Resource": "qcs::cvm:ap-guangzhou:uin/:sg/sg-other001", "ReplaceTags": [
        {"TagKey": "sgplan-address", "TagValue": "security_group.web"}]},
    "a pinned group": {"Resource": "qcs::cvm:ap-guangzhou:uin/:sg/sg-pinned01", "ReplaceTags": [
        {"TagKey": "sgplan-address", "TagValue": "security_group.web"}]},
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_other_ownership_tag_writes_are_refused(name: str, state: Path) -> None:
    before = state.read_bytes()
    ok, errors = _run(state, _tag_op(REFUSED[name]))
    assert not ok
    assert state.read_bytes() == before
