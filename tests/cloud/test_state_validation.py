"""State files are untrusted input (issues 11 §6, 12 §10): a malformed one is a one-line
`PATH: field: message` UserError — never an internal error, never a silent misread — and
anything the real API could have produced reads and writes back safely, in both file forms."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from sgplan.cloud import snapshot
from sgplan.cloud.snapshot import load_state
from sgplan.diagnostics import UserError
from sgplan.fakecloud.filecloud import FileCloud

RULE = {"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}


def _j(document: Any) -> bytes:
    return json.dumps(document).encode()


def _group(**fields: Any) -> dict[str, Any]:
    return {"SecurityGroupId": "sg-aaaaaaaa", **fields}


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


# (case id, file bytes, what the message must say after "PATH: ")
MALFORMED: list[tuple[str, bytes, str]] = [
    ("zero-bytes", b"", "the file is empty"),
    ("only-whitespace", b" \n\t\n", "the file is empty"),
    ("null", b"null", "(top level): a state file must be a JSON object, not null"),
    ("list", b"[]", "(top level): a state file must be a JSON object, not a list"),
    ("zero", b"0", "(top level): a state file must be a JSON object, not a number"),
    ("string", b'"x"', "(top level): a state file must be a JSON object, not a string"),
    ("groups-string", _j({"SecurityGroups": "sg-abc"}), "SecurityGroups: must be a list, not a string"),
    ("groups-object", _j({"SecurityGroups": {}}), "SecurityGroups: must be a list, not an object"),
    ("groups-zero", _j({"SecurityGroups": 0}), "SecurityGroups: must be a list, not a number"),
    ("group-not-object", _j({"SecurityGroups": ["sg-abc"]}), "SecurityGroups[0]: must be an object, not a string"),
    ("group-id-number", _j({"SecurityGroups": [{"SecurityGroupId": 7}]}),
     "SecurityGroups[0].SecurityGroupId: must be a security group id"),
    ("instance-groups-string", _j({"Instances": [{"InstanceId": "ins-1", "SecurityGroupIds": "sg-abc"}]}),
     "Instances[0].SecurityGroupIds: must be a list, not a string"),
    ("instance-group-number", _j({"Instances": [{"InstanceId": "ins-1", "SecurityGroupIds": [1]}]}),
     "Instances[0].SecurityGroupIds[0]: must be a string, not a number"),
    ("instance-id-missing", _j({"Instances": [{"SecurityGroupIds": []}]}), "Instances[0].InstanceId: must be"),
    ("tags-string", _j({"SecurityGroups": [_group(TagSet="team=web")]}),
     "SecurityGroups[0].TagSet: must be a list of {Key, Value} objects, not a string"),
    ("tag-key-number", _j({"SecurityGroups": [_group(TagSet=[{"Key": 1, "Value": "x"}])]}),
     "SecurityGroups[0].TagSet[0].Key: must be a non-empty string"),
    ("is-default-text", _j({"SecurityGroups": [_group(IsDefault="yes")]}),
     "SecurityGroups[0].IsDefault: must be true or false, not a string"),
    ("name-list", _j({"SecurityGroups": [_group(SecurityGroupName=["web"])]}),
     "SecurityGroups[0].SecurityGroupName: must be a string, not a list"),
    ("policy-set-list", _j({"SecurityGroups": [_group(SecurityGroupPolicySet=[])]}),
     "SecurityGroups[0].SecurityGroupPolicySet: must be an object, not a list"),
    ("ingress-object", _j({"SecurityGroups": [_group(SecurityGroupPolicySet={"Ingress": {}})]}),
     "SecurityGroups[0].SecurityGroupPolicySet.Ingress: must be a list, not an object"),
    ("port-list", _j({"SecurityGroups": [_group(SecurityGroupPolicySet={"Ingress": [{**RULE, "Port": ["22"]}]})]}),
     "SecurityGroups[0].SecurityGroupPolicySet.Ingress[0].Port: must be a string, not a list"),
    ("rule-bad-cidr", _j({"SecurityGroups": [_group(SecurityGroupPolicySet={"Egress": [{**RULE, "CidrBlock": "x"}]})]}),
     "SecurityGroups[0].SecurityGroupPolicySet.Egress[0]: CidrBlock 'x' is malformed"),
    ("version-5000-digits", _j({"SecurityGroups": [_group(SecurityGroupPolicySet={"Version": "9" * 5000})]}),
     "SecurityGroups[0].SecurityGroupPolicySet.Version: must be a whole number of at most 18 digits"),
    ("version-word", _j({"SecurityGroups": [_group(SecurityGroupPolicySet={"Version": "three"})]}),
     "SecurityGroupPolicySet.Version: must be a whole number"),
    ("project-word", _j({"SecurityGroups": [_group(ProjectId="default")]}),
     "SecurityGroups[0].ProjectId: must be a whole number"),
    ("misspelt-group-field", _j({"SecurityGroups": [_group(SecurityGroupPolicySets={"Ingress": [RULE]})]}),
     "SecurityGroups[0].SecurityGroupPolicySets: is not a SecurityGroup field"),
    ("misspelt-top-level", _j({"SecurityGroup": [_group()]}), "SecurityGroup: is not a state-file field"),
    ("duplicate-group", _j({"SecurityGroups": [_group(), _group()]}),
     "SecurityGroups[1].SecurityGroupId: sg-aaaaaaaa appears twice (also SecurityGroups[0])"),
    ("template-ids-string", _j({"ServiceTemplateGroups": [{"ServiceTemplateGroupId": "ppmg-1",
                                                          "ServiceTemplateIdSet": "ppm-1"}]}),
     "ServiceTemplateGroups[0].ServiceTemplateIdSet: must be a list, not a string"),
    ("limits-list", _j({"Limits": [5]}), "Limits: must be an object, not a list"),
    ("limit-float", b'{"Limits": {"SecurityGroupLimit": 1.5}}', "Limits.SecurityGroupLimit: must be a string of digits"),
    ("number-5000-digits", b'{"Limits": {"SecurityGroupLimit": ' + b"9" * 5000 + b"}}",
     "not a valid state (a number has more than 4,300 digits)"),
    ("number-infinite", b'{"Limits": {"SecurityGroupLimit": 1e999}}', "is too large"),
    ("nan", b'{"Limits": {"SecurityGroupLimit": NaN}}', "NaN is not JSON"),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, "the JSON is nested too deeply to read"),
    ("deep-extra-field", _j({"Instances": [{"InstanceId": "ins-1", "Placement": _deep(40)}]}),
     "Instances[0].Placement: is nested more than 16 levels deep"),
    ("bad-escape", b'{"Region": "\\UFFFFFFFF"}', "line 1 column 13: not valid JSON (Invalid \\escape)"),
    ("not-utf8", b'{"Region": "ap-\xff"}', "line 1 column 16: not UTF-8 text (byte 0xff)"),
    ("utf8-bom", b"\xef\xbb\xbf{}", "line 1 column 1: not valid JSON (Unexpected UTF-8 BOM"),
    ("truncated", b'{"SecurityGroups": [\n  {"SecurityGroupId": "sg-1"', "line 2 column 29: not valid JSON (Expecting ',' delimiter)"),
    ("region-number", _j({"Region": 5}), "Region: must be a string, not a number"),
    # The multi-region form (DESIGN §4).
    ("regions-list", _j({"Regions": []}), "Regions: must be an object, not a list"),
    ("regions-and-groups", _j({"Regions": {}, "SecurityGroups": []}),
     "SecurityGroups: a state file with Regions holds nothing else"),
    ("region-value-string", _j({"Regions": {"ap-guangzhou": "x"}}), "Regions.ap-guangzhou: must be an object"),
    ("region-mismatch", _j({"Regions": {"ap-guangzhou": {"Region": "ap-shanghai"}}}),
     "Regions.ap-guangzhou.Region: says 'ap-shanghai', not ap-guangzhou"),
    ("region-groups-string", _j({"Regions": {"ap-guangzhou": {"SecurityGroups": "sg-1"}}}),
     "Regions.ap-guangzhou.SecurityGroups: must be a list, not a string"),
    ("region-instance-groups", _j({"Regions": {"ap-guangzhou": {"Instances": [
        {"InstanceId": "ins-1", "SecurityGroupIds": "sg-abc"}]}}}),
     "Regions.ap-guangzhou.Instances[0].SecurityGroupIds: must be a list, not a string"),
]


@pytest.mark.parametrize("for_apply", [False, True], ids=["read", "apply"])
@pytest.mark.parametrize(("data", "expected"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_a_malformed_state_file_is_one_clear_user_error(tmp_path: Path, data: bytes, expected: str,
                                                        for_apply: bool) -> None:
    path = tmp_path / "live.json"
    path.write_bytes(data)
    with pytest.raises(UserError) as info:
        FileCloud(path, "ap-guangzhou", for_apply=for_apply)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message
    assert "\n" not in message and len(message) < 600
    assert path.read_bytes() == data  # refused before anything was written


def test_there_are_at_least_twenty_cases() -> None:
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize(("data", "expected"), [case[1:] for case in MALFORMED[:12]], ids=[c[0] for c in MALFORMED[:12]])
def test_the_http_fake_reads_state_files_the_same_way(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "live.json"
    path.write_bytes(data)
    with pytest.raises(UserError, match="^" + str(path).replace(".", r"\.") + ": "):
        load_state(path)


def test_a_path_with_control_characters_is_shown_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "live\n\x1b[31m.json"
    path.write_bytes(b"[]")
    with pytest.raises(UserError) as info:
        FileCloud(path, "ap-guangzhou")
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
    assert "live\\n\\x1b[31m.json" in str(info.value)


def test_a_directory_is_not_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a regular file"):
        FileCloud(tmp_path, "ap-guangzhou")


# -- what the real API could produce reads and writes back safely ------------------------------

def test_a_lone_surrogate_in_another_group_survives_an_apply(tmp_path: Path) -> None:
    # JSON may carry "\ud800" (no UTF-8 form). It used to make every apply fail after printing
    # its steps; it is read as is and written back as the same escape.
    path = tmp_path / "live.json"
    path.write_bytes(b'{"Region": "ap-guangzhou", "SecurityGroups": [{"SecurityGroupId": "sg-other",'
                     b' "SecurityGroupDesc": "x\\ud800y \\u4e2d \\ud83d\\ude00 \\u001b[31m"}]}')
    with FileCloud(path, "ap-guangzhou", for_apply=True) as cloud:
        cloud.call("vpc", "CreateSecurityGroup", {"GroupName": "new", "GroupDescription": "\ud801"})
    data = path.read_bytes()
    data.decode("utf-8")  # strict UTF-8: the surrogates went out as escapes
    assert b"\\ud800" in data and b"\\ud801" in data and "中".encode() in data
    groups = {g["SecurityGroupName"] or g["SecurityGroupId"]: g for g in json.loads(data)["SecurityGroups"]}
    assert groups["sg-other"]["SecurityGroupDesc"] == "x\ud800y \u4e2d \U0001f600 \x1b[31m"
    assert groups["new"]["SecurityGroupDesc"] == "\ud801"
    with FileCloud(path, "ap-guangzhou") as again:
        assert again.call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 2


def test_null_and_empty_optional_fields_read_as_the_api_means_them(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [_group(
        SecurityGroupName=None, TagSet=None, IsDefault=None, ProjectId=3,
        SecurityGroupPolicySet={"Version": 4, "Ingress": [{**RULE, "Ipv6CidrBlock": None, "PolicyIndex": "0",
                                                           "AddressTemplate": {}, "NewApiField": [1]}],
                                "Egress": None})],
        "Instances": None, "AddressTemplates": None}))
    with FileCloud(path, "ap-guangzhou") as cloud:
        group = cloud.engine.state["SecurityGroups"][0]
    assert group["ProjectId"] == "3" and group["TagSet"] == [] and group["SecurityGroupName"] == ""
    assert group["SecurityGroupPolicySet"]["Version"] == "4"
    assert [r["Port"] for r in group["SecurityGroupPolicySet"]["Ingress"]] == ["22"]


def test_an_empty_object_is_an_empty_state(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text("{}")
    with FileCloud(path, "ap-guangzhou") as cloud:
        assert cloud.call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 0


# -- the two forms (DESIGN §4) ------------------------------------------------------------------

def test_regions_are_kept_apart_and_written_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    shanghai = {"SecurityGroups": [{"SecurityGroupId": "sg-shanghai", "SecurityGroupName": "sh"}]}
    path.write_text(json.dumps({"Regions": {"ap-shanghai": shanghai, "ap-guangzhou": {
        "Region": "ap-guangzhou", "SecurityGroups": [{"SecurityGroupId": "sg-guangzho"}]}}}))
    with FileCloud(path, "ap-guangzhou", for_apply=True) as cloud:
        assert [g["SecurityGroupId"] for g in cloud.call("vpc", "DescribeSecurityGroups", {})["SecurityGroupSet"]] \
            == ["sg-guangzho"]
        cloud.call("vpc", "DeleteSecurityGroup", {"SecurityGroupId": "sg-guangzho"})
    written = json.loads(path.read_text())
    assert list(written) == ["Regions"] and written["Regions"]["ap-guangzhou"]["SecurityGroups"] == []
    assert written["Regions"]["ap-shanghai"] == {**shanghai, "Region": "ap-shanghai"}
    with FileCloud(path, "ap-shanghai") as other:
        assert other.call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 1
    with pytest.raises(UserError, match=r"live\.json: Regions: the file holds 2 regions \(ap-guangzhou, ap-shanghai\); "
                                        r"choose one with --region"):
        FileCloud(path)


def test_a_single_region_file_gains_a_second_region_without_losing_the_first(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    original = {"Region": "ap-guangzhou", "SecurityGroups": [{"SecurityGroupId": "sg-guangzho"}]}
    path.write_text(json.dumps(original))
    with FileCloud(path, "ap-shanghai") as reader:  # another region's view is empty
        assert reader.call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 0
    with FileCloud(path, "ap-shanghai", for_apply=True) as cloud:
        cloud.call("vpc", "CreateSecurityGroup", {"GroupName": "sh", "GroupDescription": ""})
    regions = json.loads(path.read_text())["Regions"]
    assert regions["ap-guangzhou"] == original
    assert [g["SecurityGroupName"] for g in regions["ap-shanghai"]["SecurityGroups"]] == ["sh"]


def test_a_file_without_a_region_serves_the_one_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"SecurityGroups": [{"SecurityGroupId": "sg-aaaaaaaa"}]}))
    with FileCloud(path, "ap-chengdu", for_apply=True) as cloud:
        assert cloud.region == "ap-chengdu"
        cloud.call("vpc", "CreateSecurityGroup", {"GroupName": "n", "GroupDescription": ""})
    written = json.loads(path.read_text())
    assert written["Region"] == "ap-chengdu" and len(written["SecurityGroups"]) == 2


# -- writes that cannot happen ------------------------------------------------------------------

def _refuse_temp_files(monkeypatch: pytest.MonkeyPatch, error: int) -> None:
    real_open = os.open

    def fake_open(path: Any, flags: int, *args: Any) -> int:
        if str(path).endswith(".tmp"):
            raise OSError(error, os.strerror(error))
        return real_open(path, flags, *args)

    monkeypatch.setattr(snapshot.os, "open", fake_open)


@pytest.mark.parametrize("error", [errno.EACCES, errno.EROFS, errno.ENOSPC])
def test_a_read_only_or_full_disk_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   error: int) -> None:
    path = tmp_path / "live.json"
    path.write_text("{}")
    cloud = FileCloud(path, "ap-guangzhou", for_apply=True)
    cloud.call("vpc", "CreateSecurityGroup", {"GroupName": "n", "GroupDescription": ""})
    _refuse_temp_files(monkeypatch, error)
    with pytest.raises(UserError) as info:
        cloud.close()
    assert str(info.value) == f"{path}: cannot write the state file; it was left as it was ({os.strerror(error)})"
    assert path.read_text() == "{}"


def test_a_full_disk_while_writing_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "live.json"
    path.write_text("{}")
    cloud = FileCloud(path, "ap-guangzhou", for_apply=True)
    cloud.call("vpc", "CreateSecurityGroup", {"GroupName": "n", "GroupDescription": ""})

    class Full:
        def __init__(self, fd: int, mode: str) -> None:
            os.close(fd)

        def __enter__(self) -> "Full":
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def write(self, data: bytes) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(snapshot.os, "fdopen", Full)
    with pytest.raises(UserError, match="No space left on device"):
        cloud.close()
    assert path.read_text() == "{}" and not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_a_read_only_directory_stops_an_apply_before_it_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sgplan.fakecloud import filecloud

    path = tmp_path / "live.json"
    path.write_text("{}")
    real_open = os.open

    def fake_open(target: Any, flags: int, *args: Any) -> int:
        if str(target).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(target, flags, *args)

    monkeypatch.setattr(filecloud.os, "open", fake_open)
    with pytest.raises(UserError, match=r"\.live\.json\.lock: cannot create the lock file \(Read-only file system\)"):
        FileCloud(path, "ap-guangzhou", for_apply=True)
