"""TencentClient: the unmodified SDK against the HTTP fake, with sgplan's retries and credentials."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common import credential

from sgplan.cloud.base import VERSION_MISMATCH, CloudError
from sgplan.cloud.tencent import (
    FAKE_SECRET_ID,
    FAKE_SECRET_KEY,
    TencentClient,
    resolve_credential,
    tencent_client_for,
)
from sgplan.diagnostics import UserError
from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, ServerHandle, start_server

FAST = {"*": 10_000, **{a: 10_000 for a in ("DescribeSecurityGroups", "DescribeSecurityGroupPolicies",
                                            "DescribeInstances", "CreateSecurityGroupWithPolicies",
                                            "CreateSecurityGroupPolicies", "CreateSecurityGroup")}}
SSH = {"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
                 "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SESSION_TOKEN",
                 "TENCENTCLOUD_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.tencentcloud/credentials


def estate(groups: int, instances: int, stack: str = "prod") -> dict[str, Any]:
    return {
        "Region": "ap-guangzhou",
        "SecurityGroups": [
            {"SecurityGroupId": f"sg-{i:08d}", "SecurityGroupName": f"g{i}",
             "TagSet": [{"Key": "sgplan-stack", "Value": stack}, {"Key": "sgplan-address", "Value": f"security_group.g{i}"}],
             "SecurityGroupPolicySet": {"Version": str(i % 7), "Ingress": [
                 {**SSH, "Port": str(1 + i % 1000), "PolicyDescription": f"r{i}"}], "Egress": []}}
            for i in range(groups)
        ],
        "Instances": [{"InstanceId": f"ins-{i:08d}", "SecurityGroupIds": [f"sg-{i % max(groups, 1):08d}"] if groups else []}
                      for i in range(instances)],
    }


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(handle: ServerHandle, **kwargs: Any) -> TencentClient:
    kwargs.setdefault("rate_limits", FAST)
    kwargs.setdefault("sleep", Sleeps())
    return TencentClient("ap-guangzhou", endpoint=handle.url, **kwargs)


@pytest.fixture
def fake():
    handle = start_server(None, state=estate(3, 2))
    yield handle
    handle.stop()


# -- the main path ----------------------------------------------------------------------------

def test_read_live_survives_faults_with_exact_call_count(tmp_path: Path) -> None:
    from sgplan.cloud.reader import read_live
    from sgplan.fakecloud.filecloud import FileCloud

    groups, instances = 300, 150
    path = tmp_path / "live.json"
    path.write_text(json.dumps(estate(groups, instances)))
    expected = read_live(FileCloud(path), stack="prod")
    with start_server(path, fault_rate=0.2, seed=11) as handle:
        client = client_for(handle, max_attempts=12)
        live = read_live(client, stack="prod", map_fn=client.map)
    assert live == expected
    assert len(live.groups) == groups and len(live.instances) == instances
    assert client.calls == math.ceil(groups / 100) + groups + math.ceil(instances / 100)
    assert client.retries > 0  # about a fifth of the requests failed and were sent again
    assert handle.stats["requests"] == client.calls + client.retries
    assert handle.stats["faults"] == client.retries


def test_answers_drop_request_id_and_absent_fields(fake: ServerHandle) -> None:
    client = client_for(fake)
    body = client.call("vpc", "DescribeSecurityGroups", {"Limit": 100})
    assert "RequestId" not in body and body["TotalCount"] == 3
    assert all(v is not None for g in body["SecurityGroupSet"] for v in g.values())
    assert client.call("cvm", "DescribeInstances", {"Limit": 1, "Offset": 1})["TotalCount"] == 2
    assert (client.calls, client.retries, client.actions["DescribeInstances"]) == (2, 0, 1)


def test_cloud_errors_carry_code_message_and_request_id(fake: ServerHandle) -> None:
    client = client_for(fake)
    with pytest.raises(CloudError) as info:
        client.call("vpc", "CreateSecurityGroupPolicies", {"SecurityGroupId": "sg-00000001",
                                                           "SecurityGroupPolicySet": {"Version": "0", "Ingress": [SSH]}})
    assert info.value.code == VERSION_MISMATCH and info.value.request_id
    assert client.retries == 0  # a conflict is never retried blindly
    with pytest.raises(CloudError) as info:
        client.call("vpc", "NoSuchAction", {})
    assert info.value.code == "InvalidAction"
    with pytest.raises(CloudError):
        client.call("cbs", "DescribeDisks", {})


def test_wrong_key_is_reported_without_the_key(fake: ServerHandle) -> None:
    client = client_for(fake, credential=credential.Credential(DEFAULT_SECRET_ID, "s3cr3t-wrong-key"))
    with pytest.raises(CloudError) as info:
        client.call("vpc", "DescribeSecurityGroups", {})
    assert info.value.code == "AuthFailure.SignatureFailure"
    assert "s3cr3t" not in str(info.value)


# -- retries ----------------------------------------------------------------------------------

def test_internal_errors_are_retried_with_growing_backoff_until_max_attempts() -> None:
    with start_server(None, state=estate(1, 0), fault_rate=1.0, fault_kinds=("internal-error",)) as handle:
        sleeps = Sleeps()
        client = client_for(handle, max_attempts=4, sleep=sleeps)
        with pytest.raises(CloudError) as info:
            client.call("vpc", "DescribeSecurityGroups", {})
    assert info.value.code == "InternalError"
    assert (client.calls, client.retries) == (1, 3)
    assert len(sleeps) == 3 and sleeps[0] <= 0.2 < sleeps[2]


def test_throttling_is_retried_until_it_passes() -> None:
    with start_server(None, state=estate(1, 0), rate_limit=4) as handle:
        client = client_for(handle, sleep=time.sleep)
        for _ in range(8):
            client.call("vpc", "DescribeSecurityGroups", {})
    assert client.calls == 8 and client.retries >= 1 and handle.stats["throttled"] == client.retries


def test_client_side_limits_keep_under_the_server_limit() -> None:
    with start_server(None, state=estate(1, 0), rate_limit=12) as handle:
        client = client_for(handle, rate_limits={"DescribeSecurityGroups": 10})
        started = time.monotonic()
        for _ in range(14):
            client.call("vpc", "DescribeSecurityGroups", {})
        elapsed = time.monotonic() - started
    assert client.retries == 0 and handle.stats["throttled"] == 0
    assert elapsed >= 0.3  # ten at once, then one every tenth of a second


def test_a_lost_create_is_not_repeated() -> None:
    # The connection drops after the group was made: sending again would make a second group.
    with start_server(None, state=estate(0, 0), fault_rate=1.0, fault_kinds=("drop-after",)) as handle:
        client = client_for(handle)
        with pytest.raises(CloudError) as info:
            client.call("vpc", "CreateSecurityGroupWithPolicies", {"GroupName": "x", "GroupDescription": ""})
        assert info.value.code == "ClientNetworkError"
        assert "may or may not have taken effect" in info.value.message
        assert client.retries == 0
        assert len(handle.engine.state["SecurityGroups"]) == 1


def test_a_lost_versioned_write_is_given_back_to_the_caller_unrepeated() -> None:
    # Even with a Version the client does not re-send: the caller (apply's `settled`) looks at the
    # group first, so the answer says what happened instead of a misleading VersionMismatch.
    with start_server(None, state=estate(2, 0), fault_rate=1.0, fault_kinds=("drop-after",), seed=1) as handle:
        client = client_for(handle)
        params = {"SecurityGroupId": "sg-00000001", "SecurityGroupPolicySet": {
            "Version": "1", "Ingress": [{**SSH, "Port": "2222", "PolicyIndex": 0}]}}
        with pytest.raises(CloudError) as info:
            client.call("vpc", "CreateSecurityGroupPolicies", params)
        group = handle.engine.state["SecurityGroups"][1]
    assert info.value.code == "ClientNetworkError" and "may or may not have taken effect" in info.value.message
    assert client.retries == 0 and handle.stats["requests"] == 1
    assert [r["Port"] for r in group["SecurityGroupPolicySet"]["Ingress"]] == ["2222", "2"]  # applied once
    assert group["SecurityGroupPolicySet"]["Version"] == "2"


def test_a_lost_unversioned_rule_write_is_not_repeated() -> None:
    # Without a Version (or with "0", which DESIGN §6 treats as no guard) a resend could add the rule twice.
    with start_server(None, state=estate(1, 0), fault_rate=1.0, fault_kinds=("drop-after",)) as handle:
        client = client_for(handle)
        with pytest.raises(CloudError) as info:
            client.call("vpc", "CreateSecurityGroupPolicies", {"SecurityGroupId": "sg-00000000",
                                                               "SecurityGroupPolicySet": {"Version": "0",
                                                                                          "Ingress": [SSH]}})
    assert info.value.code == "ClientNetworkError" and client.retries == 0


def test_a_lost_read_is_retried() -> None:
    with start_server(None, state=estate(2, 0), fault_rate=0.5, seed=3, fault_kinds=("drop-before", "drop-after")) \
            as handle:
        client = client_for(handle, max_attempts=30)
        for _ in range(10):
            assert client.call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 2
    assert client.calls == 10 and client.retries == handle.stats["faults"] > 0


def test_connection_refused_is_retried_then_reported() -> None:
    handle = start_server(None, state=estate(0, 0))
    handle.stop()
    client = client_for(handle, max_attempts=3)
    with pytest.raises(CloudError) as info:
        client.call("vpc", "CreateSecurityGroup", {"GroupName": "x", "GroupDescription": ""})
    assert info.value.code == "ClientNetworkError"
    assert client.retries == 2  # never reached the server, so even a create is safe to resend
    assert "may or may not" not in info.value.message


def test_parallel_calls_are_counted_exactly(fake: ServerHandle) -> None:
    client = client_for(fake, parallelism=8)
    out = client.map(lambda i: client.call("vpc", "DescribeSecurityGroupPolicies",
                                           {"SecurityGroupId": f"sg-{i % 3:08d}"}), range(40))
    assert len(out) == 40 and client.calls == 40 and client.retries == 0


def test_progress_callback(fake: ServerHandle) -> None:
    seen: list[tuple[int, int]] = []
    client = client_for(fake, on_progress=lambda calls, retries: seen.append((calls, retries)))
    client.call("vpc", "DescribeSecurityGroups", {})
    client.call("cvm", "DescribeInstances", {})
    client.close()
    assert seen == [(1, 0), (2, 0)]


# -- proxies, endpoints, regions ---------------------------------------------------------------

def test_loopback_endpoints_bypass_http_proxy(fake: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    # API §6.1: with HTTP_PROXY set the SDK would route loopback traffic through it and fail.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert client_for(fake).call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 3
    import os

    assert os.environ["HTTP_PROXY"] == "http://127.0.0.1:9" and "NO_PROXY" not in os.environ  # nothing leaked


@pytest.mark.parametrize("endpoint", ["127.0.0.1:9000", "ftp://h:1", "http://h:1/path", "http://u:p@h:1",
                                      "http://h:port", "http://"])
def test_bad_endpoints(endpoint: str) -> None:
    with pytest.raises(UserError):
        TencentClient("ap-guangzhou", endpoint=endpoint)


def test_region_is_required() -> None:
    with pytest.raises(UserError, match="region"):
        TencentClient(None, endpoint="http://127.0.0.1:9")
    with pytest.raises(UserError, match="region"):
        tencent_client_for("tencent", "")


def test_client_for_specs(fake: ServerHandle) -> None:
    client = tencent_client_for(fake.url, "ap-guangzhou")
    assert client.region == "ap-guangzhou"
    assert client.call("vpc", "DescribeSecurityGroups", {})["TotalCount"] == 3  # fake's default key pair
    with pytest.raises(UserError):
        tencent_client_for("gopher://x", "ap-guangzhou")


# -- credentials ------------------------------------------------------------------------------

def test_credentials_from_the_environment() -> None:
    cred = resolve_credential(env={"TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRET_KEY": "k"})
    assert cred.get_credential_info() == ("AKIDx", "k", None)
    for token_var in ("TENCENTCLOUD_SESSION_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN"):
        cred = resolve_credential(env={"TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRET_KEY": "k",
                                       token_var: "tok"})
        assert cred.get_credential_info() == ("AKIDx", "k", "tok")


def test_half_a_key_pair_is_an_error_that_shows_no_secret() -> None:
    with pytest.raises(UserError) as info:
        resolve_credential(env={"TENCENTCLOUD_SECRET_KEY": "supersecret"})
    assert "supersecret" not in str(info.value)
    with pytest.raises(UserError) as info:
        resolve_credential(env={"TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRET_KEY": " padded secret "})
    assert "padded" not in str(info.value)


def test_profile_file(tmp_path: Path) -> None:
    profile = tmp_path / "home" / ".tencentcloud" / "credentials"
    profile.parent.mkdir(parents=True)
    profile.write_text("[default]\nsecret_id = AKIDfile\nsecret_key = filekey\n")
    assert resolve_credential(env={}, allow_role=False).get_credential_info()[:2] == ("AKIDfile", "filekey")


def test_missing_credentials() -> None:
    with pytest.raises(UserError, match="no Tencent Cloud credentials"):
        resolve_credential(env={}, allow_role=False)
    fake = resolve_credential(env={}, allow_role=False, allow_fake=True)
    assert fake.get_credential_info()[:2] == (FAKE_SECRET_ID, FAKE_SECRET_KEY)
    assert (FAKE_SECRET_ID, FAKE_SECRET_KEY) == (DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY)


def test_env_credentials_win_over_the_fake_default(fake: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDreal")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "realkey")
    with pytest.raises(CloudError) as info:
        tencent_client_for(fake.url, "ap-guangzhou").call("vpc", "DescribeSecurityGroups", {})
    assert info.value.code == "AuthFailure.SecretIdNotFound" and "realkey" not in str(info.value)


# -- the snapshot command over an http:// cloud -------------------------------------------------

def test_snapshot_command_records_an_http_cloud(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sgplan.cli import app
    from sgplan.cloud.snapshot import load_state

    out = tmp_path / "snap.json"
    with start_server(None, state=estate(120, 3)) as handle:
        result = CliRunner().invoke(app, ["snapshot", "--out", str(out), "--cloud", handle.url,
                                          "--region", "ap-guangzhou"])
        assert result.exit_code == 0, result.output
        served = handle.engine.state
    assert "120 security groups and 3 instances" in result.output
    recorded = load_state(out)
    assert recorded["Region"] == "ap-guangzhou"
    assert [g["SecurityGroupId"] for g in recorded["SecurityGroups"]] == [g["SecurityGroupId"] for g in served["SecurityGroups"]]
    assert recorded["SecurityGroups"][5]["SecurityGroupPolicySet"] == load_state_group(served, 5)


def load_state_group(state: dict[str, Any], index: int) -> dict[str, Any]:
    from sgplan.cloud.snapshot import normalize_state

    return normalize_state(state)["SecurityGroups"][index]["SecurityGroupPolicySet"]


@pytest.mark.filterwarnings("ignore:.*fileds are useless")  # the SDK's own note; pytest resets filters
def test_fields_the_sdk_would_drop_are_refused(fake: ServerHandle) -> None:
    client = client_for(fake)
    with pytest.raises(CloudError) as info:
        client.call("vpc", "CreateSecurityGroupPolicies", {"SecurityGroupId": "sg-00000001", "SecurityGroupPolicySet": {
            "Versoin": "1", "Ingress": [{**SSH, "Colour": "red"}]}})
    assert info.value.code == "UnknownParameter"
    assert "SecurityGroupPolicySet.Versoin" in info.value.message
    assert "SecurityGroupPolicySet.Ingress[0].Colour" in info.value.message
    assert client.calls == 0 and fake.stats["requests"] == 0


def test_an_internal_error_on_a_write_is_not_resent_by_the_client() -> None:
    # InternalError may come after the change was made (issue 12 §3): the caller settles it.
    with start_server(None, state=estate(0, 0), fault_rate=1.0, fault_kinds=("internal-error",)) as handle:
        client = client_for(handle)
        with pytest.raises(CloudError) as info:
            client.call("vpc", "CreateSecurityGroupWithPolicies", {"GroupName": "x", "GroupDescription": ""})
        assert handle.stats["requests"] == 1
    assert info.value.code == "InternalError" and "may or may not have taken effect" in info.value.message
    assert client.retries == 0


def test_throttled_writes_are_resent_by_the_client() -> None:
    # Throttling is a refusal: nothing was done, so even a create is sent again.
    names = [f"g{n:02d}" for n in range(14)]
    with start_server(None, state=estate(0, 0), rate_limit={"CreateSecurityGroupWithPolicies": 10, "*": 1000}) as handle:
        client = client_for(handle, sleep=time.sleep)
        for name in names:
            client.call("vpc", "CreateSecurityGroupWithPolicies", {"GroupName": name, "GroupDescription": ""})
        groups = handle.engine.state["SecurityGroups"]
    assert client.retries >= 1 and client.retries == handle.stats["throttled"]
    assert sorted(g["SecurityGroupName"] for g in groups) == names
