"""The warm-run caches (issue 18): a plan made from the evaluated-state cache and the live-state
cache is byte for byte the plan made without them, after every kind of edit; entries that are
forged, corrupt, moved or signed by another user are ignored."""

from __future__ import annotations

import marshal
import os
import shutil
from pathlib import Path

import pytest

from benchmarks.estate import make_estate, write_estate
from sgplan.cachestore import CACHE_DIR
from sgplan.config import evaluated_cache
from sgplan.config.evaluated_cache import cache_key
from tests.e2e.cli import run

MODULE = """\
variable "name" { type = string }
variable "port" { default = "8443" }

security_group "this" {
  name = var.name
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = var.port
    cidr_block = "198.51.100.0/24"
  }
}

output "id" { value = security_group.this.id }
"""

EXTRA = """\
variable "extra_port" { default = "8443" }

module "extra" {
  source = "../modules/extra"
  name   = "extra"
  port   = var.extra_port
}

output "port" { value = var.extra_port }

security_group "open_ssh" {
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "22"
    cidr_block = "0.0.0.0/0"
  }
}
"""


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.delenv("SGPLAN_NO_CACHE", raising=False)
    monkeypatch.delenv("TF_VAR_extra_port", raising=False)
    monkeypatch.chdir(tmp_path)
    live, config = write_estate(make_estate(12, 6, 20, variant="drift"), tmp_path)
    (tmp_path / ".git").mkdir()  # the repository root module sources may come from
    (tmp_path / "modules" / "extra").mkdir(parents=True)
    (tmp_path / "modules" / "extra" / "main.sg.hcl").write_text(MODULE)
    (config / "extra.sg.hcl").write_text(EXTRA)
    return live, config


def _plan(live: Path, config: Path, *extra: str) -> str:
    code, out, err = run("plan", config, "--cloud", f"file:{live}", "--json", *extra)
    assert code == 0 and "Traceback" not in err, err
    return out


def _no_cache(monkeypatch: pytest.MonkeyPatch, live: Path, config: Path, *extra: str) -> str:
    with monkeypatch.context() as m:
        m.setenv("SGPLAN_NO_CACHE", "1")
        return _plan(live, config, *extra)


def _entries(config: Path, suffix: str) -> list[Path]:
    return sorted((config / CACHE_DIR).glob(f"*{suffix}"))


def _same_cold_warm_uncached(monkeypatch: pytest.MonkeyPatch, live: Path, config: Path, *extra: str) -> str:
    expected = _no_cache(monkeypatch, live, config, *extra)
    assert _plan(live, config, *extra) == expected  # the first run after the edit (a miss, or stale entries)
    assert _plan(live, config, *extra) == expected  # warm: from the caches
    return expected


def test_warm_equals_uncached_across_edits(estate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    live, config = estate
    shutil.rmtree(config / ".sgplan", ignore_errors=True)
    base = _same_cold_warm_uncached(monkeypatch, live, config)
    assert _entries(config, ".eval") and _entries(config, ".state") and _entries(config, ".memo")

    main = config / "main.sg.hcl"
    text = main.read_text()
    assert 'port        = "20"' in text
    main.write_text(text.replace('port        = "20"', 'port        = "2222"', 1))  # a rule edited
    edited = _same_cold_warm_uncached(monkeypatch, live, config)
    assert edited != base

    (config / "added.sg.hcl").write_text('security_group "added" {\n  description = "new"\n}\n')  # a file added
    _same_cold_warm_uncached(monkeypatch, live, config)

    (config / "terraform.tfvars").write_text('extra_port = "9443"\n')  # a variable changed: tfvars,
    tfvars = _same_cold_warm_uncached(monkeypatch, live, config)
    assert '"9443"' in tfvars
    assert '"7443"' in _same_cold_warm_uncached(monkeypatch, live, config, "--var", "extra_port=7443")  # --var,
    monkeypatch.setenv("TF_VAR_extra_port", "6443")  # and the environment (below tfvars: tfvars wins)
    assert _same_cold_warm_uncached(monkeypatch, live, config) == tfvars
    (config / "terraform.tfvars").unlink()
    assert '"6443"' in _same_cold_warm_uncached(monkeypatch, live, config)
    monkeypatch.delenv("TF_VAR_extra_port")

    module = Path("modules/extra/main.sg.hcl")  # a module source changed
    module.write_text(MODULE.replace("198.51.100.0/24", "192.0.2.0/24"))
    assert "192.0.2.0/24" in _same_cold_warm_uncached(monkeypatch, live, config)

    # An output that reads an id known only from the live state: the warm run loads the
    # configuration to evaluate it, and still gives the same plan.
    (config / "outputs.sg.hcl").write_text('output "first" { value = security_group.g00000.id }\n'
                                           'output "extra" { value = module.extra.id }\n')
    assert '"first"' in _same_cold_warm_uncached(monkeypatch, live, config)


def test_warm_run_skips_parse_and_evaluate(estate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    live, config = estate
    # (A module output reading a group's id makes the second evaluation a full one: not here.)
    Path("modules/extra/main.sg.hcl").write_text(MODULE.replace('output "id" { value = security_group.this.id }', ""))
    expected = _no_cache(monkeypatch, live, config)
    _plan(live, config)  # fills the caches
    loads: list[Path] = []
    real = evaluated_cache.load_configuration

    def counting(directory, **kwargs):
        loads.append(directory)
        return real(directory, **kwargs)

    monkeypatch.setattr(evaluated_cache, "load_configuration", counting)
    assert _plan(live, config) == expected
    assert loads == []
    code, out, err = run("validate", config)
    assert code == 0 and "Success!" in out and loads == [], err


def test_check_and_validate_from_the_cache(estate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    live, config = estate
    with monkeypatch.context() as m:
        m.setenv("SGPLAN_NO_CACHE", "1")
        cold_check = run("check", config, "--cloud", f"file:{live}", "--json")
        cold_validate = run("validate", config)
    assert "ssh" in cold_check[1]  # a finding to remember
    for _ in range(2):
        assert run("check", config, "--cloud", f"file:{live}", "--json") == cold_check
        assert run("validate", config) == cold_validate
    assert list((config / CACHE_DIR).glob("*.findings"))
    for entry in (config / CACHE_DIR).glob("*.findings"):  # a forged entry is ignored
        _tamper(entry, "unsigned")
    assert run("check", config, "--cloud", f"file:{live}", "--json") == cold_check
    (config / "extra.sg.hcl").write_text(EXTRA.split('security_group "open_ssh"')[0])  # changed: other findings
    with monkeypatch.context() as m:
        m.setenv("SGPLAN_NO_CACHE", "1")
        changed = run("check", config, "--cloud", f"file:{live}", "--json")
    assert run("check", config, "--cloud", f"file:{live}", "--json") == changed != cold_check


def _tamper(path: Path, how: str) -> None:
    blob = path.read_bytes()
    if how == "garbage":
        path.write_bytes(os.urandom(len(blob)))
    elif how == "flip":
        path.write_bytes(blob[:-10] + bytes([blob[-10] ^ 1]) + blob[-9:])
    elif how == "unsigned":  # a well-formed payload with a MAC that is not ours
        path.write_bytes(b"\0" * 32 + blob[32:])
    elif how == "truncated":
        path.write_bytes(blob[: len(blob) // 2])


@pytest.mark.parametrize("how", ["garbage", "flip", "unsigned", "truncated"])
@pytest.mark.parametrize("suffix", [".eval", ".state", ".memo"])
def test_bad_entries_are_ignored(estate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, how: str,
                                 suffix: str) -> None:
    live, config = estate
    expected = _no_cache(monkeypatch, live, config)
    _plan(live, config)
    entries = _entries(config, suffix)
    assert entries
    for entry in entries:
        _tamper(entry, how)
    assert _plan(live, config) == expected
    assert _plan(live, config) == expected  # rewritten


def test_moved_entry_is_ignored(estate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A genuine entry put under another key's name (another variable value) is not used."""
    live, config = estate
    _plan(live, config)
    (entry,) = _entries(config, ".eval")
    expected = _no_cache(monkeypatch, live, config, "--var", "extra_port=5443")
    other = cache_key(config, [("var", "extra_port=5443")], os.environ)
    assert other is not None and other != entry.name
    shutil.copyfile(entry, config / CACHE_DIR / other)
    assert _plan(live, config, "--var", "extra_port=5443") == expected


def test_entry_of_another_user_is_ignored(estate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    live, config = estate
    expected = _plan(live, config)  # signed with this user's key
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "someone-else"))
    loads: list[Path] = []
    real = evaluated_cache.load_configuration
    monkeypatch.setattr(evaluated_cache, "load_configuration",
                        lambda directory, **kw: loads.append(directory) or real(directory, **kw))
    assert _plan(live, config) == expected
    assert loads == [config]  # the entry was not trusted: loaded for real


def test_signed_entry_of_the_wrong_shape_is_a_miss() -> None:
    """Decoding is by schema: a payload the codec did not write (even under a valid MAC) is None."""
    for payload in (b"E" + marshal.dumps(("x",)), b"E" + marshal.dumps(((), (), (1, 2), (), None)), b"Z",
                    b"E" + marshal.dumps(((), (), ((None, None, None, None, 0, 0), ("not", "a", "group"), (), (), "",
                                                   (), (), ()), (), None))):
        assert evaluated_cache._decoded(payload) is None


def test_links_and_sensitive_values_are_not_cached(estate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    live, config = estate
    (config / "extra.sg.hcl").write_text(EXTRA.replace('variable "extra_port" { default = "8443" }',
                                                       'variable "extra_port" {\n  default   = "8443"\n'
                                                       '  sensitive = true\n}'))
    _plan(live, config)
    assert _entries(config, ".eval") == []  # a sensitive value never reaches the cache
    (config / "extra.sg.hcl").write_text(EXTRA)
    real = config.parent / "elsewhere.sg.hcl"
    real.write_text('security_group "linked" {}\n')
    (config / "linked.sg.hcl").symlink_to(real)
    assert cache_key(config, [], os.environ) is None
