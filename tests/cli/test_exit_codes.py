"""DESIGN §5 exit codes: usage errors are 1 with one line on stderr — never 2, which under
--detailed-exitcode means "changes present" (issue 11: the CI example posted an empty comment and
passed when a flag was mistyped)."""

from __future__ import annotations

import pytest

from tests.e2e.cli import run_cli

MALFORMED = [
    ("validate", "--bogus"),
    ("validate", "a", "b"),
    ("plan", "--cloud"),
    ("plan", "--var"),
    ("plan", "--detailed-exitcode=maybe"),
    ("plan", "--json", "--markdown"),
    ("apply", "--parallelism", "many"),
    ("apply", "--parallelism", "0"),
    ("apply", "--rate-limit", "fast"),
    ("show",),
    ("show", "plan.json", "--wide"),
    ("import", "--out"),
    ("import",),
    ("fmt", "--check=yes"),
    ("check", "--fail-on", "extreme"),
    ("check", "--sarif"),
    ("explain", "--direction", "sideways"),
    ("explain", "--instance", "ins-1", "--direction", "ingress", "--protocol", "TCP"),
    ("snapshot",),
    ("fake-cloud",),
    ("fake-cloud", "serve", "--port", "ninety"),
    ("nosuchcommand",),
    ("--nosuchflag",),
]


@pytest.mark.parametrize("argv", MALFORMED, ids=" ".join)
def test_usage_errors_exit_1_with_one_line(argv: tuple[str, ...], capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, *argv)
    assert result.code == 1, (result.code, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err


def test_help_and_version_exit_0(capsys) -> None:
    for argv in (("-h",), ("--help",), ("plan", "-h"), ("--version",)):
        result = run_cli(capsys, *argv)
        assert result.code == 0, argv
    assert run_cli(capsys, "--version").out.startswith("sgplan ")
