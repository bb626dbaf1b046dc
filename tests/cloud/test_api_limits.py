"""Availability (issue 12 §9): an API server that never answers, answers a byte at a time, or lies
about TotalCount ends a run within documented, bounded time and requests, with one line on
stderr and exit 1 (docs/api-limits.md). Tiny servers on 127.0.0.1; small limits keep this quick."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
from tencentcloud.common import credential

from sgplan.cloud.base import DEADLINE_EXCEEDED, INVALID_RESPONSE, LISTING_TOO_LARGE, REQUEST_TIMEOUT, CloudError
from sgplan.cloud.reader import read_live
from sgplan.cloud.tencent import TencentClient, seconds_from_env
from sgplan.diagnostics import UserError
from tests.e2e.cli import run as cli

SECRET_KEY = "k3y-that-must-not-leak"
TOKEN = "t0ken-that-must-not-leak"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "TENCENTCLOUD_SESSION_TOKEN",
                 "TENCENTCLOUD_SECURITY_TOKEN", "SGPLAN_API_TIMEOUT", "SGPLAN_API_DEADLINE", "SGPLAN_CLOUD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDtest")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("TENCENTCLOUD_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# -- tiny servers --------------------------------------------------------------------------------

class Silent:
    """Accepts connections and reads requests; never answers (or, with `trickle`, sends the start
    of an answer and then one byte every `trickle` seconds)."""

    def __init__(self, trickle: float | None = None) -> None:
        self.trickle = trickle
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._conns.append(conn)
            if self.trickle is not None:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while not self._stop.wait(self.trickle):
                conn.sendall(b" ")
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        for conn in self._conns:
            conn.close()
        self.sock.close()


class Scripted:
    """An API-shaped server without authentication: `answer(action, params, headers)` gives the
    Response body (RequestId added). Counts requests per action."""

    def __init__(self, answer: Callable[[str, dict[str, Any], Any], dict[str, Any]], delay: float = 0.0) -> None:
        self.requests: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = self.headers.get("X-TC-Action", "")
                outer.requests[action] = outer.requests.get(action, 0) + 1
                if delay:
                    time.sleep(delay)
                response = {**answer(action, json.loads(body or b"{}"), self.headers), "RequestId": "r-1"}
                data = json.dumps({"Response": response}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def group(n: int) -> dict[str, Any]:
    return {"SecurityGroupId": f"sg-{n:08d}", "SecurityGroupName": f"g{n}",
            "TagSet": [{"Key": "sgplan-stack", "Value": "s"}, {"Key": "sgplan-address", "Value": f"security_group.g{n}"}]}


def empty_answers(action: str, params: dict[str, Any], _headers: Any) -> dict[str, Any]:
    if action == "DescribeSecurityGroupPolicies":
        return {"SecurityGroupPolicySet": {"Version": "1", "Ingress": [], "Egress": []}}
    if action == "DescribeInstances":
        return {"InstanceSet": [], "TotalCount": 0}
    return {"SecurityGroupSet": [], "TotalCount": 0}


def config(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "main.sg.hcl").write_text('sgplan {\n  region = "ap-guangzhou"\n  stack = "s"\n}\n\n'
                                           'security_group "web" {\n  name = "web"\n}\n')
    return directory


def client_for(url: str, **kwargs: Any) -> TencentClient:
    kwargs.setdefault("sleep", lambda s: None)
    return TencentClient("ap-guangzhou", endpoint=url, rate_limits={"*": 10_000}, **kwargs)


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err and SECRET_KEY not in err and TOKEN not in err
    return lines[0]


# -- a server that never answers ---------------------------------------------------------------

def test_plan_against_a_silent_server_ends_quickly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SGPLAN_API_TIMEOUT", "0.3")
    server = Silent()
    try:
        started = time.monotonic()
        code, _out, err = cli("plan", config(tmp_path), "--cloud", server.url)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    line = one_line_error(err)
    assert code == 1 and REQUEST_TIMEOUT in line and "SGPLAN_API_TIMEOUT" in line, err
    assert server.accepted == 2  # the first request and one retry: MAX_TIMEOUTS
    assert elapsed < 5


def test_a_trickling_answer_is_cut_off_at_the_timeout() -> None:
    # requests' read timeout bounds each wait for bytes, not the answer: a byte every 0.05 s
    # would hold the SDK for 100,000 * 0.05 s. The client's own wall-clock limit ends it.
    server = Silent(trickle=0.05)
    try:
        client = client_for(server.url, timeout=0.4)
        started = time.monotonic()
        with pytest.raises(CloudError) as info:
            client.call("vpc", "DescribeSecurityGroups", {})
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert info.value.code == REQUEST_TIMEOUT and elapsed < 4
    assert client.retries == 1


def test_a_timed_out_write_is_not_repeated_and_says_so() -> None:
    server = Silent()
    try:
        client = client_for(server.url, timeout=0.3)
        with pytest.raises(CloudError) as info:
            client.call("vpc", "CreateSecurityGroupWithPolicies", {"GroupName": "x", "GroupDescription": ""})
        time.sleep(0.1)
    finally:
        server.close()
    assert info.value.code == REQUEST_TIMEOUT and "may or may not have taken effect" in info.value.message
    assert client.retries == 0 and server.accepted == 1
    assert SECRET_KEY not in str(info.value) and TOKEN not in str(info.value)


def test_the_deadline_bounds_a_run_of_slow_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each answer is in time, but a run of them is not: the deadline ends the run.
    monkeypatch.setenv("SGPLAN_API_DEADLINE", "0.5")
    many = [group(n) for n in range(100)]

    def answers(action: str, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        if action == "DescribeSecurityGroups":
            return {"SecurityGroupSet": many, "TotalCount": len(many)}
        return empty_answers(action, params, headers)

    server = Scripted(answers, delay=0.1)
    try:
        monkeypatch.setenv("SGPLAN_API_TIMEOUT", "5")
        started = time.monotonic()
        code, _out, err = cli("plan", config(tmp_path), "--cloud", server.url)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    line = one_line_error(err)
    assert code == 1 and DEADLINE_EXCEEDED in line and "SGPLAN_API_DEADLINE" in line, err
    assert elapsed < 4 and server.total < 1 + 100  # 0.1 s an answer, 8 at a time: 1.3 s for them all


def test_the_deadline_counts_only_time_spent_calling() -> None:
    # Time between calls (planning, an apply's confirmation prompt) does not use up the deadline.
    server = Scripted(empty_answers, delay=0.02)
    try:
        client = client_for(server.url, deadline=0.5)
        started = time.monotonic()
        for _ in range(3):
            client.call("vpc", "DescribeSecurityGroups", {})
            time.sleep(0.25)
        client.call("vpc", "DescribeSecurityGroups", {})
    finally:
        server.close()
    assert time.monotonic() - started > 0.75 > client.deadline


def test_the_deadline_stops_retries_instead_of_sleeping_past_it() -> None:
    def throttled(action: str, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        return {"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}

    server = Scripted(throttled)
    try:
        client = TencentClient("ap-guangzhou", endpoint=server.url, deadline=0.5, rate_limits={"*": 10_000})
        started = time.monotonic()
        with pytest.raises(CloudError) as info:
            client.call("vpc", "DescribeSecurityGroups", {})
    finally:
        server.close()
    assert info.value.code == DEADLINE_EXCEEDED and "RequestLimitExceeded" in info.value.message
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
def test_bad_limits_in_the_environment_are_user_errors(value: str) -> None:
    with pytest.raises(UserError, match="SGPLAN_API_TIMEOUT"):
        seconds_from_env("SGPLAN_API_TIMEOUT", 30.0, {"SGPLAN_API_TIMEOUT": value})
    assert seconds_from_env("SGPLAN_API_TIMEOUT", 30.0, {}) == 30.0
    assert seconds_from_env("SGPLAN_API_TIMEOUT", 30.0, {"SGPLAN_API_TIMEOUT": " 2.5 "}) == 2.5


def test_environment_sets_the_client_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SGPLAN_API_TIMEOUT", "7")
    monkeypatch.setenv("SGPLAN_API_DEADLINE", "70")
    client = TencentClient("ap-guangzhou", endpoint="http://127.0.0.1:9")
    assert (client.timeout, client.deadline) == (7.0, 70.0)
    assert (TencentClient("ap-guangzhou", endpoint="http://127.0.0.1:9", timeout=1, deadline=2).timeout) == 1


# -- lying listings --------------------------------------------------------------------------------

def test_a_huge_total_count_is_refused_after_one_request(tmp_path: Path) -> None:
    def liar(action: str, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        if action == "DescribeSecurityGroups":
            offset = int(params.get("Offset") or 0)
            return {"SecurityGroupSet": [group(offset + n) for n in range(100)], "TotalCount": 10**9}
        return empty_answers(action, params, headers)

    server = Scripted(liar)
    try:
        started = time.monotonic()
        code, _out, err = cli("plan", config(tmp_path), "--cloud", server.url)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    line = one_line_error(err)
    assert code == 1 and LISTING_TOO_LARGE in line and "1000000000" in line, err
    assert server.requests == {"DescribeSecurityGroups": 1} and elapsed < 5


def test_empty_pages_end_a_listing_that_claims_more() -> None:
    def liar(action: str, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        if action == "DescribeInstances":
            offset = int(params.get("Offset") or 0)
            items = [{"InstanceId": f"ins-{n:08d}"} for n in range(100)] if offset == 0 else []
            return {"InstanceSet": items, "TotalCount": 99_999}
        return empty_answers(action, params, headers)

    server = Scripted(liar)
    try:
        client = client_for(server.url)
        live = read_live(client, stack="s", map_fn=client.map)
    finally:
        server.close()
    assert len(live.instances) == 100
    assert server.requests["DescribeInstances"] <= 1 + 50  # the first page and one window past the end


def test_short_pages_are_followed_but_never_past_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    import sgplan.cloud.reader as reader

    monkeypatch.setattr(reader, "MAX_LISTING_PAGES", 20)

    def dribble(action: str, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        if action == "DescribeSecurityGroups":
            offset = int(params.get("Offset") or 0)
            return {"SecurityGroupSet": [group(offset)], "TotalCount": 99_999}
        return empty_answers(action, params, headers)

    server = Scripted(dribble)
    try:
        with pytest.raises(CloudError) as info:
            read_live(client_for(server.url), stack="s")
    finally:
        server.close()
    assert info.value.code == LISTING_TOO_LARGE and "20 pages" in info.value.message
    assert server.requests["DescribeSecurityGroups"] == 21


def test_a_server_that_pages_in_small_steps_is_read_completely() -> None:
    # Honest, but 10 items a page whatever Limit says: followed one page after another.
    def small(action: str, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        if action == "DescribeSecurityGroups":
            offset = int(params.get("Offset") or 0)
            return {"SecurityGroupSet": [group(n) for n in range(offset, min(offset + 10, 35))], "TotalCount": 35}
        return empty_answers(action, params, headers)

    server = Scripted(small)
    try:
        live = read_live(client_for(server.url), stack="s")
    finally:
        server.close()
    assert [g.id for g in live.groups] == [f"sg-{n:08d}" for n in range(35)]


def test_no_pager_can_ask_past_the_listing_bound() -> None:
    # Any loop over Offset (snapshot, import) stops at MAX_LISTING_ITEMS, whatever it believes.
    client = client_for("http://127.0.0.1:9")
    with pytest.raises(CloudError) as info:
        client.call("vpc", "DescribeSecurityGroups", {"Offset": "100000", "Limit": "100"})
    assert info.value.code == LISTING_TOO_LARGE and client.calls == 0


@pytest.mark.parametrize("total", ["lots", True, None, [1], -5])
def test_a_malformed_total_count_is_a_clear_error_or_zero(total: Any) -> None:
    def liar(action: str, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        if action == "DescribeSecurityGroups":
            return {"SecurityGroupSet": [group(1)], "TotalCount": total}
        return empty_answers(action, params, headers)

    server = Scripted(liar)
    try:
        try:
            live = read_live(client_for(server.url), stack="s")
        except CloudError as exc:
            assert exc.code == INVALID_RESPONSE, exc
        else:
            assert [g.id for g in live.groups] == ["sg-00000001"]
    finally:
        server.close()


# -- secrets -----------------------------------------------------------------------------------------

def test_an_echoing_server_never_gets_the_secret_into_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A hostile endpoint sees the session token (X-TC-Token) and may put it in its answers.
    def echo(action: str, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        return {"Error": {"Code": "InternalError", "Message": f"token {headers.get('X-TC-Token')} key {SECRET_KEY}"}}

    server = Scripted(echo)
    try:
        client = client_for(server.url, credential=credential.Credential("AKIDtest", SECRET_KEY, TOKEN), max_attempts=2)
        for action in ("DescribeSecurityGroups", "CreateSecurityGroupWithPolicies"):
            with pytest.raises(CloudError) as info:
                client.call("vpc", action, {} if action.startswith("Describe") else {"GroupName": "x", "GroupDescription": ""})
            text = f"{info.value} {info.value.message} {info.value.request_id}"
            assert TOKEN not in text and SECRET_KEY not in text and "***" in text
    finally:
        server.close()
