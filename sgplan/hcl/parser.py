"""The HCL parser: one Lark LALR parser built from python-hcl2's own grammar (`hcl2/hcl2.lark`)
and post-lexer, with the cheapest options that still give the tree sgplan's walker reads, and
with the grammar's lexing mistakes corrected (`GRAMMAR_FIXES`).

python-hcl2's `parses_to_tree` turns on `propagate_positions`, which about doubles parse time
(every reduction copies positions up the tree); sgplan reads positions from tokens instead
(`nodes.position`). The compiled grammar is a pickle (Lark's cache): it is kept only in a
directory private to the user (`safefs.user_cache_dir`), never in a shared place such as a
predictable name in /tmp, where anyone could plant a pickle that runs code when loaded
(issue 12 §8); without such a directory the grammar is compiled each run (~1.4 s).
"""

from __future__ import annotations

import functools
import os
import stat
import sys
from pathlib import Path

import lark
from lark import Lark, Tree

from sgplan import safefs
from sgplan.collector import gc_paused

# python-hcl2 8.1.4 lexes `$${` / `%%{` as one token running to the next `}` anywhere in the
# file, across the closing quote, newlines and comments: `"$${"` followed later by `}"` in a
# comment swallows the attributes in between (issue 12 §5). In HCL these escapes are exactly
# three characters; what follows is ordinary template text.
GRAMMAR_FIXES = {
    r"ESCAPED_INTERPOLATION.2: /\$\$\{[^}]*\}/": r"ESCAPED_INTERPOLATION.2: /\$\$\{/",
    r"ESCAPED_DIRECTIVE.2: /%%\{[^}]*\}/": r"ESCAPED_DIRECTIVE.2: /%%\{/",
    # HCL allows strip markers on interpolations too (`${~ x ~}`, hclsyntax's template scanner);
    # python-hcl2 only on directives.
    "interpolation: INTERP_START expression RBRACE":
        "interpolation: INTERP_START STRIP_MARKER? expression STRIP_MARKER? RBRACE",
}


# Patterns that repeat a group once per character keep a backtracking record per repetition in
# Python's `re`: a 10 MB string, comment or heredoc cost 1.3-2.2 GB (issue 12 §9). The same
# languages with possessive repeats (Python 3.11+) or one repetition per line match alike.
if sys.version_info >= (3, 11):
    GRAMMAR_FIXES.update({
        r"""|(?:\$(?!\$?\{))|(?:%(?!%?\{)))+/""": r"""|(?:\$(?!\$?\{))|(?:%(?!%?\{)))++/""",
        r"/\/\*(.|\n)*?(\*\/)/": r"/\/\*[^*]*+\*++(?:[^\/*][^*]*+\*++)*+\//",
    })
    for _name in ("heredoc", "heredoc_trim"):
        GRAMMAR_FIXES[rf"\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P={_name})\r?\n/"] = (
            rf"\r?\n(?:(?!\s*(?P={_name})\r?\n)[^\n]*+\n)*+\s*(?P={_name})\r?\n/")


@functools.lru_cache(maxsize=1)
def hcl2_version() -> str:
    """The installed python-hcl2 version (part of every cache key); looked up once per process,
    as `importlib.metadata` scans the path each time (~1.5 ms a call, once per cached file)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("python-hcl2")
    except PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def grammar() -> str:
    """python-hcl2's grammar with `GRAMMAR_FIXES` applied; fails loudly if a fix no longer
    applies (a new python-hcl2 must be checked against the differential tests again)."""
    import hcl2

    text = (Path(hcl2.__file__).parent / "hcl2.lark").read_text(encoding="utf-8")
    for wrong, right in GRAMMAR_FIXES.items():
        if wrong not in text:
            raise RuntimeError(f"python-hcl2 {hcl2_version()}: grammar line {wrong!r} not found; "
                               "re-check sgplan/hcl/parser.py GRAMMAR_FIXES")
        text = text.replace(wrong, right)
    return text


def grammar_cache_file() -> str | None:
    """Where Lark may keep the compiled grammar: a file in the user's private cache directory,
    or None (no cache) when there is no such directory or the file there is not a plain file
    of this user's. Lark checks the grammar's hash inside the file, so a cache from another
    grammar or version is rebuilt, not misused."""
    directory = safefs.user_cache_dir(fallback=True)
    if directory is None:
        return None
    path = directory / f"hcl2-{hcl2_version()}-lark-{lark.__version__}.lark-cache"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return str(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_uid != safefs.euid() or st.st_mode & 0o022:
        return None
    return str(path)


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The shared parser (built once per process)."""
    from hcl2.postlexer import PostLexer  # merges newlines into following binary operators

    cache = grammar_cache_file()
    return Lark(
        grammar(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=False,
        maybe_placeholders=False,
        postlex=PostLexer(),
        cache=cache if cache is not None else False,
    )


def parse(text: str) -> Tree:
    """HCL text → python-hcl2's raw tree (without node positions); raises lark's UnexpectedInput."""
    return parser().parse(text)


def parse_text(text: str) -> Tree:
    """Parse HCL text into python-hcl2's raw tree (the collector paused); raises lark's UnexpectedInput.

    Trees carry no node positions (see parser.py); use `nodes.position`.
    """
    with gc_paused():
        return parse(text)
