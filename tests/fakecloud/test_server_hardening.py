"""The HTTP fake against hostile clients and failing disks (issue 12 §3, §10, §11).

- A change it cannot save is rolled back and answered InternalError: it never reports failure for
  a change it keeps.
- An exact replay never changes the state a second time; X-TC-Action is bound whenever the client
  signs it, and `require_signed_action` insists on it.
- Bodies over 10 MB are refused before they are read; hostile JSON and form bodies are
  InvalidParameter, never a dropped connection.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from sgplan.diagnostics import UserError
from sgplan.fakecloud import server as server_module
from sgplan.fakecloud.engine import Engine
from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, ServerHandle, start_server, tc3_signature
from tests.fakecloud.test_server import SSH, _estate, sdk_call, vpc

FIXED_NOW = 1_700_000_000.0


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def fixed_clock_engine(state: dict[str, Any], **kw: Any) -> Engine:
    # A still engine clock: UpdateTime does not move between a request and its replay.
    return Engine(state, clock=lambda: FIXED_NOW, bind_delay=kw.get("bind_delay", 0.0), rng_seed=kw.get("seed"))


def signed_headers(handle: ServerHandle, action: str, body: bytes, *, signed: str = "content-type;host",
                   timestamp: str | None = None, region: str = "ap-guangzhou") -> dict[str, str]:
    """Headers of a TC3-signed POST, signing `signed` (a real client may add x-tc-action)."""
    timestamp = timestamp or str(int(time.time()))
    date = datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%d")
    host = f"127.0.0.1:{handle.port}"
    lower = {"content-type": "application/json", "host": host, "x-tc-action": action.lower()}
    signature = tc3_signature(DEFAULT_SECRET_KEY, method="POST", query="", headers=lower, signed_headers=signed,
                              payload=body, timestamp=timestamp, date=date, service="vpc")
    return {"Content-Type": "application/json", "Host": host, "X-TC-Action": action, "X-TC-Version": "2017-03-12",
            "X-TC-Timestamp": timestamp, "X-TC-Region": region,
            "Authorization": f"TC3-HMAC-SHA256 Credential={DEFAULT_SECRET_ID}/{date}/vpc/tc3_request, "
                             f"SignedHeaders={signed}, Signature={signature}"}


def send(handle: ServerHandle, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "application/json"
        return json.loads(response.read())["Response"]
    finally:
        conn.close()


def call(handle: ServerHandle, action: str, params: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(params).encode()
    return send(handle, signed_headers(handle, action, body), body)


def code(answer: dict[str, Any]) -> str | None:
    return (answer.get("Error") or {}).get("Code")


# -- a change that cannot be saved is not made ------------------------------------------------

def test_a_change_that_cannot_be_saved_is_rolled_back_and_reported(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(_estate(groups=1)))
    before = path.read_bytes()
    record: list[dict[str, Any]] = []
    with start_server(path, record=record) as handle:
        client = vpc(handle)
        real_write = server_module.write_state

        def full_disk(*args: Any, **kwargs: Any) -> None:
            raise UserError(f"{path}: cannot write the state file; it was left as it was (No space left on device)")

        monkeypatch.setattr(server_module, "write_state", full_disk)
        for action, params in (("CreateSecurityGroup", {"GroupName": "new", "GroupDescription": ""}),
                               ("DeleteSecurityGroup", {"SecurityGroupId": "sg-00000000"}),
                               ("CreateSecurityGroupPolicies", {"SecurityGroupId": "sg-00000000",
                                                                "SecurityGroupPolicySet": {"Ingress": [SSH]}})):
            with pytest.raises(TencentCloudSDKException) as info:
                sdk_call(client, action, params)
            assert info.value.code == "InternalError" and "not made" in info.value.message
            # Truthful: nothing changed, in memory or on disk.
            state = handle.engine.state
            assert [g["SecurityGroupId"] for g in state["SecurityGroups"]] == ["sg-00000000"]
            assert state["SecurityGroups"][0]["SecurityGroupPolicySet"]["Ingress"] == []
            assert path.read_bytes() == before
        assert record == [] and handle.stats["changes"] == 0
        monkeypatch.setattr(server_module, "write_state", real_write)
        # The same create, retried once the disk has room, happens once.
        sdk_call(client, "CreateSecurityGroup", {"GroupName": "new", "GroupDescription": ""})
        assert [g["SecurityGroupName"] for g in json.loads(path.read_text())["SecurityGroups"]] == ["g0", "new"]
        assert len(record) == 1 and handle.stats["changes"] == 1


class BuggyEngine(Engine):
    """Makes the change, then fails like an engine bug would."""

    def handle(self, service: str, action: str, params: Any) -> dict[str, Any]:
        answer = super().handle(service, action, params)
        if action == "CreateSecurityGroup":
            raise RuntimeError("a bug after the change")
        return answer


def test_an_engine_bug_after_a_change_rolls_it_back(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(_estate(groups=1)))
    with start_server(path, engine_factory=lambda state, **kw: BuggyEngine(state)) as handle:
        with pytest.raises(TencentCloudSDKException) as info:
            sdk_call(vpc(handle), "CreateSecurityGroup", {"GroupName": "new", "GroupDescription": ""})
        assert info.value.code == "InternalError"
        assert len(handle.engine.state["SecurityGroups"]) == 1
    assert len(json.loads(path.read_text())["SecurityGroups"]) == 1


def test_a_state_file_in_the_regions_form_is_served_and_written_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"Regions": {"ap-guangzhou": _estate(groups=1)}}))
    with start_server(path) as handle:
        sdk_call(vpc(handle), "CreateSecurityGroup", {"GroupName": "new", "GroupDescription": ""})
    regions = json.loads(path.read_text())["Regions"]
    assert [g["SecurityGroupName"] for g in regions["ap-guangzhou"]["SecurityGroups"]] == ["g0", "new"]


def test_each_region_has_its_own_state(tmp_path: Path) -> None:
    """DESIGN §4 / issue 13 item 8: groups created in one region are invisible in another; a
    region nobody serves answers UnsupportedRegion; the file keeps every region."""
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"Regions": {"ap-guangzhou": _estate(groups=1), "ap-shanghai": {}}}))
    with start_server(path) as handle:
        sdk_call(vpc(handle, region="ap-shanghai"), "CreateSecurityGroup", {"GroupName": "sh", "GroupDescription": ""})
        sdk_call(vpc(handle, region="ap-chengdu"), "CreateSecurityGroup", {"GroupName": "cd", "GroupDescription": ""})
        names = {r: [g["SecurityGroupName"] for g in sdk_call(vpc(handle, region=r), "DescribeSecurityGroups", {})
                     ["SecurityGroupSet"]] for r in ("ap-guangzhou", "ap-shanghai", "ap-chengdu")}
        assert names == {"ap-guangzhou": ["g0"], "ap-shanghai": ["sh"], "ap-chengdu": ["cd"]}
        with pytest.raises(TencentCloudSDKException) as info:
            sdk_call(vpc(handle, region="xx-nowhere"), "DescribeSecurityGroups", {})
        assert info.value.code == "UnsupportedRegion"
    regions = json.loads(path.read_text())["Regions"]
    assert {r: [g["SecurityGroupName"] for g in regions[r]["SecurityGroups"]] for r in regions} == {
        "ap-guangzhou": ["g0"], "ap-shanghai": ["sh"], "ap-chengdu": ["cd"]}


def test_a_single_region_file_keeps_its_form_until_another_region_is_written(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps(_estate(groups=1)))
    with start_server(path) as handle:
        assert sdk_call(vpc(handle, region="ap-shanghai"), "DescribeSecurityGroups", {})["TotalCount"] == 0
        sdk_call(vpc(handle), "CreateSecurityGroup", {"GroupName": "gz", "GroupDescription": ""})
    assert "Regions" not in json.loads(path.read_text())
    with start_server(path) as handle:
        sdk_call(vpc(handle, region="ap-shanghai"), "CreateSecurityGroup", {"GroupName": "sh", "GroupDescription": ""})
    regions = json.loads(path.read_text())["Regions"]
    assert len(regions["ap-guangzhou"]["SecurityGroups"]) == 2 and len(regions["ap-shanghai"]["SecurityGroups"]) == 1


def test_a_malformed_state_file_stops_the_server_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"SecurityGroups": [{"SecurityGroupId": "sg-1", "TagSet": "x"}]}))
    with pytest.raises(UserError, match=r"live\.json: SecurityGroups\[0\]\.TagSet: must be a list"):
        start_server(path)


# -- replays ---------------------------------------------------------------------------------

def test_an_exact_replay_of_a_create_is_refused_and_changes_nothing() -> None:
    with start_server(None, state=_estate()) as handle:
        body = json.dumps({"GroupName": "dup", "GroupDescription": ""}).encode()
        headers = signed_headers(handle, "CreateSecurityGroup", body)
        first = send(handle, headers, body)
        assert "SecurityGroup" in first
        again = send(handle, headers, body)
        assert code(again) == "AuthFailure.SignatureExpire" and "exact replay" in again["Error"]["Message"]
        assert len(handle.engine.state["SecurityGroups"]) == 1


def test_a_replayed_versioned_write_gets_the_engines_answer() -> None:
    # A Version that moved on makes the replay fail by itself: the client learns the truth.
    state = {"SecurityGroups": [{"SecurityGroupId": "sg-00000000", "SecurityGroupPolicySet": {"Version": "3"}}]}
    with start_server(None, state=state) as handle:
        body = json.dumps({"SecurityGroupId": "sg-00000000",
                           "SecurityGroupPolicySet": {"Version": "3", "Ingress": [SSH]}}).encode()
        headers = signed_headers(handle, "CreateSecurityGroupPolicies", body)
        assert code(send(handle, headers, body)) is None
        assert code(send(handle, headers, body)) == "UnsupportedOperation.VersionMismatch"
        assert len(handle.engine.state["SecurityGroups"][0]["SecurityGroupPolicySet"]["Ingress"]) == 1


def test_a_replayed_idempotent_write_answers_like_the_first_one() -> None:
    # A client's same-second retry after a lost answer: nothing more changes, so it succeeds.
    with start_server(None, state=_estate(groups=1, instances=1), engine_factory=fixed_clock_engine) as handle:
        for action, params in (("ModifySecurityGroupAttribute", {"SecurityGroupId": "sg-00000000", "GroupName": "x"}),):
            body = json.dumps(params).encode()
            headers = signed_headers(handle, action, body)
            assert code(send(handle, headers, body)) is None
            before = handle.engine.state
            assert code(send(handle, headers, body)) is None
            assert handle.engine.state == before


def test_reads_may_repeat() -> None:
    with start_server(None, state=_estate(groups=2)) as handle:
        body = b"{}"
        headers = signed_headers(handle, "DescribeSecurityGroups", body)
        assert [send(handle, headers, body)["TotalCount"] for _ in range(5)] == [2] * 5


def test_one_signature_serves_two_actions_with_the_same_body_when_the_action_is_unsigned() -> None:
    # What the unmodified SDK does in one second: read a group's rules, then delete the group.
    # Its signature covers content-type, host and the body only (abstract_client.py), so the two
    # requests carry the same signature; refusing the second would break the SDK.
    with start_server(None, state=_estate(groups=1)) as handle:
        body = json.dumps({"SecurityGroupId": "sg-00000000"}).encode()
        headers = signed_headers(handle, "DescribeSecurityGroupPolicies", body)
        assert code(send(handle, headers, body)) is None
        assert code(send(handle, {**headers, "X-TC-Action": "DeleteSecurityGroup"}, body)) is None
        assert handle.engine.state["SecurityGroups"] == []


def test_a_signed_action_cannot_be_swapped() -> None:
    with start_server(None, state=_estate(groups=1)) as handle:
        body = json.dumps({"SecurityGroupId": "sg-00000000"}).encode()
        headers = signed_headers(handle, "DescribeSecurityGroupPolicies", body, signed="content-type;host;x-tc-action")
        assert code(send(handle, headers, body)) is None
        swapped = send(handle, {**headers, "X-TC-Action": "DeleteSecurityGroup"}, body)
        assert code(swapped) == "AuthFailure.SignatureFailure"
        assert len(handle.engine.state["SecurityGroups"]) == 1


def test_require_signed_action_refuses_an_unsigned_action() -> None:
    with start_server(None, state=_estate(groups=1), require_signed_action=True) as handle:
        body = json.dumps({"SecurityGroupId": "sg-00000000"}).encode()
        unsigned = send(handle, signed_headers(handle, "DeleteSecurityGroup", body), body)
        assert code(unsigned) == "AuthFailure.InvalidAuthorization" and "x-tc-action" in unsigned["Error"]["Message"]
        assert len(handle.engine.state["SecurityGroups"]) == 1
        signed = signed_headers(handle, "DescribeSecurityGroupPolicies", body, signed="content-type;host;x-tc-action")
        assert code(send(handle, signed, body)) is None
        with pytest.raises(TencentCloudSDKException) as info:  # the unmodified SDK signs no action
            sdk_call(vpc(handle), "DescribeSecurityGroups", {})
        assert info.value.code == "AuthFailure.InvalidAuthorization"


def test_a_replay_outside_five_minutes_is_expired() -> None:
    with start_server(None, state=_estate()) as handle:
        body = b"{}"
        old = str(int(time.time()) - 301)
        assert code(send(handle, signed_headers(handle, "DescribeSecurityGroups", body, timestamp=old), body)) == \
            "AuthFailure.SignatureExpire"


def test_the_replay_log_forgets_expired_signatures() -> None:
    now = [1_000_000.0]
    log = server_module._SignatureLog(lambda: now[0], capacity=2)
    first = log.use("a" * 64, b"x", 1_000_000)
    first.changed = True
    assert log.use("a" * 64, b"x", 1_000_000) is first  # the same exact request
    assert log.use("a" * 64, b"y", 1_000_000) is not first  # another action under the same signature
    with pytest.raises(Exception) as info:
        log.use("b" * 64, b"x", 1_000_000)
    assert getattr(info.value, "code", "") == "RequestLimitExceeded"
    now[0] += server_module.MAX_SKEW_SECONDS + 1
    assert log.use("b" * 64, b"x", int(now[0])).changed is False


# -- bounded and well-formed bodies ---------------------------------------------------------------

def _raw(handle: ServerHandle, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", handle.port), timeout=10) as sock:
        sock.sendall(head + body)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _answer(raw: bytes) -> dict[str, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    return json.loads(body)["Response"]


@pytest.mark.parametrize(("header", "expected"), [
    (b"Content-Length: 11534336", "RequestSizeLimitExceeded"),
    (b"Content-Length: 1600000000", "RequestSizeLimitExceeded"),
    (b"Content-Length: " + b"9" * 5000, "RequestSizeLimitExceeded"),
    (b"Content-Length: -5", "InvalidParameter"),
    (b"Content-Length: ten", "InvalidParameter"),
    (b"Transfer-Encoding: chunked", "InvalidParameter"),
])
def test_oversized_or_unframed_bodies_are_refused_unread(header: bytes, expected: str) -> None:
    with start_server(None, state=_estate()) as handle:
        started = time.monotonic()
        raw = _raw(handle, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + header + b"\r\n\r\n")
        assert time.monotonic() - started < 5  # answered without waiting for a body that never comes
        assert code(_answer(raw)) == expected
        assert b"Connection: close" in raw


def test_an_oversized_body_is_refused_before_100_continue() -> None:
    with start_server(None, state=_estate()) as handle:
        raw = _raw(handle, b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 20000000\r\n\r\n")
        assert b"100 Continue" not in raw
        assert code(_answer(raw)) == "RequestSizeLimitExceeded"


def test_a_body_of_ten_megabytes_is_still_read() -> None:
    with start_server(None, state=_estate()) as handle:
        body = json.dumps({"GroupName": "big", "GroupDescription": "x" * (server_module.MAX_BODY_BYTES - 60)}).encode()
        assert len(body) <= server_module.MAX_BODY_BYTES
        answer = call(handle, "CreateSecurityGroup", json.loads(body))
        assert code(answer) == "InvalidParameterValue.TooLong"  # read, signed, and judged by the engine


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"Limit": NaN}',
    b'{"Limit": 1e999}',
    b'{"Limit": ' + b"9" * 5000 + b"}",
    b'{"GroupName": "\xff"}',
    b"\xff\xfe{\x00}\x00",
])
def test_hostile_json_bodies_are_invalid_parameters(body: bytes) -> None:
    with start_server(None, state=_estate()) as handle:
        answer = send(handle, signed_headers(handle, "DescribeSecurityGroups", body), body)
        assert code(answer) == "InvalidParameter"


def test_a_deeply_nested_form_parameter_is_refused() -> None:
    with start_server(None, state=_estate()) as handle:
        query = "a" + ".b" * 5000 + "=1"
        timestamp = str(int(time.time()))
        date = datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%d")
        host = f"127.0.0.1:{handle.port}"
        lower = {"content-type": "application/x-www-form-urlencoded", "host": host}
        signature = tc3_signature(DEFAULT_SECRET_KEY, method="GET", query=query, headers=lower,
                                  signed_headers="content-type;host", payload=b"", timestamp=timestamp, date=date,
                                  service="vpc")
        conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=10)
        conn.request("GET", "/?" + query, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Host": host, "X-TC-Action": "DescribeSecurityGroups",
            "X-TC-Timestamp": timestamp, "X-TC-Region": "ap-guangzhou",
            "Authorization": f"TC3-HMAC-SHA256 Credential={DEFAULT_SECRET_ID}/{date}/vpc/tc3_request, "
                             f"SignedHeaders=content-type;host, Signature={signature}"})
        answer = json.loads(conn.getresponse().read())["Response"]
        conn.close()
        assert code(answer) == "InvalidParameter"


def test_a_lone_surrogate_is_stored_answered_and_saved(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    with start_server(path, state=_estate()) as handle:
        body = b'{"GroupName": "g", "GroupDescription": "a\\ud800b"}'
        assert code(send(handle, signed_headers(handle, "CreateSecurityGroup", body), body)) is None
        listed = sdk_call(vpc(handle), "DescribeSecurityGroups", {})
        assert listed["SecurityGroupSet"][0]["SecurityGroupDesc"] == "a\ud800b"
    assert json.loads(path.read_bytes().decode("utf-8"))["SecurityGroups"][0]["SecurityGroupDesc"] == "a\ud800b"


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("X-TC-Timestamp", "\u00b2", "MissingParameter"),
    ("X-TC-Timestamp", "9" * 5000, "MissingParameter"),
    ("X-TC-Timestamp", "-1", "MissingParameter"),
    ("Authorization", "TC3-HMAC-SHA256 " + "A" * 60000, "AuthFailure.InvalidAuthorization"),
    ("X-TC-Action", "", "MissingParameter"),
])
def test_hostile_headers_get_an_answer(name: str, value: str, expected: str) -> None:
    with start_server(None, state=_estate()) as handle:
        body = b"{}"
        headers = {**signed_headers(handle, "DescribeSecurityGroups", body), name: value}
        answer = send(handle, headers, body)
        assert code(answer) == expected, answer
