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
    if "\r" in text:
        if LONE_CR.search(text):
            return None  # HCL ends a line at a lone CR; the loader refuses it (conformance.check_text)
    else:
        scanned = scan_lines(text, display)
        if scanned is not None:
            return scanned
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


__all__ = ["parse_body", "scan_lines", "scan_syntax"]


# --- the line scanner -------------------------------------------------------------------------
#
# Most configuration lines are one of a few shapes: `name = "string"`, `name = 123`,
# `name = a.b.c`, `name = [items]` on one line, a block header `type "label" … {`, `}`, blank or
# comment lines. One anchored regex per line recognises them and the records are built straight
# from its groups, with no token lists (the tokenizer made 2.7 million tokens at G=2,000 × R=50,
# about 40 % of the cold parse). The scanner gives exactly what the token reader above gives for
# such files; at any line it is not sure of (another shape, a backslash or template in a string,
# a keyword in a reference, a `}` too many, an unclosed block) it returns None and the token
# reader reads the whole file. Lines end at `\n` only; text with a CR goes to the token reader.
_N = r"[A-Za-z_][A-Za-z0-9_-]*"
_LINE = re.compile(
    r"[ \t]*+(?:"
    rf"({_N})[ \t]*+=[ \t]*+(?:"  # 1: attribute name
    r'"([^"\\\n]*+)"'  # 2: string without escapes
    r"|([0-9]++)"  # 3: whole number
    rf"|({_N}(?:\.{_N})*+)"  # 4: name or plain traversal
    r"|\[([^\]\n]*+)\]"  # 5: one-line list
    r")"
    rf"|({_N})((?:[ \t]*+\"[^\"\\\n]*+\"|[ \t]++{_N})*+)[ \t]*+\{{"  # 6: block type, 7: labels
    r"|(\})"  # 8: closing brace
    r"|"  # blank or comment-only line
    r")[ \t]*+(?:(?:#|//)[^\n]*+)?\n"
)
_ITEM = re.compile(rf'[ \t]*+(?:"([^"\\\n]*+)"|([0-9]++)|({_N}(?:\.{_N})*+))[ \t]*+(?:,|\Z)')
_LABEL = re.compile(rf'"([^"\\\n]*+)"|({_N})')


class _Unsure(Exception):
    """A line the scanner does not take: the token reader reads the file."""


def scan_lines(text: str, display: str) -> tuple[Block, list[Diagnostic]] | None:
    """`parse_body` for files made only of the plain line shapes (see above), else None.
    `text` ends with a newline and holds no CR."""
    try:
        return _scan(text, display)
    except _Unsure:
        return None


def _scan(text: str, display: str) -> tuple[Block, list[Diagnostic]]:
    match = _LINE.match
    intern = sys.intern
    new_attribute = tuple.__new__
    diags: list[Diagnostic] = []
    # Open blocks: (type, labels, attributes, blocks, range); the file's body is the first.
    stack: list[tuple[str, tuple[str, ...], dict[str, Attribute], list[Block], SourceRange]] = []
    attributes: dict[str, Attribute] = {}
    blocks: list[Block] = []
    top = ("", (), attributes, blocks, SourceRange(display, 1))
    stack.append(top)
    pos, line, end = 0, 0, len(text)
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise _Unsure
        line += 1
        last = m.lastindex
        if last is None:  # blank or comment
            pos = m.end()
            continue
        if last <= 5:  # an attribute
            name = intern(m.group(1))
            if last == 2:
                value = m.group(2)
                if "{" in value and ("${" in value or "%{" in value):
                    raise _Unsure
                expr: Const | Ref | ListOf = Const(intern(value), line, m.start(2) - pos)
            elif last == 3:
                digits = m.group(3)
                if len(digits) > 309:
                    raise _Unsure
                expr = Const(int(digits), line, m.start(3) - pos + 1)
            elif last == 4:
                expr = _scan_ref(m.group(4), line, m.start(4) - pos + 1)
            else:
                expr = _scan_list(m.group(5), line, m.start(5) - pos)
            if name in attributes:
                first = attributes[name].line
                at = SourceRange(display, line, m.start(1) - pos + 1)
                diags.append(error(f'duplicate attribute "{name}" (first set at line {first})', at))
            else:
                attributes[name] = new_attribute(Attribute, (name, expr, display, line, m.start(1) - pos + 1))
        elif last == 8:  # `}`
            if len(stack) == 1:
                raise _Unsure  # a `}` too many: the token reader declines, Lark reports it
            block_type, labels, attrs, nested, where = stack.pop()
            attributes, blocks = stack[-1][2], stack[-1][3]
            blocks.append(Block(block_type, labels, attrs, tuple(nested), where))
        else:  # a block header
            if len(stack) > MAX_BLOCK_DEPTH:
                raise _Unsure  # the Lark path reports the nesting limit
            raw = m.group(7)
            labels = () if not raw else _scan_labels(raw)
            attributes, blocks = {}, []
            stack.append((intern(m.group(6)), labels, attributes, blocks,
                          SourceRange(display, line, m.start(6) - pos + 1)))
        pos = m.end()
    if len(stack) != 1:
        raise _Unsure  # an unclosed block
    return Block("", (), top[2], tuple(top[3]), top[4]), diags


def scan_syntax(text: str) -> bool:
    """Whether `scan_lines(text, …)` would take `text`, building nothing (`fmt --check` needs
    only to know that the file parses; then `parse_source` gives it a body)."""
    match = _LINE.match
    depth, pos, end = 0, 0, len(text)
    try:
        while pos < end:
            m = match(text, pos)
            if m is None:
                return False
            last = m.lastindex
            if last == 2:
                value = m.group(2)
                if "{" in value and ("${" in value or "%{" in value):
                    return False
            elif last == 8:
                if depth == 0:
                    return False
                depth -= 1
            elif last == 7:
                depth += 1
                if depth > MAX_BLOCK_DEPTH:
                    return False
                if "{" in m.group(7):
                    _scan_labels(m.group(7))
            elif last == 3:
                if m.end(3) - m.start(3) > 309:
                    return False
            elif last == 4:
                _scan_ref(m.group(4), 0, 0)
            elif last == 5:
                _scan_list(m.group(5), 0, 0)
            pos = m.end()
    except _Unsure:
        return False
    return depth == 0


def _scan_ref(text: str, line: int, column: int) -> Const | Ref:
    if "." not in text:
        if text in _LITERALS:
            return Const(_LITERALS[text], line, column)
        if text in _KEYWORDS:
            raise _Unsure
        return Ref((text,), line, column)
    names = tuple(text.split("."))
    for name in names:
        if name in _KEYWORDS or name in _LITERALS:
            raise _Unsure
    return Ref(names, line, column)


def _scan_list(inner: str, line: int, column: int) -> Const | ListOf:
    """`[inner]` whose `[` is at `column`: items are strings, whole numbers, literals and plain
    traversals separated by commas (a trailing comma allowed), as `_Reader._list` reads them."""
    items: list[Const | Ref] = []
    pos, end = 0, len(inner)
    if inner.strip(" \t"):
        match = _ITEM.match
        while pos < end:
            m = match(inner, pos)
            if m is None:
                raise _Unsure
            at = column + 1 + m.start(m.lastindex)
            if m.lastindex == 1:
                value = m.group(1)
                if "{" in value and ("${" in value or "%{" in value):
                    raise _Unsure
                items.append(Const(sys.intern(value), line, at - 1))
            elif m.lastindex == 2:
                digits = m.group(2)
                if len(digits) > 309:
                    raise _Unsure
                items.append(Const(int(digits), line, at))
            else:
                items.append(_scan_ref(m.group(3), line, at))
            pos = m.end()
            if pos < end and not inner[pos:].strip(" \t"):
                break  # a trailing comma: `[a, ]`
    if any(type(item) is Ref for item in items):
        return ListOf(tuple(items), line, column)
    return Const([item.value for item in items], line, column)


def _scan_labels(raw: str) -> tuple[str, ...]:
    labels = []
    for string, name in _LABEL.findall(raw):
        if name:
            labels.append(name)
        elif "{" in string and ("${" in string or "%{" in string):
            raise _Unsure
        else:
            labels.append(string)
    return tuple(labels)
