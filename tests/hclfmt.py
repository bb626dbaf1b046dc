"""Test helper: HashiCorp's `hclfmt`, built once from Debian's Go packages (reference/hcl.md §5).

CI setup: `apt-get install -y golang-go golang-github-hashicorp-hcl-v2-dev`. The binary is
cached under the system temp dir, so tests build it at most once per machine.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

GOPATH = Path("/usr/share/gocode")
PACKAGE = "github.com/hashicorp/hcl/v2/cmd/hclfmt"
# Per user, and only a directory that nobody else can write: a binary someone else planted in a
# shared temp dir must never be run (issue 12 §8's rule, applied to the tests too).
CACHE = Path(tempfile.gettempdir()) / f"sgplan-hclfmt-{os.geteuid()}"


@functools.cache
def hclfmt() -> tuple[Path | None, str]:
    """(path to hclfmt, "") or (None, why it cannot be built) — tests skip with that reason."""
    from sgplan.safefs import private_dir

    if private_dir(CACHE) is None:
        return None, f"hclfmt unavailable: {CACHE} is not a private directory"
    binary = CACHE / "hclfmt"
    if binary.exists():
        return binary, ""
    go = shutil.which("go")
    if go is None:
        return None, "hclfmt unavailable: `go` not installed (apt-get install golang-go)"
    if not (GOPATH / "src" / PACKAGE).is_dir():
        return None, "hclfmt unavailable: apt-get install golang-github-hashicorp-hcl-v2-dev"
    env = {
        **os.environ,
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",
        "GOCACHE": str(CACHE / "gocache"),
        "GOFLAGS": "",
    }
    partial = CACHE / f"hclfmt.{os.getpid()}"
    result = subprocess.run(
        [go, "build", "-o", str(partial), PACKAGE], env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        return None, f"hclfmt build failed: {result.stderr.strip()[:300]}"
    partial.replace(binary)  # atomic: parallel test runs never see half a binary
    return binary, ""


def unchanged(*paths: Path) -> tuple[bool, str]:
    """Run `hclfmt -require-no-change` on files; (True, "") when it accepts all of them."""
    binary, why = hclfmt()
    assert binary is not None, why
    result = subprocess.run(
        [str(binary), "-require-no-change", *map(str, paths)], capture_output=True, text=True, timeout=60
    )
    return result.returncode == 0, result.stderr


def formatted(text: str) -> str:
    """What hclfmt makes of `text` (from stdin)."""
    binary, why = hclfmt()
    assert binary is not None, why
    result = subprocess.run([str(binary)], input=text.encode(), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()
