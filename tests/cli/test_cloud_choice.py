"""Where a configuration may point the cloud (DESIGN §4, issue 12 §6) and when output is coloured."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sgplan.cli import options
from sgplan.cli.workflow import load_workspace
from sgplan.diagnostics import UserError
from tests.e2e.cli import run_cli


def _config(tmp_path: Path, cloud: str) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir(exist_ok=True)
    (directory / "main.sg.hcl").write_text(f'sgplan {{\n  stack = "s"\n  cloud = "{cloud}"\n}}\n')
    return directory


@pytest.mark.parametrize("cloud", [
    "http://attacker.example:8080", "https://vpc.attacker.example", "http://10.0.0.8:9000",
    "http://user:pw@127.0.0.1:9000", "file:../elsewhere.json", "file:/etc/sgplan.json", "file:", "ftp://x",
])
def test_a_configuration_cannot_choose_where_credentials_go(cloud: str, tmp_path: Path, capsys) -> None:
    directory = _config(tmp_path, cloud)
    with pytest.raises(UserError, match=r"main\.sg\.hcl:1: cloud = .*pass --cloud"):
        load_workspace(directory, [], env={})
    # The same through the CLI: exit 1, nothing contacted (the address does not resolve here).
    result = run_cli(capsys, "plan", directory)
    assert result.code == 1 and "pass --cloud" in result.err


@pytest.mark.parametrize("cloud", ["tencent", "file:./live.json", "file:state/live.json",
                                   "http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"])
def test_allowed_configuration_clouds(cloud: str, tmp_path: Path) -> None:
    ws = load_workspace(_config(tmp_path, cloud), [], env={})
    assert ws.cloud_spec.startswith(cloud.split(":")[0])


def test_the_operator_may_choose_any_cloud(tmp_path: Path) -> None:
    directory = _config(tmp_path, "http://attacker.example")
    ws = load_workspace(directory, [], cloud_flag="http://proxy.internal:8080", env={})
    assert ws.cloud_spec == "http://proxy.internal:8080"
    ws = load_workspace(directory, [], env={"SGPLAN_CLOUD": "tencent"})
    assert ws.cloud_spec == "tencent"


@pytest.mark.parametrize(("env", "flag", "expected"), [
    ({}, False, True), ({"NO_COLOR": "1"}, False, False), ({"NO_COLOR": ""}, False, True),
    ({"TERM": "dumb"}, False, False), ({}, True, False),
])
def test_colour_follows_no_color_and_term(env: dict, flag: bool, expected: bool, monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert options.color_wanted(flag) is expected
