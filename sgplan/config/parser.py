"""The HCL parser: one Lark LALR parser built from python-hcl2's own grammar (`hcl2/hcl2.lark`)
and post-lexer, with the cheapest options that still give the tree sgplan's walker reads.

python-hcl2's `parses_to_tree` turns on `propagate_positions`, which about doubles parse time
(every reduction copies positions up the tree); sgplan reads positions from tokens instead
(`nodes.position`). The compiled grammar is cached in the user's cache directory, because
python-hcl2 writes its cache inside the installed package, which may be read-only
(reference/hcl.md §3).
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import lark
from lark import Lark, Tree


@functools.lru_cache(maxsize=1)
def hcl2_version() -> str:
    """The installed python-hcl2 version (part of every cache key); looked up once per process,
    as `importlib.metadata` scans the path each time (~1.5 ms a call, once per cached file)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("python-hcl2")
    except PackageNotFoundError:
        return "unknown"


def grammar_cache_file() -> str:
    """Where Lark keeps the compiled grammar: `$XDG_CACHE_HOME/sgplan` (or `~/.cache/sgplan`),
    else the temp directory. Lark checks the grammar's hash inside the file, so a cache from
    another python-hcl2 version is rebuilt, not misused."""
    name = f"hcl2-{hcl2_version()}-lark-{lark.__version__}.lark-cache"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = Path(base) / "sgplan"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return str(directory / name)
    except OSError:
        pass
    return os.path.join(tempfile.gettempdir(), f"sgplan-{os.getuid() if hasattr(os, 'getuid') else 0}-{name}")


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The shared parser (built once per process)."""
    import hcl2
    from hcl2.postlexer import PostLexer  # merges newlines into following binary operators

    return Lark.open(
        "hcl2.lark",
        rel_to=hcl2.__file__,
        parser="lalr",
        lexer="contextual",
        propagate_positions=False,
        maybe_placeholders=False,
        postlex=PostLexer(),
        cache=grammar_cache_file(),
    )


def parse(text: str) -> Tree:
    """HCL text → python-hcl2's raw tree (without node positions); raises lark's UnexpectedInput."""
    return parser().parse(text)
