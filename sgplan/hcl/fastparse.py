"""The fast path of `load.parse_source`: a one-regex tokenizer and a small recursive-descent
reader for plain HCL (literals, plain references, flat lists/maps of those, blocks, comments),
producing exactly the records the Lark walk (load.py + nodes.py) produces, or None to decline.

Why: the Lark LALR parser costs about 20 µs per token (lexer + `feed_token`), which was ~60% of
a 168k-line `sgplan import` (about 24 s of 40 s); this reader handles the same files at roughly
1 µs per token (see `benchmarks/bench_parse.py`). It accepts a strict subset of what the grammar
accepts and gives up on the whole FILE at anything else (interpolation, operators, calls,
conditionals, `for`, heredocs, splats, index brackets, syntax errors, two items on one line), so
the Lark path stays the single source of truth for everything but the plain common case.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any

from sgplan.diagnostics import Diagnostic, error
from sgplan.hcl.conformance import LONE_CR, string_problem
from sgplan.hcl.errors import EvalError
from sgplan.hcl.nodes import Const, ListOf, Ref
from sgplan.hcl.numbers import number
from sgplan.hcl.syntax import Attribute, Block
from sgplan.hcl.templates import unescape
from sgplan.model import SourceRange

# Token kinds (small ints compare fastest).
_NL, _STR, _NUM, _NAME, _PUNCT, _OTHER = range(6)

# One master pattern; leading blanks are swallowed into every token, as Lark's `%ignore
# /[ \t\r]+/` does. `nl` mirrors python-hcl2's NL_OR_COMMENT (newline, `#…\n`, `//…\n`, `/*…*/`),
# runs of them merged into one token. A string must be single-line with valid-looking escapes;
# `${`/`%{` inside it are rejected after the match. Numbers carry no sign: `-` is its own token,
# so `-1` and `- 1` read alike (both are -1 in the Lark walk). Anything else is `other`: decline.
# Possessive repeats (Python 3.11+) keep `re` from recording a backtracking point per character
# of a long string or comment (a 10 MB literal cost 1.7 GB); they match the same text here.
_P = "+" if sys.version_info >= (3, 11) else ""
_COMMENT = rf"/\*[^*]*{_P}\*+{_P}(?:[^/*][^*]*{_P}\*+{_P})*{_P}/"  # up to the first */, as Lark's `/\*(.|\n)*?\*/`
_TOKEN = re.compile(
    r"""[ \t\r]*(?:
      (?P<nl>(?:(?:\n|\#[^\n]*\n|//[^\n]*\n|""" + _COMMENT + r""")[ \t\r]*)+""" + _P + r""")
    | (?P<str>"(?:[^"\\\n\r]|\\.)*""" + _P + r"""")
    | (?P<num>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    | (?P<name>[a-zA-Z_][a-zA-Z0-9_-]*)
    | (?P<punct>[{}\[\],.:-]|=(?![=>]))
    | (?P<other>.|\Z)
    )""",
    re.VERBOSE,
)
# Blocks nested deeper than this go to the Lark path, which reports load.MAX_NESTING.
MAX_BLOCK_DEPTH = 32
_KINDS = {"nl": _NL, "str": _STR, "num": _NUM, "name": _NAME, "punct": _PUNCT, "other": _OTHER}
_LITERALS = {"true": True, "false": False, "null": None}
# Names the grammar lexes as keywords in some states; in value positions the fast path leaves
# them to Lark rather than guess which state's lexer applies.
_KEYWORDS = frozenset({"if", "in", "for", "for_each", "else", "endif", "endfor"})


class _Decline(Exception):
    """Outside the fast path's subset: the caller parses the file with Lark instead."""


def parse_body(text: str, display: str) -> tuple[Block, list[Diagnostic]] | None:
    """The top-level body of `text` (already BOM-stripped, newline-terminated) with the walk's
    structure diagnostics, or None when the file is outside the plain subset."""
    if "\r" in text and LONE_CR.search(text):
        return None  # HCL ends a line at a lone CR; the loader refuses it (conformance.check_text)
    try:
        tokens = _tokenize(text)
    except _Decline:
        return None
    reader = _Reader(tokens, display)
    try:
        body = reader.body("", (), SourceRange(display, 1), top=True)
    except (_Decline, IndexError, RecursionError):
        return None
    return body, reader.diags


def _tokenize(text: str) -> tuple[list[int], list[str], list[int], list[int]]:
    """Parallel lists of kind, text, line and column (1-based) per token, ending in an `other`
    token at end of input."""
    kinds: list[int] = []
    texts: list[str] = []
    lines: list[int] = []
    cols: list[int] = []
    line, line_start = 1, 0
    kind_of = _KINDS
    for m in _TOKEN.finditer(text):
        group = m.lastgroup
        kind = kind_of[group]  # type: ignore[index]
        start = m.start(group)
        value = m.group(group)
        kinds.append(kind)
        texts.append(value)
        lines.append(line)
        cols.append(start - line_start + 1)
        if kind == _NL:
            count = value.count("\n")
            if count:
                line += count
                line_start = start + value.rindex("\n") + 1
        elif kind == _OTHER:
            if value:
                raise _Decline
            break
    return kinds, texts, lines, cols


class _Reader:
    """Recursive descent over the token lists, mirroring the grammar rules it covers
    (`body`, `block`, `attribute`, `tuple`, `object`) including where newlines may appear."""

    def __init__(self, tokens: tuple[list[int], list[str], list[int], list[int]], display: str) -> None:
        self.kinds, self.texts, self.lines, self.cols = tokens
        self.display = display
        self.i = 0
        self.depth = 0
        self.diags: list[Diagnostic] = []

    def _skip_nl(self) -> None:
        if self.kinds[self.i] == _NL:
            self.i += 1

    def body(self, block_type: str, labels: tuple[str, ...], where: SourceRange, top: bool) -> Block:
        kinds, texts = self.kinds, self.texts
        display = self.display
        attributes: dict[str, Attribute] = {}
        blocks: list[Block] = []
        while True:
            self._skip_nl()
            i = self.i
            kind = kinds[i]
            if kind != _NAME:
                if top and kind == _OTHER:  # end of input
                    return Block(block_type, labels, attributes, tuple(blocks), where)
                if not top and texts[i] == "}" and kind == _PUNCT:
                    self.i = i + 1
                    return Block(block_type, labels, attributes, tuple(blocks), where)
                raise _Decline
            name = texts[i]
            at = SourceRange(display, self.lines[i], self.cols[i])
            if kinds[i + 1] == _PUNCT and texts[i + 1] == "=":
                self.i = i + 2
                expr = self.expression()
                if name in attributes:
                    first = attributes[name].range.line
                    self.diags.append(error(f'duplicate attribute "{name}" (first set at line {first})', at))
                else:
                    attributes[name] = Attribute(name, expr, at)
            else:
                self.i = i + 1
                blocks.append(self.block(name, at))
            # Two items on one line: the Lark path reports it (load._walk_body), so decline.
            # An item directly followed by `}` (single-line blocks, `a = 1 }`): the Lark path
            # checks HCL's brace placement (load._check_braces), so decline as well.
            follow = kinds[self.i]
            if follow != _NL and not (top and follow == _OTHER):
                raise _Decline

    def block(self, block_type: str, where: SourceRange) -> Block:
        kinds, texts = self.kinds, self.texts
        labels: list[str] = []
        while True:
            kind = kinds[self.i]
            if kind == _STR:
                labels.append(_string(texts[self.i]))  # escapes resolved, as HCL (load._label_of)
            elif kind == _NAME:
                labels.append(texts[self.i])
            else:
                break
            self.i += 1
        if kinds[self.i] != _PUNCT or texts[self.i] != "{":  # `{` on the next line: Lark reports it
            raise _Decline
        self.i += 1
        if kinds[self.i] != _NL and not (kinds[self.i] == _PUNCT and texts[self.i] == "}"):
            raise _Decline  # a single-line block `b { a = 1 }`: Lark checks HCL's rules for it
        self.depth += 1
        if self.depth > MAX_BLOCK_DEPTH:
            raise _Decline  # the Lark path reports the nesting limit
        body = self.body(block_type, tuple(labels), where, top=False)
        self.depth -= 1
        return body

    def expression(self) -> Const | Ref | ListOf:
        """An attribute value: the compact node `nodes.simplify` would make, or decline."""
        i = self.i
        kind = self.kinds[i]
        text = self.texts[i]
        if kind == _PUNCT:
            if text == "[":
                return self._list()
            if text == "{":
                return self._object()
        return self._scalar_or_ref()

    def _scalar_or_ref(self) -> Const | Ref:
        i = self.i
        kinds, texts = self.kinds, self.texts
        kind = kinds[i]
        text = texts[i]
        line, column = self.lines[i], self.cols[i]
        if kind == _STR:
            self.i = i + 1
            return Const(_string(text), line, column)
        if kind == _NUM:
            self.i = i + 1
            return Const(_number(text), line, column)
        if kind == _PUNCT and text == "-" and kinds[i + 1] == _NUM:
            self.i = i + 2
            return Const(number(-_number(texts[i + 1])), line, column)
        if kind != _NAME:
            raise _Decline
        if text in _LITERALS:
            self.i = i + 1
            if kinds[self.i] == _PUNCT and texts[self.i] == ".":
                raise _Decline  # `true.x` is a traversal on a literal: a tree
            return Const(_LITERALS[text], line, column)
        names = [text]
        i += 1
        while kinds[i] == _PUNCT and texts[i] == ".":
            if kinds[i + 1] != _NAME:
                raise _Decline  # `.0`, `.*`: index or splat
            names.append(texts[i + 1])
            i += 2
        for name in names:
            if name in _KEYWORDS or name in _LITERALS:
                raise _Decline  # `x.true` is not a plain traversal in the walk; keywords: see _KEYWORDS
        self.i = i
        return Ref(tuple(names), line, column)

    def _list(self) -> Const | ListOf:
        """`[a, b, …]` per the grammar's `tuple` rule: newlines after `[`, around commas, before `]`."""
        kinds, texts = self.kinds, self.texts
        line, column = self.lines[self.i], self.cols[self.i]
        self.i += 1
        items: list[Const | Ref] = []
        self._skip_nl()
        while not (kinds[self.i] == _PUNCT and texts[self.i] == "]"):
            items.append(self._scalar_or_ref())
            self._skip_nl()
            if kinds[self.i] == _PUNCT and texts[self.i] == ",":
                self.i += 1
                self._skip_nl()
            elif not (kinds[self.i] == _PUNCT and texts[self.i] == "]"):
                raise _Decline
        self.i += 1
        if any(type(item) is Ref for item in items):
            return ListOf(tuple(items), line, column)
        return Const([item.value for item in items], line, column)

    def _object(self) -> Const:
        """`{k = v, …}` of scalar values per the grammar's `object` rule (elements separated by
        newlines or commas); duplicate keys decline, so the evaluator reports them."""
        kinds, texts = self.kinds, self.texts
        line, column = self.lines[self.i], self.cols[self.i]
        self.i += 1
        out: dict[str, Any] = {}
        self._skip_nl()
        while not (kinds[self.i] == _PUNCT and texts[self.i] == "}"):
            kind, text = kinds[self.i], texts[self.i]
            if kind == _NAME and text not in _LITERALS and text not in _KEYWORDS:
                key = text
            elif kind == _STR:
                key = _string(text)
            else:
                raise _Decline
            self.i += 1
            if kinds[self.i] != _PUNCT or texts[self.i] not in ("=", ":"):
                raise _Decline
            self.i += 1
            value = self._scalar_or_ref()
            if type(value) is Ref or key in out:
                raise _Decline
            out[key] = value.value
            if kinds[self.i] == _PUNCT and texts[self.i] == ",":
                self.i += 1
            elif not (kinds[self.i] == _NL or (kinds[self.i] == _PUNCT and texts[self.i] == "}")):
                raise _Decline  # HCL needs a comma or newline between elements; Lark reports it
            self._skip_nl()
        self.i += 1
        return Const(out, line, column)


def _string(token: str) -> str:
    """A quoted string's value (escapes resolved); declines templates and bad escapes, which
    keep their tree in the Lark walk (nodes._plain_string)."""
    raw = token[1:-1]
    if "\\" not in raw:
        if "${" in raw or "%{" in raw:
            raise _Decline
        return raw
    if "${" in raw or "%{" in raw or string_problem(raw):
        raise _Decline  # the Lark path reports what HCL would reject or read differently
    try:
        return unescape(raw)
    except EvalError:
        raise _Decline from None


def _number(text: str) -> int | float:
    """A number literal; huge or out-of-range ones decline, so the Lark walk and the evaluator
    report them (Python's int() also refuses texts over 4,300 digits)."""
    if len(text) > 309:
        raise _Decline
    if "." in text or "e" in text or "E" in text:
        value = number(float(text))
        # From 2^53 on a float no longer holds every integer: the slow path reads such literals
        # exactly (1e53) or refuses them (a fraction), never a silently rounded value.
        if not math.isfinite(value) or abs(value) >= 2**53:
            raise _Decline
        return value
    return int(text)


__all__ = ["parse_body"]
