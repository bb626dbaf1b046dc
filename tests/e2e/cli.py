"""Run the sgplan CLI in-process (fast) or as a subprocess (as a user would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def run_cli(capsys: pytest.CaptureFixture, *args: str | Path) -> Result:
    """Call `sgplan.cli.main` with argv; capture exit code, stdout and stderr."""
    capsys.readouterr()
    return Result(*run(*args))

def run_subprocess(*args: str | Path, cwd: Path | None = None, env: dict | None = None) -> Result:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "sgplan", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run(*args: str | Path) -> tuple[int, str, str]:
    """`run_cli` for tests without capsys: (exit code, stdout, stderr) of one in-process call."""
    import contextlib
    import io

    from sgplan.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()
