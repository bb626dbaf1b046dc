"""A small, deterministic HCL writer: values and blocks → canonical text that `hclfmt` accepts.

Used by `sgplan import`. python-hcl2's own writer is lossy and writes bare strings
(reference/hcl.md §2), so this follows hclwrite's rules directly (§5): quoted labels, escaped
strings, 2-space indent, `=` aligned over runs of consecutive single-line attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

INDENT = "  "
MAX_INLINE_LIST = 80  # a list longer than this (with its line) is written one item per line

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # no `-`: bare `a-b` reads as subtraction to some readers
# Words that the HCL parsers read as literals or keywords when they appear bare as an object key.
_KEYWORDS = frozenset({"true", "false", "null", "for", "in", "if", "endif", "endfor", "else"})


@dataclass(frozen=True, slots=True)
class Expr:
    """An HCL expression written verbatim, e.g. a reference `security_group.web.id`."""

    text: str


Value = Union[str, int, float, bool, None, Expr, Sequence["Value"], Mapping[str, "Value"]]


@dataclass(frozen=True, slots=True)
class Attribute:
    """`name = value` inside a body."""

    name: str
    value: Value


@dataclass(frozen=True, slots=True)
class Comment:
    """A `#` comment; each line of `text` becomes one comment line."""

    text: str


@dataclass(frozen=True, slots=True)
class Block:
    """`type "label" … { body }`; labels are always written quoted."""

    type: str
    labels: tuple[str, ...] = ()
    body: tuple["Item", ...] = ()


Item = Union[Attribute, Block, Comment]


def is_identifier(name: str) -> bool:
    """True when `name` can be written bare as an attribute name or object key."""
    return bool(_IDENT.match(name)) and name not in _KEYWORDS


def quote(text: str) -> str:
    """`text` as an HCL quoted string: escapes, and `${`/`%{` doubled so they stay literal.

    >>> quote('say "hi" ${x}')
    '"say \\\\"hi\\\\" $${x}"'
    """
    if text.isprintable() and '"' not in text and "\\" not in text and "{" not in text:
        return f'"{text}"'  # the common case, fast: nothing to escape
    out: list[str] = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif not char.isprintable():
            # Control and invisible characters (zero-width, line separators) are escaped, so
            # a reviewer sees them and no editor rewraps the line.
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    body = "".join(out)
    if "{" in body:
        body = _SIGIL.sub(_escape_sigil, body)
    return '"' + body + '"'


_SIGIL = re.compile(r"[$%]\{")


def _escape_sigil(match: re.Match[str]) -> str:
    """`${` and `%{` open a template sequence: double the sigil to keep them literal (hcl.md §5).

    python-hcl2 only reads `$${…}` when a `}` follows with no escape or other sigil in between
    (its ESCAPED_INTERPOLATION terminal is `$${[^}]*}`, and sgplan's loader takes that text
    raw). Elsewhere the sigil is written as a `\\u` escape, which every HCL reader agrees on.
    """
    body, start = match.string, match.start()
    end = body.find("}", start + 2)
    inside = body[start + 2 : end]
    if end != -1 and "\\" not in inside and "${" not in inside and "%{" not in inside:
        return match.group(0)[0] + match.group(0)
    return f"\\u{ord(match.group(0)[0]):04x}{{"


def key(name: str) -> str:
    """An object key or attribute name: bare when it is an identifier, quoted otherwise."""
    return name if is_identifier(name) else quote(name)


def _scalar(value: Value) -> str | None:
    if isinstance(value, Expr):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    return None


def value_text(value: Value, indent: str = "", lead: int = 0) -> str:
    """`value` as HCL; may span lines. `indent` is the current line's indent, `lead` the columns
    already used on the first line (so lists know whether they fit on it)."""
    text = _scalar(value)
    if text is not None:
        return text
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        inner = indent + INDENT
        lines = [(key(str(k)), value_text(v, inner, len(inner) + len(key(str(k))) + 3)) for k, v in value.items()]
        return "{\n" + "\n".join(_aligned(lines, inner)) + "\n" + indent + "}"
    items = list(value)  # type: ignore[arg-type]
    if not items:
        return "[]"
    parts = [value_text(v, indent + INDENT) for v in items]
    one_line = "[" + ", ".join(parts) + "]"
    if "\n" not in one_line and lead + len(one_line) <= MAX_INLINE_LIST:
        return one_line
    inner = indent + INDENT
    parts = [value_text(v, inner, len(inner)) for v in items]
    return "[\n" + "".join(f"{inner}{p},\n" for p in parts) + indent + "]"


def _aligned(pairs: Sequence[tuple[str, str]], indent: str) -> list[str]:
    """`name = value` lines with `=` aligned over each run of single-line values.

    hclwrite aligns consecutive lines that hold a whole assignment; a line whose value opens
    a multi-line bracket is not such a line, so it ends the run and keeps a single space.
    """
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(n) for n, _ in run), default=0)
        lines.extend(f"{indent}{n.ljust(width)} = {v}" for n, v in run)
        run.clear()

    for name, text in pairs:
        if "\n" in text:
            flush()
            lines.append(f"{indent}{name} = {text}")
        else:
            run.append((name, text))
    flush()
    return lines


def _body(items: Sequence[Item], indent: str) -> list[str]:
    lines: list[str] = []
    pending: list[tuple[str, str]] = []
    previous: Item | None = None

    def flush() -> None:
        if pending:
            lines.extend(_aligned(pending, indent))
            pending.clear()

    for item in items:
        # One blank line around every block, none between a comment and what it describes.
        if previous is not None and not isinstance(previous, Comment):
            if isinstance(item, Block) or isinstance(previous, Block):
                flush()
                lines.append("")
        if isinstance(item, Attribute):
            name = key(item.name)
            pending.append((name, value_text(item.value, indent, len(indent) + len(name) + 3)))
        else:
            flush()
            if isinstance(item, Comment):
                lines.extend(f"{indent}# {t}".rstrip() for t in item.text.split("\n"))
            else:
                lines.extend(_block(item, indent))
        previous = item
    flush()
    return lines


def _block(block: Block, indent: str) -> list[str]:
    head = " ".join([block.type, *(quote(label) for label in block.labels)])
    if not block.body:
        return [f"{indent}{head} {{}}"]
    return [f"{indent}{head} {{", *_body(block.body, indent + INDENT), f"{indent}}}"]


def render(items: Sequence[Item]) -> str:
    """A whole file: top-level items, one blank line between blocks, one final newline."""
    lines = _body(items, "")
    return "\n".join(lines) + "\n" if lines else ""
