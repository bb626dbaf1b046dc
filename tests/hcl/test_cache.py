"""The parse cache: hits skip the parser, changed files miss, bad or foreign entries and
unwritable directories fall back to parsing, and SGPLAN_NO_CACHE turns it off."""

from __future__ import annotations

import marshal
import os
from pathlib import Path

import pytest

from sgplan.cachestore import CACHE_DIR, SignedStore
from sgplan.config import load_configuration
from sgplan.hcl import load as load_module
from sgplan.hcl.cache import ParseCache
from sgplan.hcl.load import parse_source, read_file

TEXT = """\
sgplan { stack = "test" }

variable "office" {
  default = "203.0.113.0/24"
}

security_group "web" {
  name = "web"
  tags = { team = "web" }
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "22"
    cidr_block = var.office
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = join(",", [80, 443])
    security_group_id = security_group.lb.id
  }
}

security_group "lb" {
  description = "load balancers"
}

binding "web" {
  instance_ids    = ["ins-00000001"]
  security_groups = [security_group.web.id, security_group.lb.id]
}
"""


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every real parse, fast path or Lark (the bytes parsed)."""
    seen: list[bytes] = []
    real = load_module.parse_source

    def counting(data: bytes, display: str, fast: bool = True):
        seen.append(data)
        return real(data, display, fast)

    monkeypatch.setattr(load_module, "parse_source", counting)
    return seen


def _entries(directory: Path) -> list[Path]:
    cache = directory / CACHE_DIR
    return sorted(cache.glob("*.entry")) if cache.is_dir() else []


def _load(directory: Path, **kwargs):
    cfg, diags = load_configuration(directory, env=kwargs.pop("env", {}), **kwargs)
    assert cfg is not None, diags
    desired, more = cfg.evaluate({"security_group.lb": "sg-0000000b"})
    assert desired is not None, more
    return cfg, desired


def test_second_load_is_a_hit_and_gives_the_same_result(config_dir, parses) -> None:
    d = config_dir(TEXT)
    cfg1, desired1 = _load(d)
    assert len(parses) == 1 and len(_entries(d)) == 1
    cfg2, desired2 = _load(d)
    assert len(parses) == 1  # not parsed again
    assert cfg2.root.files[0].body == cfg1.root.files[0].body
    assert cfg2.config_hash == cfg1.config_hash
    assert desired2 == desired1
    assert [r.origin for r in desired2.groups[0].ingress] == [r.origin for r in desired1.groups[0].ingress]
    assert (d / ".sgplan" / ".gitignore").read_text() == "*\n"


def test_a_hit_names_the_file_as_it_is_read_now(tmp_path: Path, parses) -> None:
    source = tmp_path / "main.sg.hcl"
    source.write_text('security_group "g" {\n  name = "g"\n  colour = "blue"\n}\n')
    cache = ParseCache(tmp_path)
    first, _ = read_file(source, "one/main.sg.hcl", cache)
    second, _ = read_file(source, "two/main.sg.hcl", cache)
    assert len(parses) == 1 and cache.hits == 1
    group = second.body.blocks[0]
    assert group.range.file == "two/main.sg.hcl"
    assert group.attributes["colour"].range.file == "two/main.sg.hcl"
    assert first.body.blocks[0].range.file == "one/main.sg.hcl"


def test_walk_diagnostics_come_back_from_the_cache(tmp_path: Path, parses) -> None:
    source = tmp_path / "main.sg.hcl"
    source.write_text('security_group "g" {\n  name = "a" description = "b"\n  name = "c"\n}\n')
    cache = ParseCache(tmp_path)
    _, diags1 = read_file(source, "main.sg.hcl", cache)
    _, diags2 = read_file(source, "other.sg.hcl", cache)
    assert len(parses) == 1
    assert [d.message for d in diags2] == [d.message for d in diags1] and len(diags1) == 2
    assert all(d.range.file == "other.sg.hcl" for d in diags2)


def test_a_changed_file_is_parsed_again(config_dir, parses) -> None:
    d = config_dir(TEXT)
    _load(d)
    (d / "main.sg.hcl").write_text(TEXT.replace('name = "web"', 'name = "web-2"'))
    _, desired = _load(d)
    assert len(parses) == 2
    assert {g.name for g in desired.groups} == {"web-2", "lb"}
    assert len(_entries(d)) == 2


def test_versions_are_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import sgplan

    before = ParseCache.entry_name(b"x")
    monkeypatch.setattr(sgplan, "__version__", "99.0")
    assert ParseCache.entry_name(b"x") != before
    monkeypatch.setattr("sgplan.hcl.cache.hcl2_version", lambda: "0.0.1")
    assert ParseCache.entry_name(b"x") != before


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: b"",
        lambda blob: b"garbage" * 10,
        lambda blob: blob[: len(blob) // 2],  # truncated
        lambda blob: blob[:40] + bytes([blob[40] ^ 0xFF]) + blob[41:],  # one flipped byte
    ],
    ids=["empty", "garbage", "truncated", "flipped"],
)
def test_a_corrupt_entry_is_parsed_again_and_replaced(config_dir, parses, damage) -> None:
    d = config_dir(TEXT)
    _, desired1 = _load(d)
    (entry,) = _entries(d)
    entry.write_bytes(damage(entry.read_bytes()))
    _, desired2 = _load(d)
    assert len(parses) == 2 and desired2 == desired1
    _load(d)
    assert len(parses) == 2  # the entry was rewritten


def test_an_entry_signed_with_another_key_is_ignored(config_dir, parses, tmp_path: Path, monkeypatch) -> None:
    d = config_dir(TEXT)
    _load(d)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "someone-else"))
    _load(d)
    assert len(parses) == 2  # never unpickles what this user's key did not sign


def test_no_cache_env_and_flag(config_dir, parses) -> None:
    d = config_dir(TEXT)
    _load(d, env={"SGPLAN_NO_CACHE": "1"})
    _load(d, cache=False)
    assert len(parses) == 2 and not (d / ".sgplan").exists()
    _load(d, env={"SGPLAN_NO_CACHE": "0"})
    assert len(_entries(d)) == 1


def test_unwritable_cache_directory_still_loads(config_dir, parses) -> None:
    d = config_dir(TEXT)
    (d / ".sgplan").write_text("not a directory")  # mkdir fails, as on a read-only tree
    _, desired1 = _load(d)
    _, desired2 = _load(d)
    assert desired1 == desired2 and len(parses) == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_configuration_directory(config_dir, parses) -> None:
    d = config_dir(TEXT)
    d.chmod(0o555)
    try:
        _load(d)
        _load(d)
    finally:
        d.chmod(0o755)
    assert len(parses) == 2 and not (d / ".sgplan").exists()


def test_failed_write_is_ignored(config_dir, parses, monkeypatch: pytest.MonkeyPatch) -> None:
    d = config_dir(TEXT)

    def refuse(self, name: str, blob: bytes) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(SignedStore, "_write", refuse)
    _load(d)
    _load(d)
    assert len(parses) == 2


def test_no_user_key_means_no_cache(config_dir, parses, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    d = config_dir(TEXT)
    _load(d)
    _load(d)
    assert len(parses) == 2 and not _entries(d)


def test_syntax_errors_are_not_cached(config_dir, parses) -> None:
    d = config_dir('security_group "g" {\n  name = = "a"\n}\n')
    for _ in range(2):
        cfg, diags = load_configuration(d, env={})
        assert cfg is None and any("syntax error" in x.message for x in diags)
    assert len(parses) == 2 and not _entries(d)


def test_modules_are_cached_too(config_dir, parses) -> None:
    d = config_dir(
        {
            "main.sg.hcl": 'module "m" {\n  source = "./mod"\n  n = "x"\n}\n',
            "mod/main.sg.hcl": 'variable "n" {}\nsecurity_group "g" {\n  name = var.n\n}\n',
        }
    )
    for _ in range(2):
        cfg, diags = load_configuration(d, env={})
        assert cfg is not None and not diags
        desired, _ = cfg.evaluate()
        assert [g.address for g in desired.groups] == ["module.m.security_group.g"]
    assert len(parses) == 2 and len(_entries(d)) == 2


def _codec(directory: Path) -> bytes:
    (entry,) = _entries(directory)
    return entry.read_bytes()[32:33]  # after the 32-byte MAC


def test_plain_files_are_stored_as_tuples_and_come_back_identical(tmp_path: Path, parses) -> None:
    text = ('security_group "g" {\n  name = "g"\n  tags = { a = "b" }\n  n = -1.5\n  ok = true\n'
            '  refs = [var.a, "x", 3]\n  lst = ["p", null]\n  ingress {\n    cidr_block = var.x.y\n  }\n}\n'
            'binding "b" {\n  name = "a" description = "b"\n}\n')
    source = tmp_path / "main.sg.hcl"
    source.write_text(text)
    cache = ParseCache(tmp_path)
    read_file(source, "main.sg.hcl", cache)
    assert _codec(tmp_path) == b"M"
    hit, diags = read_file(source, "again.sg.hcl", cache)
    assert cache.hits == 1
    fresh, fresh_diags = parse_source(source.read_bytes(), "again.sg.hcl")
    assert hit.body == fresh.body and diags == fresh_diags

    def ranges(block):
        yield block.range
        for a in block.attributes.values():
            yield a.range
            yield (a.expr.line, a.expr.column)
        for b in block.blocks:
            yield from ranges(b)

    assert list(ranges(hit.body)) == list(ranges(fresh.body))


def test_files_with_trees_use_the_plain_codec_too(tmp_path: Path) -> None:
    plain, tree = tmp_path / "plain", tmp_path / "tree"
    plain.mkdir()
    tree.mkdir()
    (plain / "main.sg.hcl").write_text('security_group "g" {\n  name = "g"\n  x = [var.a]\n}\n')
    (tree / "main.sg.hcl").write_text('security_group "g" {\n  name = "g-${var.a}"\n  d = <<EOT\nx\nEOT\n}\n')
    for d in (plain, tree):
        read_file(d / "main.sg.hcl", "main.sg.hcl", ParseCache(d))
    assert _codec(plain) == b"M"
    assert _codec(tree) == b"M"  # never pickle (issue 12 §8)
    hit, _ = read_file(tree / "main.sg.hcl", "main.sg.hcl", ParseCache(tree))
    fresh, _ = parse_source((tree / "main.sg.hcl").read_bytes(), "main.sg.hcl")
    assert hit.body.blocks[0].attributes["name"].expr == fresh.body.blocks[0].attributes["name"].expr
    assert hit.body.blocks[0].attributes["d"].expr == fresh.body.blocks[0].attributes["d"].expr


# --- hostile entries and directories (issue 12 §2, §8) --------------------------------------

OTHER = 'sgplan { stack = "test" }\nsecurity_group "evil" {\n  name = "evil"\n}\n'


def test_a_signed_entry_for_other_content_is_a_miss(config_dir, parses) -> None:
    d = config_dir(TEXT)
    _load(d)
    (good,) = _entries(d)
    other = d / "other"
    other.mkdir()
    (other / "main.sg.hcl").write_text(OTHER)
    load_configuration(other, env={})
    (evil,) = _entries(other)
    good.write_bytes(evil.read_bytes())  # validly signed, but for other bytes
    _, desired = _load(d)
    assert {g.name for g in desired.groups} == {"web", "lb"}
    assert len(parses) == 3


def test_the_cache_decodes_no_pickle(config_dir, parses, tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "pwned"
    d = config_dir(TEXT)
    _load(d)
    (entry,) = _entries(d)

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    blob = entry.read_bytes()
    entry.write_bytes(blob[:32] + b"P" + pickle.dumps(Boom()))
    _load(d)
    assert not marker.exists() and len(parses) == 2


_HEAD = ("", (), (), (), 1, 1)  # the top-level body without its blocks, as encode_plain writes it


def _chunk(*blocks: tuple) -> bytes:
    return marshal.dumps(tuple(blocks))


@pytest.mark.parametrize("payload", [
    lambda: marshal.dumps(compile("1", "x", "eval")),
    lambda: marshal.dumps((_HEAD, (marshal.dumps(compile("1", "x", "eval")),), ())),
    lambda: marshal.dumps((_HEAD, (_chunk(("g", (), (("a", 1, 1, (0, {1, 2}, 1, 1)),), (), 1, 1)),), ())),
    lambda: marshal.dumps((("", (), (("a", 1, 1, (3, "t", (b"x",))),), (), 1, 1), (), ())),
    lambda: marshal.dumps((_HEAD, ((("g", (), (), (), 1, 1),),), ())),
    lambda: marshal.dumps((("", (), (), (("g", (), (), (), 1, 1),), 1, 1), (), ())),
    lambda: marshal.dumps(([], [])),
], ids=["code object", "code object chunk", "set value", "bytes child", "chunk not bytes", "blocks in the head",
        "lists"])
def test_decode_accepts_only_the_written_shapes(payload) -> None:
    from sgplan.hcl.cache import decode_plain

    with pytest.raises(Exception):
        decode_plain(payload(), "f")


def test_a_symlinked_dot_sgplan_is_not_used(config_dir, parses, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    d = config_dir(TEXT)
    (d / ".sgplan").symlink_to(outside)
    _load(d)
    _load(d)
    assert list(outside.iterdir()) == [] and len(parses) == 2


def test_a_symlinked_cache_directory_is_not_used(config_dir, parses, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    d = config_dir(TEXT)
    (d / ".sgplan").mkdir()
    (d / ".sgplan" / "cache").symlink_to(outside)
    _load(d)
    assert list(outside.iterdir()) == []


def test_a_committed_gitignore_symlink_is_never_written(config_dir, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    d = config_dir(TEXT)
    (d / ".sgplan").mkdir()
    (d / ".sgplan" / ".gitignore").symlink_to(victim)
    _load(d)
    assert victim.read_text() == "precious\n"
    assert len(_entries(d)) == 1  # the cache itself still works


def test_entry_symlinks_are_neither_read_nor_written_through(config_dir, parses, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    d = config_dir(TEXT)
    cache = d / CACHE_DIR
    cache.mkdir(parents=True)
    (cache / ParseCache.entry_name((d / "main.sg.hcl").read_bytes())).symlink_to(victim)
    _load(d)
    _load(d)
    assert victim.read_text() == "precious\n" and len(parses) == 1
    assert not any(p.is_symlink() for p in cache.iterdir())  # replaced by a real entry


def test_no_temporary_file_is_left(config_dir) -> None:
    d = config_dir(TEXT)
    _load(d)
    assert sorted(p.name for p in (d / CACHE_DIR).iterdir()) == [p.name for p in _entries(d)]
