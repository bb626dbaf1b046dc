"""`sgplan fmt`: canonical layout of existing HCL files, comments kept, as hclwrite.Format does it.

A token/line formatter: lex the file the way hclsyntax does, split lines into lead / assign /
comment cells, then fix only whitespace — indent by bracket nesting, spaces between tokens,
`=` and comment alignment over runs of lines — so files we format pass `hclfmt
-require-no-change`. On top of that: trailing whitespace is removed and a file ends with one
newline.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sgplan import safefs
from sgplan.diagnostics import Diagnostic, error
from sgplan.model import SourceRange

PATTERNS = ("*.sg.hcl", "*.hcl", "*.tf", "*.tfvars")
_SKIP_DIRS = frozenset({".git", ".terraform", ".sgplan", "node_modules", "__pycache__"})

# Token kinds, named after hclsyntax's.
NEWLINE, COMMENT, IDENT, NUMBER, OQUOTE, CQUOTE, QUOTED_LIT, STRING_LIT = (
    "NL", "COMMENT", "IDENT", "NUMBER", "OQUOTE", "CQUOTE", "QLIT", "SLIT")
OHEREDOC, CHEREDOC, INTERP, CONTROL, SEQ_END = "OHEREDOC", "CHEREDOC", "INTERP", "CONTROL", "SEQEND"
OBRACE, CBRACE, OBRACK, CBRACK, OPAREN, CPAREN = "{", "}", "[", "]", "(", ")"
EQUAL, DOT, COMMA, ELLIPSIS, MINUS, BANG, COLON, QUESTION = "=", ".", ",", "...", "-", "!", ":", "?"
PLUS, STAR, SLASH, PERCENT = "+", "*", "/", "%"
EQ_OP, NOT_EQ, LT, LE, GT, GE, AND, OR, FAT_ARROW = "==", "!=", "<", "<=", ">", ">=", "&&", "||", "=>"
NIL = "NIL"

_OPENERS = frozenset({OBRACE, OBRACK, OPAREN, CONTROL, INTERP})
_CLOSERS = frozenset({CBRACE, CBRACK, CPAREN, SEQ_END})
_COMPARISONS = frozenset({EQ_OP, NOT_EQ, GT, GE, LT, LE})

_SPACE = re.compile(r"[ \t]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_IDENT = re.compile(r"[^\W\d][\w-]*")
_LINE_COMMENT = re.compile(r"(?:#|//)[^\n]*\n?")
_HEREDOC = re.compile(r"<<(-?)([^\W\d][\w-]*)\r?\n")
_OPERATORS = ("...", "==", "!=", "<=", ">=", "&&", "||", "=>", *"{}[]()=<>!?:.,+-*/%")
_QUOTED_LIT = re.compile(r"(?:\$\$\{|%%\{|\\.|\$(?!\{)|%(?!\{)|[^\"\\$%\n])+")
_HEREDOC_LIT = re.compile(r"(?:\$\$\{|%%\{|\$(?!\{)|%(?!\{)|[^$%\n])*\n?")
_TEMPLATE_OPEN = re.compile(r"([$%])\{~?")


class FormatError(Exception):
    """Input the lexer cannot read (an unterminated string, a stray character)."""

    def __init__(self, message: str, line: int, column: int = 1) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


class Token:
    __slots__ = ("kind", "text", "spaces")

    def __init__(self, kind: str, text: str, spaces: int = 0) -> None:
        self.kind, self.text, self.spaces = kind, text, spaces

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r}, {self.spaces})"


_NIL = Token(NIL, "")


# ---------------------------------------------------------------------------------------------
# Lexing (hclsyntax's scanner, as far as layout needs it)


def tokenize(text: str) -> list[Token]:
    """Tokens with the whitespace before each one; raises FormatError on unreadable input."""
    tokens: list[Token] = []
    # Frames: ["interp", depth] inside ${…}/%{…}; ["quoted"]; ["heredoc", marker, at_line_start].
    stack: list[list] = []
    pos, spaces, n = 0, 0, len(text)

    def emit(kind: str, value: str) -> None:
        nonlocal spaces
        tokens.append(Token(kind, value, spaces))
        spaces = 0

    def where(at: int) -> tuple[int, int]:
        line = text.count("\n", 0, at) + 1
        return line, at - (text.rfind("\n", 0, at) + 1) + 1

    while pos < n:
        frame = stack[-1] if stack else None
        if frame is not None and frame[0] == "quoted":
            char = text[pos]
            if char == '"':
                emit(CQUOTE, char)
                stack.pop()
                pos += 1
            elif (m := _TEMPLATE_OPEN.match(text, pos)) is not None:
                emit(INTERP if m.group(1) == "$" else CONTROL, m.group(0))
                stack.append(["interp", 0])
                pos = m.end()
            elif (m := _QUOTED_LIT.match(text, pos)) is not None:
                emit(QUOTED_LIT, m.group(0))
                pos = m.end()
            else:
                raise FormatError("unterminated quoted string", *where(pos))
            continue
        if frame is not None and frame[0] == "heredoc":
            if frame[2]:
                end = text.find("\n", pos)
                end = n if end == -1 else end
                line = text[pos:end]
                if line.strip(" \t\r") == frame[1]:
                    body = line[:-1] if line.endswith("\r") else line
                    emit(CHEREDOC, body)
                    pos += len(body)
                    stack.pop()
                    continue
            m = _TEMPLATE_OPEN.match(text, pos)
            if m is not None:
                emit(INTERP if m.group(1) == "$" else CONTROL, m.group(0))
                stack.append(["interp", 0])
                frame[2] = False
                pos = m.end()
                continue
            m = _HEREDOC_LIT.match(text, pos)
            assert m is not None and m.end() > pos
            emit(STRING_LIT, m.group(0))
            frame[2] = m.group(0).endswith("\n")
            pos = m.end()
            continue

        char = text[pos]
        if char in " \t":
            m = _SPACE.match(text, pos)
            assert m is not None
            spaces += m.end() - pos
            pos = m.end()
        elif char == "\n" or text.startswith("\r\n", pos):
            size = 1 if char == "\n" else 2
            emit(NEWLINE, text[pos : pos + size])
            pos += size
        elif char == "#" or text.startswith("//", pos):
            m = _LINE_COMMENT.match(text, pos)
            assert m is not None
            emit(COMMENT, m.group(0))
            pos = m.end()
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end == -1:
                raise FormatError("unterminated /* comment", *where(pos))
            emit(COMMENT, text[pos : end + 2])
            pos = end + 2
        elif char == '"':
            emit(OQUOTE, char)
            stack.append(["quoted"])
            pos += 1
        elif text.startswith("<<", pos) and (m := _HEREDOC.match(text, pos)) is not None:
            emit(OHEREDOC, m.group(0))
            stack.append(["heredoc", m.group(2), True])
            pos = m.end()
        elif char.isdigit():
            m = _NUMBER.match(text, pos)
            assert m is not None
            emit(NUMBER, m.group(0))
            pos = m.end()
        elif (m := _IDENT.match(text, pos)) is not None:
            emit(IDENT, m.group(0))
            pos = m.end()
        elif frame is not None and frame[1] == 0 and (char == "}" or text.startswith("~}", pos)):
            size = 1 if char == "}" else 2
            emit(SEQ_END, text[pos : pos + size])
            stack.pop()
            pos += size
        else:
            for op in _OPERATORS:
                if text.startswith(op, pos):
                    if frame is not None and op == "{":
                        frame[1] += 1
                    elif frame is not None and op == "}":
                        frame[1] -= 1
                    emit(op, op)
                    pos += len(op)
                    break
            else:
                raise FormatError(f"unexpected character {char!r}", *where(pos))
    if stack:
        what = {"quoted": "quoted string", "heredoc": "heredoc", "interp": "template sequence"}[stack[-1][0]]
        raise FormatError(f"unterminated {what} at end of file", *where(n))
    tokens.append(Token("EOF", "", spaces))
    return tokens


# ---------------------------------------------------------------------------------------------
# Layout (hclwrite's format.go: formatIndent, formatSpaces, formatCells)


@dataclass(slots=True)
class _Line:
    lead: list[Token]
    assign: list[Token] | None = None
    comment: list[Token] | None = None


def _is_newline(tok: Token) -> bool:
    return tok.kind == NEWLINE or (tok.kind == COMMENT and tok.text.endswith("\n"))


def _bracket_change(tok: Token) -> int:
    return 1 if tok.kind in _OPENERS else -1 if tok.kind in _CLOSERS else 0


def _lines(tokens: list[Token]) -> list[_Line]:
    lines: list[_Line] = []
    start = 0
    for i, tok in enumerate(tokens):
        if tok.kind == "EOF":
            lines.append(_Line(tokens[start:i]))
            break
        if _is_newline(tok):
            lines.append(_Line(tokens[start : i + 1]))
            start = i + 1
    for line in lines:
        lead = line.lead
        if not lead:
            continue
        if len(lead) > 1 and lead[-1].kind == COMMENT:
            line.comment, lead = lead[-1:], lead[:-1]
        for i, tok in enumerate(lead):
            if i > 0 and tok.kind == EQUAL:
                # Only a whole expression on this line is aligned; a value that opens a
                # multi-line bracket is not.
                if sum(_bracket_change(t) for t in lead[i:]) == 0:
                    line.assign, lead = lead[i:], lead[:i]
                break
        line.lead = lead
    return lines


def _indent(lines: list[_Line]) -> None:
    indents: list[int] = []
    for line in lines:
        if not line.lead:
            continue
        if line.lead[0].kind == NEWLINE:
            line.lead[0].spaces = 0
            continue
        net = 0
        for tok in line.lead:
            net += _bracket_change(tok)
            if tok.kind == OHEREDOC:
                break
        for tok in line.assign or ():
            net += _bracket_change(tok)
        if net > 0:
            line.lead[0].spaces = 2 * len(indents)
            indents.append(net)
            continue
        closed = -net
        while closed > 0 and indents:
            if closed > indents[-1]:
                closed -= indents.pop()
            elif closed < indents[-1]:
                indents[-1] -= closed
                closed = 0
            else:
                indents.pop()
                closed = 0
        line.lead[0].spaces = 2 * len(indents)


def _space_after(subject: Token, before: Token, after: Token) -> bool:
    s, a = subject.kind, after.kind
    if a in (NEWLINE, NIL):
        return False
    if s == IDENT and a == OPAREN:
        return False
    if s == DOT or a == DOT:
        return False
    if a in (COMMA, ELLIPSIS):
        return False
    if s == COMMA:
        return True
    if s in (QUOTED_LIT, STRING_LIT, OQUOTE, OHEREDOC) or a in (QUOTED_LIT, STRING_LIT, CQUOTE, CHEREDOC):
        return False
    if s == IDENT and subject.text == "in" and before.kind == IDENT:
        return True
    if a == OBRACK and (s in (IDENT, NUMBER) or _bracket_change(subject) < 0):
        return False
    if s == BANG:
        return False
    if s == MINUS:
        b = before.kind
        if b in (NIL, OPAREN, OBRACE, OBRACK, EQUAL, COLON, COMMA, QUESTION, PLUS, STAR, SLASH, PERCENT, MINUS):
            return False
        return not (b in _COMPARISONS or b in (AND, OR, BANG))
    if s == OBRACE or a == CBRACE:
        return not (s == OBRACE and a == CBRACE)
    if s in (INTERP, CONTROL) and a == OBRACE:
        return True
    if s == CBRACE and a == SEQ_END:
        return True
    if s == SEQ_END and a in (INTERP, CONTROL):
        return False
    if _bracket_change(subject) > 0:
        return False
    if _bracket_change(after) < 0:
        return False
    return True


def _spaces(lines: list[_Line]) -> None:
    for line in lines:
        for cell, first in ((line.lead, False), (line.assign, True)):
            if not cell:
                continue
            if first:
                cell[0].spaces = 1
            for i in range(len(cell) - 1):
                before = cell[i - 1] if i > 0 else _NIL
                cell[i + 1].spaces = 1 if _space_after(cell[i], before, cell[i + 1]) else 0


def _columns(tokens: Iterable[Token]) -> int:
    total = 0
    for tok in tokens:
        total += tok.spaces
        text = tok.text
        if text.isascii():
            total += len(text)
        else:  # grapheme clusters, approximately: combining marks and joiners add none
            total += sum(1 for c in text if not unicodedata.combining(c) and c not in "\u200d\ufe0e\ufe0f")
    return total


def _cells(lines: list[_Line]) -> None:
    def align(cell: str, width_of) -> None:
        run: list[_Line] = []

        def close() -> None:
            widest = max(width_of(line) for line in run)
            for line in run:
                getattr(line, cell)[0].spaces = widest - width_of(line) + 1
            run.clear()

        for line in lines:
            if getattr(line, cell) is None:
                if run:
                    close()
            else:
                run.append(line)
        if run:
            close()

    align("assign", lambda line: _columns(line.lead))
    align("comment", lambda line: _columns(line.lead) + _columns(line.assign or ()))


def format_text(text: str) -> str:
    """`text` laid out canonically; raises FormatError when it cannot be lexed.

    >>> format_text('a=1\\nbb = [1,2]  # c\\n')
    'a  = 1\\nbb = [1, 2] # c\\n'
    """
    tokens = tokenize(text)
    lines = _lines(tokens)
    _indent(lines)
    _spaces(lines)
    _cells(lines)
    newline = "\n"
    for tok in tokens:
        if tok.kind == NEWLINE:
            newline = tok.text
        elif tok.kind == COMMENT:
            # hclwrite leaves a comment's bytes alone; trailing blanks inside are still noise.
            end = "\r\n" if tok.text.endswith("\r\n") else "\n" if tok.text.endswith("\n") else ""
            body = tok.text[: len(tok.text) - len(end)]
            tok.text = "\n".join(part.rstrip(" \t") for part in body.split("\n")) + end
    out = "".join(" " * tok.spaces + tok.text for tok in tokens[:-1])
    # One final newline: trailing blank lines and blanks after the last token go.
    return out.rstrip("\r\n \t") + newline if out.strip() else ""


# ---------------------------------------------------------------------------------------------
# Already canonical? A line-level check for the plain subset (issue 18)
#
# Lexing a large file into tokens costs ~20 µs a line and most files `fmt --check` sees are
# already canonical. For files made only of the lines below, the layout rules above reduce to:
# indent = 2 × block depth, single spaces between tokens, and `=` in each run of attribute
# lines one column after the widest key. A file passes only when every line is of these shapes
# and laid out so; anything else (comments, heredocs, templates, multi-line values, tabs, CRs)
# returns False and goes through format_text, so this never decides what the formatter does.

_KEY = r"[A-Za-z_][A-Za-z0-9_-]*"
_STR = r'"(?:[^"\\\n$%]|\\.|[$%](?!\{))*"'  # no ${ / %{: the formatter lays out templates
_SCALAR = rf"(?:{_STR}|[0-9]+|{_KEY}(?:\.{_KEY})*)"
_PLAIN_LINE = re.compile(
    rf"( *)(?:(\}})|({_KEY})( +)= (?:{_SCALAR}|\[(?:{_SCALAR}(?:, {_SCALAR})*)?\])"
    rf"|{_KEY}(?: (?:{_STR}|{_KEY}))* \{{)")


def is_canonical(text: str) -> bool:
    """True only when format_text(text) == text is certain from the line shapes alone (plain
    blocks, `}` lines, blank lines and one-line attributes of strings, integers, references or
    lists of those); False means "not known": run format_text.

    """
    if "\r" in text or not text.endswith("\n") or text.endswith("\n\n"):
        return False
    depth = 0
    # The open run of attribute lines: the widest `indent + key` and the `=` column of its first.
    widest, column, in_run = 0, 0, False
    match = _PLAIN_LINE.fullmatch
    find = text.find
    pos, end = 0, len(text)
    while pos < end:  # line by line, without a string per line (726k lines at G=2,000 × R=50)
        start, pos = pos, find("\n", pos) + 1  # the text ends with a newline
        if pos == start + 1:
            if in_run and widest + 1 != column:
                return False
            in_run = False
            continue
        m = match(text, start, pos - 1)
        if m is None:
            return False
        indent = len(m.group(1))
        key = m.group(3)
        if key is not None:
            if indent != 2 * depth:
                return False
            width = indent + len(key)
            at = width + len(m.group(4))
            if not in_run:
                widest, column, in_run = width, at, True
            elif at != column:
                return False
            elif width > widest:
                widest = width
            continue
        if in_run and widest + 1 != column:
            return False
        in_run = False
        if m.group(2) is not None:  # `}`
            depth -= 1
            if depth < 0 or indent != 2 * depth:
                return False
        else:  # a block header ending in `{`
            if indent != 2 * depth:
                return False
            depth += 1
    if in_run and widest + 1 != column:
        return False
    return depth == 0


# ---------------------------------------------------------------------------------------------
# Files


def check_syntax(text: str, display: str, data: bytes | None = None) -> list[Diagnostic]:
    """Errors that make sgplan refuse the file, as the configuration loader reports them:
    syntax errors, and anything sgplan would read differently from HCL (hcl.conformance).
    `data`: the file's bytes when at hand (`text` is their decoding), saving a copy."""
    from sgplan.hcl.load import check_source

    if data is None:
        return check_source(text.encode("utf-8"), display)
    return check_source(data, display, text)


def format_source(text: str, display: str, data: bytes | None = None) -> tuple[str | None, list[Diagnostic]]:
    """(formatted text, []) or (None, errors naming `display`:line); `data` as in check_syntax."""
    diags = check_syntax(text, display, data)
    if diags:
        return None, diags
    if is_canonical(text):  # the common case, without lexing (same answer as format_text)
        return text, []
    try:
        return format_text(text), []
    except FormatError as exc:
        return None, [error(exc.message, SourceRange(display, exc.line, exc.column))]


def config_files(paths: Iterable[Path]) -> list[Path]:
    """Files `fmt` works on: the given files, and every configuration file under given dirs
    (hidden and tool directories skipped, symlinked directories not entered)."""
    return [path for path, _ in targets(paths)]


def targets(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(file, tree) pairs: each file with the directory it must not lead out of — the given
    directory, or a given file's own directory."""
    found: dict[Path, Path] = {}
    for path in paths:
        if path.is_dir():
            for directory, subdirs, files in os.walk(path, followlinks=False):
                subdirs[:] = sorted(d for d in subdirs if d not in _SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    candidate = Path(directory) / name
                    if any(candidate.match(p) for p in PATTERNS):
                        found.setdefault(candidate, path)
        else:
            found.setdefault(path, path.parent)
    return sorted(found.items(), key=lambda item: str(item[0]))


def format_files(paths: Iterable[Path] | Iterable[tuple[Path, Path]], *, write: bool) -> tuple[list[Path], list[Diagnostic]]:
    """Format files (or (file, tree) pairs); returns those whose text changed (rewritten
    when `write`) and errors. A file that is a symlink leading out of its tree is neither read
    nor written; rewrites never write through a link (safefs.write_atomic)."""
    changed: list[Path] = []
    diags: list[Diagnostic] = []
    for item in paths:
        path, tree = item if isinstance(item, tuple) else (item, item.parent)
        display = str(path)
        if not safefs.is_inside(path, tree):
            diags.append(error(f"{display}: refusing to format a symlink that leads outside {tree}"))
            continue
        real = Path(os.path.realpath(path))
        try:
            raw = safefs.read_bytes(real, limit=_MAX_BYTES)
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            diags.append(error(f"{display}: cannot read: {getattr(exc, 'strerror', None) or exc}"))
            continue
        result, problems = format_source(text, display, raw)
        del raw
        if result is None:
            diags.extend(problems)
            continue
        if result != text:
            changed.append(path)
            if write:
                try:
                    _replace(real, result.encode("utf-8"))
                except OSError as exc:
                    diags.append(error(f"{display}: cannot write: {exc.strerror or exc}"))
    return changed, diags


_MAX_BYTES = 64 * 1024 * 1024  # as the configuration loader (load.MAX_FILE_BYTES)


def _replace(real: Path, data: bytes) -> None:
    """Replace the regular file `real` (symlinks already resolved) keeping its mode: a new file
    with a random name in its directory (O_EXCL|O_NOFOLLOW), then a rename over it."""
    fd = os.open(real.parent, os.O_RDONLY | safefs.O_DIRECTORY | safefs.O_CLOEXEC)
    try:
        st = os.stat(real.name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise safefs.UnsafePath(0, f"{real}: not a regular file")
        safefs.write_atomic(fd, real.name, data, stat.S_IMODE(st.st_mode))
    finally:
        os.close(fd)
