"""Helpers for the config tests: evaluate one expression, or load a small directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import pytest

from sgplan.config import load_configuration
from sgplan.config.evaluate import Evaluator, Scope
from sgplan.hcl.parser import parse_text


def evaluate_expression(source: str, **names: Any) -> Any:
    tree = parse_text(f"x = {source}\n")
    attribute = tree.children[0].children[0]
    return Evaluator().evaluate(attribute.children[2], Scope(names))


@pytest.fixture
def config_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write files ({relative name: text}) under a fresh directory and return it."""

    def write(files: dict[str, str] | str, *, stack: bool = True) -> Path:
        if isinstance(files, str):
            files = {"main.sg.hcl": files}
        if stack:
            files = with_stack(files)
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path

    return write


_SETTINGS_BLOCK = re.compile(r"(?m)^\s*sgplan\s*\{")
_CONFIG_SUFFIXES = (".sg.hcl", ".hcl", ".tf")


def with_stack(files: dict[str, str]) -> dict[str, str]:
    """`files` with `sgplan { stack = "test" }` appended to the first root configuration file
    when none has an sgplan block: a stack is required once anything is declared (issue 11).
    Appended, so every line number the tests check stays where it was."""
    if any(_SETTINGS_BLOCK.search(text) for text in files.values()):
        return files
    roots = sorted(n for n in files if "/" not in n and n.endswith(_CONFIG_SUFFIXES) and "tfvars" not in n)
    if not roots:
        return files
    out = dict(files)
    out[roots[0]] = out[roots[0]] + ("" if out[roots[0]].endswith("\n") or not out[roots[0]] else "\n") + 'sgplan { stack = "test" }\n'
    return out


def evaluate_dir(directory: Path, known_ids: dict[str, str] | None = None, **kwargs: Any):
    """(desired, [str(diagnostic)]) for a directory; env defaults to empty."""
    kwargs.setdefault("env", {})
    cfg, diags = load_configuration(directory, **kwargs)
    messages = [str(d) for d in diags]
    if cfg is None:
        return None, messages
    desired, more = cfg.evaluate(known_ids or {})
    return desired, messages + [str(d) for d in more]


@pytest.fixture(autouse=True)
def private_user_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the parse-cache key and grammar cache out of the real home directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
