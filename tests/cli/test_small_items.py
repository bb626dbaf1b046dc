"""The small items of issue 15: hidden files are not configuration, counts read as English,
a warning is said once, a refused connection says so in one readable line, the quickstart is clean."""

from __future__ import annotations

import shutil
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from sgplan.cloud.base import CloudError
from sgplan.cloud.tencent import TencentClient
from sgplan.render.text import render_plan
from tests.e2e.cli import run
from tests.render.plan_samples import changed_plan

ROOT = Path(__file__).resolve().parents[2]


def test_hidden_files_are_not_configuration(tmp_path: Path) -> None:
    (tmp_path / "main.sg.hcl").write_text('sgplan { stack = "s" }\nsecurity_group "web" {}\n')
    (tmp_path / ".old.sg.hcl").write_text("this is not HCL {{{\n")
    (tmp_path / ".terraform.lock.hcl").write_text('provider "registry.terraform.io/x/y" {}\n')
    code, out, err = run("validate", tmp_path)
    assert code == 0, err
    assert "(1 group, 0 instance bindings)" in out  # and "1 group", not "1 groups"


def test_a_warning_is_said_once(tmp_path: Path) -> None:
    plan = changed_plan()
    ssh = plan.resource_changes[0]
    note = "prevent_destroy is only recorded (as a tag) when sgplan creates the group"
    plan = replace(plan, resource_changes=(replace(ssh, notes=(note,)),) + plan.resource_changes[1:],
                   warnings=(f"{ssh.address}: {note}", "same warning", "same warning"))
    text = render_plan(plan)
    assert text.count(note) == 1 and text.count("same warning") == 1


def test_connection_refused_is_one_readable_line() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = TencentClient("ap-guangzhou", endpoint=f"http://127.0.0.1:{port}", max_attempts=1,
                           sleep=lambda _s: None, on_progress=lambda *_: None)
    with pytest.raises(CloudError) as info:
        client.call("vpc", "DescribeSecurityGroups", {})
    assert info.value.message == (f"cannot connect to http://127.0.0.1:{port}: Connection refused "
                                  "(is the server running and the address right?)")
    assert "HTTPConnectionPool" not in info.value.message and "\n" not in info.value.message


def test_quickstart_has_no_findings(tmp_path: Path) -> None:
    directory = tmp_path / "qs"
    shutil.copytree(ROOT / "examples" / "quickstart", directory)
    code, out, err = run("check", directory)
    assert code == 0 and "No findings." in out, out + err
