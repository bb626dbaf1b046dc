"""Escaping for text that sgplan did not write (descriptions, names, tags, ids, addresses).

Every renderer passes foreign text through one of these before it reaches a terminal, a pull
request comment or a code-scanning viewer, so data can neither rewrite the structure around it
(end a fence, a table cell, a `<details>` block, a line) nor hide from the reviewer (terminal
escape sequences, bidi overrides, zero-width characters). See docs/rendering.md.

All functions are pure and cheap on ordinary text (`str.isprintable` is the fast path).
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any, Iterable

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _hidden(ch: str) -> bool:
    """True for what must not reach the output raw.

    Python's "printable" excludes exactly the dangerous classes: controls (C0, DEL, C1: ANSI and
    OSC sequences start with ESC or CSI), format characters (bidi overrides and isolates, zero-width
    characters, Unicode tag characters), line/paragraph separators, surrogates, private-use and
    unassigned code points. Space separators (NBSP, ideographic space) are also "not printable" but
    harmless, so they stay.
    """
    return not ch.isprintable() and unicodedata.category(ch) != "Zs"


def visible(text: Any) -> str:
    """`text` on one line with every hidden character shown as a Python-style escape (`\\x1b`, `\\u202e`, `\\n`).

    Backslashes are left alone: the result is for reading, not for decoding (use `quoted` when
    the reader must tell a literal backslash from an escape).
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(_escape_char(ch) if _hidden(ch) else ch for ch in text)


def quoted(text: Any) -> str:
    """`text` in double quotes, JSON-like: `\\` and `"` escaped, hidden characters shown escaped."""
    body = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{visible(body)}"'


# --- Markdown (CommonMark + GFM tables, as GitHub renders pull-request comments) -----------------

# HTML-significant characters become entities (never markup, and entities never form structure);
# every other ASCII punctuation character gets a backslash, which CommonMark defines as "this
# character is literal" for all of them: no emphasis, links, code spans, headings, list markers,
# block quotes, autolinks or table-cell ends can start from data.
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_MD_PROSE = str.maketrans({c: _HTML.get(c, "\\" + c) for c in string.punctuation})
_BACKTICKS = re.compile(r"`+")


def md_text(text: Any) -> str:
    """Foreign text for markdown prose, a list item or a table cell: renders exactly as `visible(text)`."""
    body = visible(text).translate(_MD_PROSE)
    # Leading spaces could make an indented code block in a list item, trailing ones a hard break,
    # and parsers trim both from table cells. A character reference is kept and never structure.
    core = body.strip()
    if not core:
        return "".join(map(_reference, body))
    head, tail = body[: len(body) - len(body.lstrip())], body[len(body.rstrip()):]
    return "".join(map(_reference, head)) + core + "".join(map(_reference, tail))


def _reference(ch: str) -> str:
    return f"&#{ord(ch)};"


def longest_backtick_run(text: str) -> int:
    return max((len(m.group()) for m in _BACKTICKS.finditer(text)), default=0)


def md_code(text: Any, *, in_table: bool = False) -> str:
    """Foreign text as an inline code span that no backtick, pipe or newline in it can end.

    The delimiter is one backtick longer than any run inside (CommonMark closes a code span only
    with a run of the same length). Inside code spans backslashes are literal, except that GFM
    tables split cells on `|` first, so `in_table` escapes pipes as `\\|` (removed again by the
    table parser).
    """
    body = visible(text)
    if in_table:
        body = body.replace("|", "\\|")
    if not body:
        return ""  # an empty code span cannot be written; there is nothing to show
    fence = "`" * (longest_backtick_run(body) + 1)
    # CommonMark strips one space from each side when both are present: pad so that only our
    # padding is stripped, and so a backtick at either end cannot join the delimiter.
    if body.strip(" ") and (body[0] in "` " or body[-1] in "` "):
        body = f" {body} "
    return f"{fence}{body}{fence}"


def md_fence(lines: Iterable[str], info: str = "") -> list[str]:
    """A fenced code block holding `lines`, which no content can close or leave.

    Each line is made `visible` (so data cannot start a line of its own), and the fence is longer
    than any backtick run in the content (a closing fence must be at least as long as the opening).
    """
    body = [visible(line) for line in lines]
    longest = max((longest_backtick_run(line) for line in body), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *body, fence]


# --- SARIF ------------------------------------------------------------------------------------

_SARIF_LINK = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]"})


def sarif_text(text: Any) -> str:
    """Foreign text for a SARIF plain-text `message.text`.

    SARIF 2.1.0 §3.11.6 gives plain-text messages one piece of syntax, embedded links
    `[text](target)`; literal `[`, `]` and `\\` are escaped with a backslash so data cannot forge a
    link. Hidden characters are shown escaped, as everywhere else (viewers decode the JSON).
    """
    return visible(text).translate(_SARIF_LINK)
