"""The HTTP fake as the unmodified SDK sees it: signing, envelopes, injection, persistence."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.cvm.v20170312 import cvm_client
from tencentcloud.cvm.v20170312 import models as cvm_models
from tencentcloud.vpc.v20170312 import models, vpc_client

from sgplan.cloud.base import CloudError
from sgplan.fakecloud.server import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    ServerHandle,
    _unflatten,
    start_server,
    tc3_signature,
)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # API §6.1: the SDK would send loopback traffic through an HTTP proxy from the environment.
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


class StandIn:
    """A tiny engine: records calls, `Put` changes the state, `Fail` raises, `Echo` answers params."""

    def __init__(self, state: dict[str, Any], **_: Any) -> None:
        self.state = state
        self.changed = False
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def handle(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((service, action, params))
        if action == "DescribeSecurityGroups":
            groups = self.state["SecurityGroups"]
            return {"TotalCount": len(groups), "SecurityGroupSet": [
                {k: v for k, v in g.items() if k != "SecurityGroupPolicySet"} for g in groups]}
        if action == "CreateSecurityGroup":
            group = {"SecurityGroupId": f"sg-{len(self.state['SecurityGroups']):08d}",
                     "SecurityGroupName": params.get("GroupName", ""),
                     "SecurityGroupDesc": params.get("GroupDescription", ""),
                     "SecurityGroupPolicySet": {"Version": "0", "Ingress": [], "Egress": []}}
            self.state["SecurityGroups"].append(group)
            self.changed = True
            return {"SecurityGroup": {k: v for k, v in group.items() if k != "SecurityGroupPolicySet"}}
        if action == "DescribeInstances":
            return {"TotalCount": 0, "InstanceSet": []}
        raise CloudError("InvalidAction", f"stand-in has no {action}")


def serve(*, stand_in: bool = False, **kwargs: Any) -> ServerHandle:
    """A server on a free loopback port: the real engine, or the recording stand-in."""
    if stand_in:
        kwargs.setdefault("engine_factory", lambda state, **kw: StandIn(state, **kw))
    kwargs.setdefault("state_path", None)
    return start_server(**kwargs)


@pytest.fixture
def server():
    handle = serve(stand_in=True)
    yield handle
    handle.stop()


def vpc(handle: ServerHandle, secret_id: str = DEFAULT_SECRET_ID, secret_key: str = DEFAULT_SECRET_KEY,
        region: str = "ap-guangzhou", method: str = "POST") -> vpc_client.VpcClient:
    hp = HttpProfile(endpoint=f"127.0.0.1:{handle.port}", protocol="http", reqMethod=method)
    return vpc_client.VpcClient(credential.Credential(secret_id, secret_key), region, ClientProfile(httpProfile=hp))


def create(client: vpc_client.VpcClient, name: str = "web") -> Any:
    req = models.CreateSecurityGroupRequest()
    req.GroupName, req.GroupDescription = name, "d"
    return client.CreateSecurityGroup(req)


def sdk_error(fn: Any, *args: Any) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as info:
        fn(*args)
    return info.value


# -- signing ----------------------------------------------------------------------------------

def test_the_sdk_signs_and_the_server_accepts(server: ServerHandle) -> None:
    resp = create(vpc(server))
    assert resp.SecurityGroup.SecurityGroupName == "web"
    assert resp.RequestId
    assert server.engine.calls[0][:2] == ("vpc", "CreateSecurityGroup")


def test_cvm_service_comes_from_the_credential_scope(server: ServerHandle) -> None:
    hp = HttpProfile(endpoint=f"127.0.0.1:{server.port}", protocol="http")
    client = cvm_client.CvmClient(credential.Credential(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY), "ap-guangzhou",
                                  ClientProfile(httpProfile=hp))
    assert client.DescribeInstances(cvm_models.DescribeInstancesRequest()).TotalCount == 0
    assert server.engine.calls[-1][:2] == ("cvm", "DescribeInstances")


def test_wrong_key_is_a_signature_failure(server: ServerHandle) -> None:
    err = sdk_error(create, vpc(server, secret_key="not-the-key"))
    assert err.code == "AuthFailure.SignatureFailure"
    assert err.requestId
    assert server.engine.calls == []


def test_unknown_secret_id(server: ServerHandle) -> None:
    err = sdk_error(create, vpc(server, secret_id="AKIDsomeoneelse"))
    assert err.code == "AuthFailure.SecretIdNotFound"


def test_custom_key_pair() -> None:
    with serve(stand_in=True, secret_id="AKIDmine", secret_key="mykey") as handle:
        assert create(vpc(handle, "AKIDmine", "mykey")).SecurityGroup
        assert sdk_error(create, vpc(handle)).code == "AuthFailure.SecretIdNotFound"


@pytest.mark.parametrize("offset", [-301, 301])
def test_expired_timestamp(offset: int) -> None:
    with serve(stand_in=True, clock=lambda: time.time() + offset) as handle:
        assert sdk_error(create, vpc(handle)).code == "AuthFailure.SignatureExpire"
        assert handle.engine.calls == []
    with serve(stand_in=True, clock=lambda: time.time() + offset / 2) as handle:  # within 5 minutes: fine
        assert create(vpc(handle)).SecurityGroup


def test_missing_region_is_refused(server: ServerHandle) -> None:
    # The SDK leaves X-TC-Region out entirely for an empty region (API §6.2).
    assert sdk_error(create, vpc(server, region="")).code == "MissingParameter"


def _raw_post(handle: ServerHandle, body: bytes, *, sign_body: bytes | None = None, action: str = "CreateSecurityGroup",
              auth: str | None = None, service: str = "vpc") -> tuple[http.client.HTTPResponse, dict[str, Any]]:
    timestamp = str(int(time.time()))
    date = datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%d")
    host = f"127.0.0.1:{handle.port}"
    headers = {"content-type": "application/json", "host": host}
    signature = tc3_signature(DEFAULT_SECRET_KEY, method="POST", query="", headers=headers,
                              signed_headers="content-type;host", payload=body if sign_body is None else sign_body,
                              timestamp=timestamp, date=date, service=service)
    if auth is None:
        auth = (f"TC3-HMAC-SHA256 Credential={DEFAULT_SECRET_ID}/{date}/{service}/tc3_request, "
                f"SignedHeaders=content-type;host, Signature={signature}")
    conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=10)
    conn.request("POST", "/", body=body, headers={
        "Content-Type": "application/json", "Host": host, "X-TC-Action": action, "X-TC-Version": "2017-03-12",
        "X-TC-Timestamp": timestamp, "X-TC-Region": "ap-guangzhou", "Authorization": auth})
    resp = conn.getresponse()
    document = json.loads(resp.read())
    conn.close()
    return resp, document


@pytest.fixture(scope="module")
def shared_stand_in():
    handle = serve(stand_in=True)
    yield handle
    handle.stop()


@settings(max_examples=40, deadline=None)
@given(name=st.text(min_size=1, max_size=20), flip=st.integers(min_value=0, max_value=10_000))
def test_signature_covers_the_raw_body(shared_stand_in: ServerHandle, name: str, flip: int) -> None:
    handle = shared_stand_in
    # A unique description: an identical create within the same second would be an exact replay.
    body = json.dumps({"GroupName": name, "GroupDescription": uuid.uuid4().hex}).encode()
    before = len(handle.engine.calls)
    resp, ok = _raw_post(handle, body)
    assert "Error" not in ok["Response"], ok
    assert ok["Response"]["SecurityGroup"]["SecurityGroupName"] == name
    tampered = bytearray(body)
    tampered[flip % len(tampered)] ^= 0x01
    _, bad = _raw_post(handle, bytes(tampered), sign_body=body)
    assert bad["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert len(handle.engine.calls) == before + 1


def test_envelope_is_exact(server: ServerHandle) -> None:
    resp, ok = _raw_post(server, b'{"GroupName": "a", "GroupDescription": "b"}')
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
    assert set(ok) == {"Response"} and ok["Response"]["RequestId"]
    resp, err = _raw_post(server, b"{}", action="NoSuchThing")
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
    assert err["Response"]["Error"] == {"Code": "InvalidAction", "Message": "stand-in has no NoSuchThing"}
    assert err["Response"]["RequestId"]
    _, garbled = _raw_post(server, b"{}", auth="Basic Zm9vOmJhcg==")
    assert garbled["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    _, other = _raw_post(server, b"{}", service="cbs")
    assert other["Response"]["Error"]["Code"] == "InvalidAction"
    _, notjson = _raw_post(server, b"{nope")
    assert notjson["Response"]["Error"]["Code"] == "InvalidParameter"


def test_engine_errors_surface_as_sdk_exceptions(server: ServerHandle) -> None:
    req = models.DeleteSecurityGroupRequest()
    req.SecurityGroupId = "sg-1"
    err = sdk_error(vpc(server).DeleteSecurityGroup, req)
    assert (err.code, err.message) == ("InvalidAction", "stand-in has no DeleteSecurityGroup")


def test_get_requests_are_unflattened(server: ServerHandle) -> None:
    req = models.DescribeSecurityGroupsRequest()
    req.from_json_string(json.dumps({"Filters": [{"Name": "tag:team", "Values": ["web", "a b&c"]}], "Limit": "5"}))
    vpc(server, method="GET").DescribeSecurityGroups(req)
    # Paging numbers come back as integers (CVM insists on them); everything else stays text.
    assert server.engine.calls[-1][2] == {"Filters": [{"Name": "tag:team", "Values": ["web", "a b&c"]}], "Limit": 5}


_leaf = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
_key = st.from_regex(r"[A-Z][A-Za-z]{0,6}", fullmatch=True)
_tree = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, min_size=1, max_size=3) | st.dictionaries(_key, inner, min_size=1, max_size=3),
    max_leaves=10,
)


_SDK_FOR_FLATTENING = vpc_client.VpcClient(credential.Credential("a", "b"), "r")


@settings(max_examples=60, deadline=None)
@given(params=st.dictionaries(_key, _tree, max_size=4))
def test_unflatten_inverts_the_sdk_flattening(params: dict[str, Any]) -> None:
    from urllib.parse import parse_qsl, urlencode

    flat = _SDK_FOR_FLATTENING._format_params(None, params)  # what the SDK puts in a GET query (API §6.2)
    assert _unflatten(parse_qsl(urlencode(flat), keep_blank_values=True)) == params


# -- injection --------------------------------------------------------------------------------

def test_rate_limit_per_action() -> None:
    with serve(rate_limit=3) as handle:
        client = vpc(handle)
        codes = []
        for _ in range(6):
            try:
                client.DescribeSecurityGroups(models.DescribeSecurityGroupsRequest())
                codes.append("ok")
            except TencentCloudSDKException as exc:
                codes.append(exc.code)
        assert codes[:3] == ["ok"] * 3 and "RequestLimitExceeded" in codes[3:]
        assert create(client).SecurityGroup  # another action has its own bucket
        assert handle.stats["throttled"] >= 1


def test_internal_error_fault_changes_nothing() -> None:
    with serve(fault_rate=1.0, fault_kinds=("internal-error",)) as handle:
        assert sdk_error(create, vpc(handle)).code == "InternalError"
        assert handle.engine.state["SecurityGroups"] == []


def test_drop_before_the_change() -> None:
    with serve(fault_rate=1.0, fault_kinds=("drop-before",)) as handle:
        assert sdk_error(create, vpc(handle)).code == "ClientNetworkError"
        assert handle.engine.state["SecurityGroups"] == []


def test_drop_after_the_change_is_saved(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    with serve(state_path=path, fault_rate=1.0, fault_kinds=("drop-after",)) as handle:
        assert sdk_error(create, vpc(handle)).code == "ClientNetworkError"
        assert len(handle.engine.state["SecurityGroups"]) == 1
        assert json.loads(path.read_text())["SecurityGroups"][0]["SecurityGroupName"] == "web"


def test_fault_rate_is_reproducible_with_a_seed() -> None:
    def outcomes() -> list[str]:
        out = []
        with serve(stand_in=True, fault_rate=0.5, seed=7) as handle:
            client = vpc(handle)
            for _ in range(20):
                try:
                    client.DescribeSecurityGroups(models.DescribeSecurityGroupsRequest())
                    out.append("ok")
                except TencentCloudSDKException as exc:
                    out.append(exc.code)
        return out

    first = outcomes()
    assert first == outcomes()
    assert "ok" in first and set(first) - {"ok"} <= {"InternalError", "ClientNetworkError"} and len(set(first)) > 1


def test_many_clients_at_once() -> None:
    with serve(stand_in=True, latency_ms=50) as handle:
        errors: list[BaseException] = []

        def worker() -> None:
            client = vpc(handle)
            try:
                for _ in range(4):
                    client.DescribeSecurityGroups(models.DescribeSecurityGroupsRequest())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert not errors
        assert elapsed < 2.0  # 80 requests × 50 ms would take 4 s one at a time
        assert handle.stats["requests"] == 80


# -- state ------------------------------------------------------------------------------------

def test_state_is_loaded_saved_after_each_change_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [
        {"SecurityGroupId": "sg-existing", "SecurityGroupName": "old"}]}))
    record: list[dict[str, Any]] = []
    with serve(state_path=path, record=record) as handle:
        client = vpc(handle)
        assert client.DescribeSecurityGroups(models.DescribeSecurityGroupsRequest()).TotalCount == 1
        assert record == []  # reads change nothing
        create(client, "one")
        saved = json.loads(path.read_text())
        assert [g["SecurityGroupName"] for g in saved["SecurityGroups"]] == ["old", "one"]
        create(client, "two")
        assert [len(s["SecurityGroups"]) for s in record] == [2, 3]
        record[0]["SecurityGroups"].clear()  # deep copies: the engine is untouched
        assert len(handle.engine.state["SecurityGroups"]) == 3
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_stop_saves_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    handle = serve(stand_in=True, state_path=path)
    handle.engine.state["SecurityGroups"].append({"SecurityGroupId": "sg-direct", "SecurityGroupName": "x",
                                             "SecurityGroupPolicySet": {"Version": "0", "Ingress": [], "Egress": []}})
    handle.stop()
    handle.stop()
    assert json.loads(path.read_text())["SecurityGroups"][0]["SecurityGroupId"] == "sg-direct"
    with pytest.raises(TencentCloudSDKException) as info:
        create(vpc(handle))
    assert info.value.code == "ClientNetworkError"


def test_url_and_free_port(server: ServerHandle) -> None:
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"


def test_bad_fault_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        serve(fault_rate=1.5)
    with pytest.raises(ValueError):
        serve(fault_kinds=("explode",))


# -- the real engine through the unmodified SDK: every action sgplan uses ----------------------

def sdk_call(client: Any, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """One SDK call with plain dicts, the way sgplan's TencentClient makes it."""
    module = models if isinstance(client, vpc_client.VpcClient) else cvm_models
    req = getattr(module, f"{action}Request")()
    req.from_json_string(json.dumps(params))
    return json.loads(getattr(client, action)(req).to_json_string())


def cvm(handle: ServerHandle) -> cvm_client.CvmClient:
    hp = HttpProfile(endpoint=f"127.0.0.1:{handle.port}", protocol="http")
    return cvm_client.CvmClient(credential.Credential(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY), "ap-guangzhou",
                                ClientProfile(httpProfile=hp))


SSH = {"Protocol": "TCP", "Port": "22", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT", "PolicyDescription": "ssh"}
WEB = {"Protocol": "tcp", "Port": "80,443", "CidrBlock": "0.0.0.0/0", "Action": "accept"}
PING = {"Protocol": "ICMP", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}


def _estate(groups: int = 0, instances: int = 0, limits: dict[str, int] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Region": "ap-guangzhou",
        "SecurityGroups": [{"SecurityGroupId": f"sg-{i:08d}", "SecurityGroupName": f"g{i}"} for i in range(groups)],
        "Instances": [{"InstanceId": f"ins-{i:08d}", "SecurityGroupIds": []} for i in range(instances)],
    }
    if limits:
        state["Limits"] = limits
    return state


@pytest.fixture
def real():
    handle = serve(state=_estate(groups=0, instances=3))
    yield handle
    handle.stop()


def policies(client: Any, group_id: str) -> dict[str, Any]:
    return sdk_call(client, "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})["SecurityGroupPolicySet"]


def test_group_lifecycle_through_the_sdk(real: ServerHandle) -> None:
    client = vpc(real)
    created = sdk_call(client, "CreateSecurityGroupWithPolicies", {
        "GroupName": "web", "GroupDescription": "tier", "Tags": [{"Key": "sgplan-stack", "Value": "prod"}],
        "SecurityGroupPolicySet": {"Ingress": [SSH, WEB], "Egress": [{"Protocol": "ALL", "CidrBlock": "0.0.0.0/0",
                                                                      "Action": "ACCEPT"}]}})
    group_id = created["SecurityGroup"]["SecurityGroupId"]
    assert created["SecurityGroup"]["TagSet"] == [{"Key": "sgplan-stack", "Value": "prod"}]
    listed = sdk_call(client, "DescribeSecurityGroups",
                      {"Filters": [{"Name": "tag:sgplan-stack", "Values": ["prod"]}]})
    assert listed["TotalCount"] == 1 and listed["SecurityGroupSet"][0]["SecurityGroupId"] == group_id
    ps = policies(client, group_id)
    assert ps["Version"] == "1"
    assert [(p["PolicyIndex"], p["Protocol"].upper(), p["Port"]) for p in ps["Ingress"]] == [
        (0, "TCP", "22"), (1, "TCP", "80,443")]
    assert ps["Ingress"][1]["Action"] == "ACCEPT"

    sdk_call(client, "CreateSecurityGroupPolicies", {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {
        "Version": "1", "Ingress": [{**PING, "PolicyIndex": 0}]}})
    sdk_call(client, "ReplaceSecurityGroupPolicy", {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {
        "Version": "2", "Ingress": [{**SSH, "CidrBlock": "192.168.0.0/16", "PolicyIndex": 1}]}})
    sdk_call(client, "DeleteSecurityGroupPolicies", {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {
        "Version": "3", "Ingress": [{"PolicyIndex": 2}]}})
    ps = policies(client, group_id)
    assert ps["Version"] == "4"
    assert [(p["Protocol"].upper(), p["CidrBlock"]) for p in ps["Ingress"]] == [
        ("ICMP", "0.0.0.0/0"), ("TCP", "192.168.0.0/16")]

    sdk_call(client, "ModifySecurityGroupAttribute", {"SecurityGroupId": group_id, "GroupName": "web2"})
    assert policies(client, group_id)["Version"] == "4"  # attributes are not rules
    sdk_call(client, "DeleteSecurityGroup", {"SecurityGroupId": group_id})
    assert sdk_call(client, "DescribeSecurityGroups", {})["TotalCount"] == 0


def test_version_mismatch_and_duplicates(real: ServerHandle) -> None:
    client = vpc(real)
    group_id = sdk_call(client, "CreateSecurityGroupWithPolicies", {
        "GroupName": "g", "GroupDescription": "", "SecurityGroupPolicySet": {"Ingress": [SSH]}})["SecurityGroup"][
        "SecurityGroupId"]
    stale = {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {"Version": "0", "Ingress": [PING]}}
    err = sdk_error(sdk_call, client, "CreateSecurityGroupPolicies", stale)
    assert err.code == "UnsupportedOperation.VersionMismatch" and err.requestId
    dup = {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {"Version": "1", "Ingress": [SSH]}}
    assert sdk_error(sdk_call, client, "CreateSecurityGroupPolicies", dup).code == "UnsupportedOperation.DuplicatePolicy"
    assert policies(client, group_id)["Version"] == "1"  # failed calls change nothing
    err = sdk_error(sdk_call, client, "DescribeSecurityGroupPolicies", {"SecurityGroupId": "sg-nothere1"})
    assert err.code in {"ResourceNotFound", "InvalidSecurityGroupID.NotFound"}


@pytest.mark.parametrize("as_text", [False, True])
def test_pagination_numbers_and_strings(as_text: bool) -> None:
    with serve(state=_estate(groups=250, instances=130)) as handle:
        client, wrap = vpc(handle), (str if as_text else int)
        seen: list[str] = []
        for offset in (0, 100, 200):
            body = sdk_call(client, "DescribeSecurityGroups", {"Offset": wrap(offset), "Limit": wrap(100)})
            assert body["TotalCount"] == 250
            seen += [g["SecurityGroupId"] for g in body["SecurityGroupSet"]]
        assert len(seen) == len(set(seen)) == 250
        assert len(sdk_call(client, "DescribeSecurityGroups", {})["SecurityGroupSet"]) == 20  # default Limit
        err = sdk_error(sdk_call, client, "DescribeSecurityGroups", {"Limit": wrap(101)})
        assert err.code.startswith("InvalidParameterValue")
        page = sdk_call(cvm(handle), "DescribeInstances", {"Offset": 100, "Limit": 100})
        assert page["TotalCount"] == 130 and len(page["InstanceSet"]) == 30


def test_quotas() -> None:
    state = _estate(groups=1, instances=1, limits={"SecurityGroupLimit": 2, "SecurityGroupPolicyLimit": 2})
    state["SecurityGroups"] += [{"SecurityGroupId": f"sg-extra{i:03d}", "SecurityGroupName": "x", "ProjectId": "7"}
                                for i in range(5)]
    with serve(state=state) as handle:
        client = vpc(handle)
        sdk_call(client, "CreateSecurityGroup", {"GroupName": "b", "GroupDescription": ""})
        assert sdk_error(create, client).code == "LimitExceeded"
        rules = {"SecurityGroupId": "sg-00000000", "SecurityGroupPolicySet": {"Ingress": [SSH, WEB, PING]}}
        assert sdk_error(sdk_call, client, "CreateSecurityGroupPolicies", rules).code.startswith("LimitExceeded")
        bind = {"InstanceIds": ["ins-00000000"], "SecurityGroups": ["sg-00000000"] + [
            f"sg-extra{i:03d}" for i in range(5)]}
        assert sdk_error(sdk_call, cvm(handle), "ModifyInstancesAttribute", bind).code == \
            "LimitExceeded.AssociateUSGLimitExceeded"


def test_bindings_through_cvm(real: ServerHandle) -> None:
    client, machines = vpc(real), cvm(real)
    ids = [sdk_call(client, "CreateSecurityGroup", {"GroupName": n, "GroupDescription": ""})["SecurityGroup"][
        "SecurityGroupId"] for n in ("a", "b", "c")]
    sdk_call(machines, "ModifyInstancesAttribute", {"InstanceIds": ["ins-00000000", "ins-00000001"],
                                                    "SecurityGroups": [ids[1], ids[0]]})
    sdk_call(machines, "AssociateSecurityGroups", {"SecurityGroupIds": [ids[2]], "InstanceIds": ["ins-00000000"]})
    sdk_call(machines, "DisassociateSecurityGroups", {"SecurityGroupIds": [ids[1]], "InstanceIds": ["ins-00000001"]})
    found = {i["InstanceId"]: i for i in sdk_call(machines, "DescribeInstances", {"Limit": 100})["InstanceSet"]}
    assert found["ins-00000000"]["SecurityGroupIds"] == [ids[1], ids[0], ids[2]]
    assert found["ins-00000001"]["SecurityGroupIds"] == [ids[0]]
    assert found["ins-00000000"]["LatestOperationState"] in {"SUCCESS", "OPERATING"}
    err = sdk_error(sdk_call, machines, "AssociateSecurityGroups",
                    {"SecurityGroupIds": ids[:2], "InstanceIds": ["ins-00000002"]})
    assert err.code == "InvalidParameterValue.LimitExceeded"


def test_bind_delay_shows_operating() -> None:
    with serve(state=_estate(groups=1, instances=1), bind_delay=0.3) as handle:
        machines = cvm(handle)
        sdk_call(machines, "ModifyInstancesAttribute", {"InstanceIds": ["ins-00000000"],
                                                        "SecurityGroups": ["sg-00000000"]})
        state = sdk_call(machines, "DescribeInstances", {})["InstanceSet"][0]["LatestOperationState"]
        assert state == "OPERATING"
        time.sleep(0.4)
        assert sdk_call(machines, "DescribeInstances", {})["InstanceSet"][0]["LatestOperationState"] == "SUCCESS"


def test_templates_and_limits_are_answered(real: ServerHandle) -> None:
    client = vpc(real)
    for action, field in (("DescribeAddressTemplates", "AddressTemplateSet"),
                          ("DescribeAddressTemplateGroups", "AddressTemplateGroupSet"),
                          ("DescribeServiceTemplates", "ServiceTemplateSet"),
                          ("DescribeServiceTemplateGroups", "ServiceTemplateGroupSet")):
        body = sdk_call(client, action, {"Offset": "0", "Limit": "100"})
        assert body["TotalCount"] == 0 and body[field] == []
    assert sdk_call(client, "DescribeSecurityGroupLimits", {})["SecurityGroupLimitSet"]["SecurityGroupPolicyLimit"]


def test_get_form_requests_reach_the_real_engine(real: ServerHandle) -> None:
    sdk_call(vpc(real), "CreateSecurityGroup", {"GroupName": "a b", "GroupDescription": "",
                                               "Tags": [{"Key": "team", "Value": "x y"}]})
    hp = HttpProfile(endpoint=f"127.0.0.1:{real.port}", protocol="http", reqMethod="GET")
    machines = cvm_client.CvmClient(credential.Credential(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY), "ap-guangzhou",
                                    ClientProfile(httpProfile=hp))
    assert sdk_call(machines, "DescribeInstances", {"Offset": 0, "Limit": 2})["TotalCount"] == 3
    found = sdk_call(vpc(real, method="GET"), "DescribeSecurityGroups",
                     {"Filters": [{"Name": "tag:team", "Values": ["x y"]}], "Limit": "10"})
    assert [g["SecurityGroupName"] for g in found["SecurityGroupSet"]] == ["a b"]


# -- the command ------------------------------------------------------------------------------

def test_serve_command_prints_the_url_and_saves_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    state = tmp_path / "live.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for name in ("HTTP_PROXY", "http_proxy"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sgplan.cli import main; main()", "fake-cloud", "serve", "--state", str(state),
         "--port", "0", "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        port = int(url.rsplit(":", 1)[1])
        handle = type("H", (), {"port": port})()
        create(vpc(handle), "from-cli")  # type: ignore[arg-type]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    saved = json.loads(state.read_text())
    assert [g["SecurityGroupName"] for g in saved["SecurityGroups"]] == ["from-cli"]
    assert "state saved" in proc.stderr.read()
