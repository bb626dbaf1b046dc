"""Hostile-repository suite (issue 12): a configuration tree written by an attacker, run with
the CLI as CI would run it on a pull request. Symlinks at every path sgplan reads or writes,
crafted cache entries and grammar pickles, hostile variable files and oversized input.

Every case checks that no file outside the configuration tree changes (a sentinel directory
is hashed before and after), that no planted code runs (a marker file), that no out-of-tree
content appears in the output, and that the run ends with one-line errors, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import run

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"
SECRET = "hunter2-out-of-tree-secret"
MESSY = 'variable "v" {\ndefault="x"\n}\n'  # `fmt` rewrites it


class Boom:
    """A pickle that creates a marker file when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(config dir, sentinel dir, marker path): the quickstart copied into `repo/cfg`, and an
    outside directory holding a secret and a file an attacker would like to overwrite."""
    sentinel = tmp_path / "outside"
    sentinel.mkdir()
    (sentinel / "dotenv").write_text(f"TOKEN={SECRET}\n")
    (sentinel / "secret.tfvars").write_text(f'office_cidrs = ["{SECRET}"]\n')
    (sentinel / "victim.txt").write_text("precious\n")
    (sentinel / "secret.tf").write_text(f'locals {{\n  token = "{SECRET}"\n}}\n')
    cfg = tmp_path / "repo" / "cfg"
    shutil.copytree(QUICKSTART, cfg)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SGPLAN_NO_CACHE", raising=False)
    return cfg, sentinel, tmp_path / "marker"


def _digest(directory: Path) -> dict[str, str]:
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            out[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[str(path)] = "dir"
    return out


def _assert_clean(code: int, out: str, err: str) -> None:
    text = out + err
    assert SECRET not in text
    assert "Traceback" not in text and "internal error" not in text, err
    if code != 0:
        assert err.strip(), "a failure says why"


def _cli(world, *args: str) -> tuple[int, str, str]:
    cfg, sentinel, marker = world
    before = _digest(sentinel)
    code, out, err = run(*args)
    _assert_clean(code, out, err)
    assert _digest(sentinel) == before, "a file outside the configuration tree changed"
    assert not marker.exists(), "planted code ran"
    return code, out, err


def _plan(world) -> tuple[int, str, str]:
    cfg = world[0]
    return _cli(world, "plan", str(cfg), "--cloud", f"file:{cfg / 'live.json'}", "--json")


# -- writes through symlinks (issue 12 §2) -------------------------------------------------------


def test_fmt_temp_name_symlink_is_not_written_through(world) -> None:
    cfg, sentinel, _ = world
    (cfg / "vars.tf").write_text(MESSY)
    for name in (".vars.tf.sgplan-fmt", ".vars.tf.tmp"):
        (cfg / name).symlink_to(sentinel / "victim.txt")
    code, out, _ = _cli(world, "fmt", str(cfg))
    assert code == 0 and "vars.tf" in out
    assert (cfg / "vars.tf").read_text() == 'variable "v" {\n  default = "x"\n}\n'


def test_fmt_does_not_format_a_symlink_leaving_the_tree(world) -> None:
    cfg, sentinel, _ = world
    (sentinel / "victim.tf").write_text(MESSY)
    (cfg / "linked.tf").symlink_to(sentinel / "victim.tf")
    code, _, err = _cli(world, "fmt", str(cfg))
    assert code == 1 and "linked.tf" in err and "outside" in err
    assert (cfg / "linked.tf").is_symlink()


def test_fmt_keeps_a_symlink_inside_the_tree_and_its_mode(world) -> None:
    cfg, _, _ = world
    (cfg / "shared").mkdir()
    (cfg / "shared" / "vars.tf").write_text(MESSY)
    (cfg / "shared" / "vars.tf").chmod(0o640)
    (cfg / "vars.tf").symlink_to("shared/vars.tf")
    code, _, _ = _cli(world, "fmt", str(cfg))
    assert code == 0 and (cfg / "vars.tf").is_symlink()
    assert (cfg / "shared" / "vars.tf").read_text().startswith('variable "v" {\n  default')
    assert (cfg / "shared" / "vars.tf").stat().st_mode & 0o777 == 0o640


def test_fmt_does_not_enter_symlinked_directories(world) -> None:
    cfg, sentinel, _ = world
    (sentinel / "mod").mkdir()
    (sentinel / "mod" / "x.tf").write_text(MESSY)
    (cfg / "mod").symlink_to(sentinel / "mod")
    code, out, _ = _cli(world, "fmt", str(cfg))
    assert code == 0 and "x.tf" not in out


def test_validate_does_not_truncate_through_gitignore_symlink(world) -> None:
    cfg, sentinel, _ = world
    (cfg / ".sgplan").mkdir()
    (cfg / ".sgplan" / ".gitignore").symlink_to(sentinel / "victim.txt")
    code, _, _ = _cli(world, "validate", str(cfg))
    assert code == 0


@pytest.mark.parametrize("where", [".sgplan", ".sgplan/cache"])
def test_symlinked_cache_directories_are_not_used(world, where: str) -> None:
    cfg, sentinel, _ = world
    target = sentinel / "cache-target"
    target.mkdir()
    link = cfg / where
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    for _ in range(2):
        code, _, _ = _cli(world, "validate", str(cfg))
        assert code == 0
    assert list(target.iterdir()) == []


def test_cache_entry_symlinks_are_not_followed(world) -> None:
    cfg, sentinel, _ = world
    from sgplan.cachestore import CACHE_DIR
    from sgplan.hcl.cache import ParseCache

    cache = cfg / CACHE_DIR
    cache.mkdir(parents=True)
    name = ParseCache.entry_name((cfg / "main.sg.hcl").read_bytes())
    (cache / name).symlink_to(sentinel / "victim.txt")
    for _ in range(2):
        assert _cli(world, "validate", str(cfg))[0] == 0
    assert not (cache / name).is_symlink()


# -- planted code (issue 12 §8) ------------------------------------------------------------------


def test_crafted_cache_entries_never_run_code(world) -> None:
    cfg, _, marker = world
    from sgplan.cachestore import CACHE_DIR
    from sgplan.hcl.cache import ParseCache

    cache = cfg / CACHE_DIR
    cache.mkdir(parents=True)
    name = ParseCache.entry_name((cfg / "main.sg.hcl").read_bytes())
    payload = pickle.dumps(Boom(marker))
    for body in (b"\0" * 32 + b"P" + payload, payload, b"\0" * 32 + b"M" + payload):
        (cache / name).write_bytes(body)
        code, out, _ = _plan(world)
        assert code == 0 and json.loads(out)["stack"] == "quickstart"


def _grammar_name() -> str:
    import lark

    from sgplan.hcl.parser import hcl2_version

    return f"hcl2-{hcl2_version()}-lark-{lark.__version__}.lark-cache"


def test_planted_grammar_pickles_in_shared_places_are_not_loaded(world, tmp_path: Path) -> None:
    """A cache directory others can write (mode 0777) and the old predictable /tmp name both
    hold a pickle that would create the marker: a fresh process must load neither."""
    cfg, _, marker = world
    shared = tmp_path / "shared-xdg"
    (shared / "sgplan").mkdir(parents=True)
    tmp = tmp_path / "tmp"
    (tmp / f"sgplan-{os.geteuid()}").mkdir(parents=True)
    planted = b"any-hash\n" + pickle.dumps(Boom(marker))  # Lark unpickles before it checks the hash
    for directory in (shared / "sgplan", tmp / f"sgplan-{os.geteuid()}"):
        directory.chmod(0o777)
        (directory / _grammar_name()).write_bytes(planted)
    (tmp / f"sgplan-{os.geteuid()}-{_grammar_name()}").write_bytes(planted)
    env = {**os.environ, "XDG_CACHE_HOME": str(shared), "TMPDIR": str(tmp), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "sgplan", "validate", str(cfg)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()


# -- reads outside the tree (issue 12 §7) --------------------------------------------------------


def test_auto_tfvars_symlink_leaving_the_tree_is_refused(world) -> None:
    cfg, sentinel, _ = world
    (cfg / "zz.auto.tfvars").symlink_to(sentinel / "secret.tfvars")
    code, _, err = _plan(world)
    assert code == 1 and "zz.auto.tfvars" in err and "outside" in err


@pytest.mark.parametrize("name", ["terraform.tfvars", "sgplan.tfvars"])
def test_named_tfvars_symlink_leaving_the_tree_is_refused(world, name: str) -> None:
    cfg, sentinel, _ = world
    (cfg / name).symlink_to(sentinel / "secret.tfvars")
    code, _, err = _plan(world)
    assert code == 1 and name in err


@pytest.mark.parametrize("name", ["evil.tf", "evil.hcl", "evil.sg.hcl"])
def test_config_file_symlink_leaving_the_tree_is_refused(world, name: str) -> None:
    cfg, sentinel, _ = world
    (cfg / name).symlink_to(sentinel / "secret.tf")
    for command in ("validate", "plan"):
        args = [command, str(cfg)] + (["--cloud", f"file:{cfg / 'live.json'}"] if command == "plan" else [])
        code, _, err = _cli(world, *args)
        assert code == 1 and name in err


def test_dotenv_symlink_as_config_file_is_refused(world) -> None:
    cfg, sentinel, _ = world
    (cfg / "zz.tf").symlink_to(Path("..") / ".." / "outside" / "dotenv")
    assert _cli(world, "validate", str(cfg))[0] == 1


def test_var_file_from_the_operator_may_point_anywhere(world) -> None:
    cfg, sentinel, _ = world
    (sentinel / "office.tfvars").write_text('office_cidrs = ["192.0.2.0/24"]\n')
    code, out, _ = _cli(world, "plan", str(cfg), "--cloud", f"file:{cfg / 'live.json'}", "--json",
                        "--var-file", str(sentinel / "office.tfvars"))
    assert code == 0 and "192.0.2.0/24" in out


def test_symlinks_inside_the_tree_are_read(world) -> None:
    cfg, _, _ = world
    (cfg / "shared").mkdir()
    (cfg / "shared" / "office.tfvars").write_text('office_cidrs = ["192.0.2.0/24"]\n')
    (cfg / "office.auto.tfvars").symlink_to("shared/office.tfvars")
    code, out, _ = _plan(world)
    assert code == 0 and "192.0.2.0/24" in out


# -- sgplan reads what Terraform reads (issue 12 §5) ---------------------------------------------

MISLEX = '''security_group "mislex" {
  name = "mislex"
  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "22"
    description = "$${"
    cidr_block  = "10.0.0.0/8"
    /* }"
    cidr_block  = "0.0.0.0/0"
    # */
  }
}
'''


def test_escaped_interpolation_followed_by_a_comment_reads_as_terraform_does(world) -> None:
    cfg, _, _ = world
    (cfg / "mislex.sg.hcl").write_text(MISLEX)
    code, out, _ = _plan(world)
    assert code == 0
    (change,) = [c for c in json.loads(out)["resource_changes"] if c["address"] == "security_group.mislex"]
    (rule,) = change["change"]["after"]["ingress"]
    assert rule["cidr_block"] == "10.0.0.0/8" and rule["description"] == "${"


# -- oversized and deep input (issue 12 §9, parse layer) -----------------------------------------


@pytest.mark.parametrize("text", [
    'locals {\n  big = "' + "x" * 10_000_000 + '"\n}\n',
    "locals {\n  big = <<EOT\n" + "x" * 99 + "\n" * 1 + ("y" * 99 + "\n") * 100_000 + "EOT\n}\n",
    "/*" + ("z" * 99 + "\n") * 100_000 + "*/\n",
    "locals {\n  deep = " + "[" * 5000 + "]" * 5000 + "\n}\n",
    "locals {\n  chain = " + " + ".join(["1"] * 3000) + "\n}\n",
    "a {\n" * 3000 + "}\n" * 3000,
    "locals {\n  n = " + "9" * 5000 + "\n}\n",
], ids=["10MB-string", "10MB-heredoc", "10MB-comment", "deep-brackets", "long-chain", "deep-blocks", "huge-number"])
def test_oversized_or_deep_input_ends_with_a_one_line_error_or_succeeds(world, text: str) -> None:
    cfg, _, _ = world
    (cfg / "big.tf").write_text(text)
    code, out, err = _cli(world, "validate", str(cfg))
    assert code in (0, 1)
    for line in err.strip().splitlines():
        assert line.startswith(str(cfg)) or line.startswith("error") or ":" in line, line


def test_a_file_over_the_size_limit_is_refused_before_parsing(world, monkeypatch: pytest.MonkeyPatch) -> None:
    from sgplan.hcl import load

    cfg, _, _ = world
    monkeypatch.setattr(load, "MAX_FILE_BYTES", 1024)
    (cfg / "big.tf").write_text("# " + "x" * 2000 + "\n")
    code, _, err = _cli(world, "validate", str(cfg))
    assert code == 1 and "big.tf:1: file is larger than" in err


def test_check_sarif_replaces_a_committed_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    """CI writes `check --sarif sgplan.sarif` inside the checkout, where a pull request can
    commit `sgplan.sarif -> ~/.bashrc`: the output replaces the link, the target stays."""
    import shutil

    from tests.e2e.cli import run
    from tests.e2e.conftest import REPO

    config = tmp_path / "qs"
    shutil.copytree(REPO / "examples" / "quickstart", config)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (config / "sgplan.sarif").symlink_to(victim)
    code, _out, err = run("check", config, "--sarif", config / "sgplan.sarif")
    assert code in (0, 1), err
    assert victim.read_text() == "precious"
    assert not (config / "sgplan.sarif").is_symlink() and '"version": "2.1.0"' in (config / "sgplan.sarif").read_text()
