"""Progress (issue 15): a rich display on stderr only when it is a terminal — phase, done/total,
call rate — removed before output; nothing when stderr is not a terminal or with --quiet."""

from __future__ import annotations

import io
import sys

import pytest

from sgplan.cloud import tencent
from tests.e2e.cli import run


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_phases_with_done_and_total_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(tencent, "TERMINAL_PROGRESS", True)
    progress = tencent._terminal_progress()
    assert isinstance(progress, tencent._TerminalProgress)
    progress.update("DescribeSecurityGroups", {"SecurityGroupSet": [{}, {}, {}], "TotalCount": 3}, 1, 0)
    progress.update("DescribeSecurityGroupPolicies", {}, 2, 0)
    progress.update("DescribeInstances", {"InstanceSet": [{}], "TotalCount": 4}, 3, 1)
    progress.update("ModifyInstancesAttribute", {}, 4, 1)
    tasks = {t.description: (t.completed, t.total) for t in progress._progress.tasks}
    assert tasks == {"reading groups": (3, 3), "reading rules": (1, 3), "reading instances": (1, 4),
                     "applying": (1, None)}
    assert all("calls/s" in t.fields["rate"] for t in progress._progress.tasks)
    progress.clear()
    assert "reading groups" in stream.getvalue()


def test_nothing_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(tencent, "TERMINAL_PROGRESS", True)
    assert tencent._terminal_progress() is None


def test_quiet_turns_it_off(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "main.sg.hcl").write_text("")
    run("validate", tmp_path)  # a command without --quiet leaves the default on
    monkeypatch.setattr(tencent, "TERMINAL_PROGRESS", True)
    code, _, err = run("plan", tmp_path, "--quiet", "--cloud", f"file:{tmp_path / 'live.json'}", "--region", "ap-guangzhou")
    assert tencent.TERMINAL_PROGRESS is False
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert tencent._terminal_progress() is None
    code, _, _ = run("plan", tmp_path, "--cloud", f"file:{tmp_path / 'live.json'}", "--region", "ap-guangzhou")
    assert tencent.TERMINAL_PROGRESS is True


def test_apply_step_lines_go_above_the_display(monkeypatch: pytest.MonkeyPatch) -> None:
    from sgplan.cli.apply import step_printer

    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(tencent, "TERMINAL_PROGRESS", True)
    progress = tencent._terminal_progress()

    class Client:
        def progress_log(self, line: str) -> bool:
            return progress.log(line)

    show = step_printer(Client())
    show("[0/1] before the display starts")  # nothing shown yet: a plain line
    progress.update("ModifyInstancesAttribute", {}, 1, 0)
    show("[1/1] set the groups of ins-1 \x1b[31m")
    progress.clear()
    text = stream.getvalue()
    assert "[0/1] before the display starts\n" in text and "[1/1] set the groups of ins-1 \\x1b[31m" in text
    assert "\x1b[31m" not in text  # data is shown escaped, never sent
