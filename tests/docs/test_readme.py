"""The README's commands, copied as a newcomer would, in order, in a fresh clone (issue 15).

Every ```sh block runs with bash in a clone of this repository. Two things differ, and only
these: `.venv` is the virtual environment running this test (creating one and installing needs
the package index), and the whole-suite command is not run from inside the suite. `/tmp/…` paths
and the fake's port are moved to private ones so parallel runs cannot collide.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
_INSTALL = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install [^&]*(?:&& )?")


def _blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def _script(tmp: Path, port: int) -> str:
    lines = []
    for block in _blocks():
        for line in block.splitlines():
            command = _INSTALL.sub("", line.strip())
            if not command or command.startswith(".venv/bin/python -m pytest"):
                continue  # the install (done) or the whole suite (we are in it)
            lines.append(command.replace("/tmp/", f"{tmp}/").replace("9000", str(port)))
    return "\n".join(["set -e"] + lines) + "\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_readme_has_the_two_setup_commands_first() -> None:
    first = _blocks()[0].splitlines()
    assert first[0].startswith("python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/sgplan plan")
    assert first[1].startswith("python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'")


def test_readme_commands_run_in_order_from_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone = tmp_path / "sgplan"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
    # The committed tree plus this checkout's uncommitted README and examples, as under review.
    shutil.copy(ROOT / "README.md", clone / "README.md")
    venv = Path(sys.prefix)
    (clone / ".venv").symlink_to(venv)
    work = tmp_path / "tmp"
    work.mkdir()
    script = _script(work, _free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGPLAN_", "TENCENTCLOUD_"))}
    proc = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    assert "Apply complete!" in proc.stdout
    assert (work / "recorded.json").exists()  # the HTTP-fake flow ran to its snapshot
    assert not [p for p in clone.iterdir() if p.name not in {".git", ".venv"} and
                subprocess.run(["git", "ls-files", "--error-unmatch", p.name], cwd=clone,
                               capture_output=True).returncode != 0], "the README left files in the repository"
