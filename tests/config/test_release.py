"""Releasing the rule blocks after the first evaluation (issue 18, `Configuration._release`):
the substitution on a released configuration, and a full evaluation after it (which reads the
files again), give exactly what a configuration that kept everything gives; files changed in
between are an error, never a different plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from sgplan.config import configuration, load_configuration
from tests.config.test_substitute import CASES, _ids, _write


@pytest.fixture(autouse=True)
def _release_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(configuration, "RELEASE_MIN_BLOCKS", 0)


@pytest.mark.parametrize("name", list(CASES))
def test_a_released_configuration_evaluates_as_a_kept_one(tmp_path: Path, name: str) -> None:
    extra, substitutable = CASES[name]
    directory = _write(tmp_path, extra)
    cfg, diags = load_configuration(directory, env={})
    assert cfg is not None, diags
    first, first_diags = cfg.evaluate({})
    assert first is not None, first_diags
    assert cfg._released is substitutable
    if substitutable:
        assert all(not b.blocks for b in cfg.root.groups.values())
    ids = _ids(first)
    kept, _ = load_configuration(directory, env={}, cache=False)
    assert kept is not None
    expected = kept._evaluate(ids)
    assert cfg.evaluate(ids, previous=first) == expected
    assert cfg.evaluate(ids) == expected  # a full evaluation: the blocks are read again
    assert not cfg._released


def test_files_changed_before_a_full_evaluation_are_an_error(tmp_path: Path) -> None:
    directory = _write(tmp_path, "")
    cfg, _ = load_configuration(directory, env={})
    first, _ = cfg.evaluate({})
    assert cfg._released
    (directory / "main.sg.hcl").write_text((directory / "main.sg.hcl").read_text() + "\n# edited\n")
    desired, diags = cfg.evaluate({"security_group.web": "sg-00000001"})
    assert desired is None
    assert [d.message for d in diags] == [
        f"{directory}: the configuration files changed while sgplan was running; run it again"]
    # The substitution needs no files: still exact.
    again, more = cfg.evaluate({"security_group.web": "sg-00000001"}, previous=first)
    assert again is not None, more


def test_small_configurations_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(configuration, "RELEASE_MIN_BLOCKS", 10_000)
    cfg, _ = load_configuration(_write(tmp_path, ""), env={})
    cfg.evaluate({})
    assert not cfg._released and cfg._substitutable is not None
