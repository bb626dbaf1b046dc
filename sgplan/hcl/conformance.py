"""Refuse what sgplan would read differently from HashiCorp's HCL.

sgplan reads files with python-hcl2's grammar (parser.py) and its own template code; where
either is more lenient than HCL, or reads the same text as a different value, a file that
Terraform (and every reviewer's tooling) reads one way could configure the cloud another way
(issue 12 §5). Each check below was found by the differential test against HashiCorp's parser
(tests/oracle) and ends in a `file:line` error instead of a guess:

- text that Unicode NFC normalization would change: HCL's strings (cty) are NFC-normalized,
  sgplan's are not; so raw non-NFC text, escapes of combining characters and combining
  characters right after a quote, a `}` or an escape are refused;
- quoted strings with escapes HCL rejects (`\\q`, `\\u12`, surrogates, beyond U+10FFFF);
- `{ for = … }`: HCL reads `{ for` as the start of a `for` expression, python-hcl2 as a key;
- heredocs whose text sgplan's template reading (templates.heredoc_body, strip markers) would
  turn into different literal text than HCL's flush-heredoc rules (whitespace-only lines in
  `<<-`, CRLF line ends, strip markers across lines, continuation lines of multi-line
  sequences, closing markers indented by non-space characters);
- a heredoc closing marker at the very end of the file with no newline after it.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from lark import Token, Tree

from sgplan.hcl.templates import GO_SPACE, heredoc_body, strip_after, strip_before, template_end

_VALID_ESCAPE = re.compile(r'\\(?:[nrt"\\]|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})')
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.?)", re.DOTALL)
_AFTER_BOUNDARY = re.compile(r'([}" \t])([^\x00-\x7f])')
LONE_CR = re.compile(r"\r(?!\n)")


class Refusal(Exception):
    """Text sgplan will not read; `line` is relative to the text checked (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message, self.line = message, line


# -- Unicode normalization -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _second_of_composition() -> frozenset[str]:
    """Characters NFC may merge into the character before them (canonical pairs, Hangul)."""
    out = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}
    for cp in range(0x300, 0x20000):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                out.add(chr(int(parts[1], 16)))
    return frozenset(out)


def composes_backward(char: str) -> bool:
    """Whether NFC could change `char` together with whatever precedes it."""
    return unicodedata.combining(char) != 0 or char in _second_of_composition()


def extends_grapheme(char: str) -> bool:
    """Whether `char` joins the grapheme cluster before it (marks, joiners, emoji modifiers,
    tags): HCL counts a heredoc's indentation in grapheme clusters, sgplan in characters."""
    code = ord(char)
    return (unicodedata.category(char) in ("Mn", "Mc", "Me") or code in (0x200C, 0x200D)
            or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F)


def check_text(text: str) -> None:
    """Raise Refusal for raw text that NFC normalization would change (HCL normalizes every
    string value; sgplan keeps them as written), and for a carriage return not followed by a
    line feed (HCL ends a line there, python-hcl2 does not)."""
    m = LONE_CR.search(text)
    if m is not None:
        raise Refusal("carriage return without a line feed: use LF or CRLF line ends", text.count("\n", 0, m.start()) + 1)
    if text.isascii():
        return
    if not unicodedata.is_normalized("NFC", text):
        for number, line in enumerate(text.split("\n"), 1):
            if not unicodedata.is_normalized("NFC", line):
                raise Refusal("text is not in Unicode NFC form (Terraform normalizes strings, sgplan "
                              "would not): save the file NFC-normalized", number)
    for m in _AFTER_BOUNDARY.finditer(text):
        before, char = m.group(1), m.group(2)
        if composes_backward(char) or (before in " \t" and extends_grapheme(char)):
            line = text.count("\n", 0, m.start()) + 1
            raise Refusal(f"combining character U+{ord(char):04X} after {before!r}: Terraform would "
                          "join it to the character before, sgplan would not", line)


# -- quoted strings ------------------------------------------------------------------------------


def string_problem(raw: str) -> str | None:
    """Why HCL would reject or read differently the literal text `raw` of a quoted string
    (between quotes, or one literal part of a template), or None."""
    if "\\" not in raw:
        return None
    pos = 0
    while True:
        at = raw.find("\\", pos)
        if at < 0:
            return None
        m = _VALID_ESCAPE.match(raw, at)
        if m is None:
            bad = _ESCAPE.match(raw, at)
            shown = bad.group(0) if bad else "\\"
            return f"invalid escape sequence {shown!r} in string"
        escape = m.group(0)
        if escape[1] in "uU":
            code = int(escape[2:], 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return f"invalid escape sequence {escape}: not a Unicode character"
            char = chr(code)
            following = raw[m.end() : m.end() + 1]
            if (not unicodedata.is_normalized("NFC", char) or composes_backward(char)
                    or (following and composes_backward(following))):
                return (f"escape {escape} would be changed by Unicode NFC normalization in Terraform, "
                        "not in sgplan: write the normalized character")
        pos = m.end()


# -- heredocs ------------------------------------------------------------------------------------


def _template_tokens(body: str, split_lines: bool) -> list[list]:
    """The template as tokens: ["lit", text] and ["seq", strip_left, strip_right, multiline].
    HCL's scanner ends a heredoc literal token at each newline (`split_lines`); sgplan's quoted
    re-reading ends literal parts at `$${` / `%%{` escapes instead."""
    tokens: list[list] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            tokens.append(["lit", "".join(literal)])
            literal.clear()

    i, n = 0, len(body)
    while i < n:
        if body.startswith(("$${", "%%{"), i):
            if not split_lines:
                flush()
                tokens.append(["lit", body[i + 1 : i + 3]])
            else:
                literal.append(body[i + 1 : i + 3])
            i += 3
        elif body.startswith(("${", "%{"), i):
            flush()
            end = template_end(body, i + 2) + 1  # just past the closing `}`
            sequence = body[i:end]
            tokens.append(["seq", sequence[2:3] == "~", sequence.endswith("~}"), "\n" in sequence])
            i = end
        else:
            literal.append(body[i])
            i += 1
            if split_lines and body[i - 1] == "\n":
                flush()
    flush()
    return tokens


def _hcl_literals(body: str, trim: bool) -> list[str]:
    """The literal texts HCL makes of a heredoc body (strip markers, then `<<-` flushing)."""
    tokens = _template_tokens(body, split_lines=True)
    trim_next = False
    for i, tok in enumerate(tokens):
        if tok[0] == "lit":
            if trim_next:
                tok[1] = tok[1].lstrip(GO_SPACE)
            trim_next = False
            continue
        if tok[1] and i > 0 and tokens[i - 1][0] == "lit":
            tokens[i - 1][1] = tokens[i - 1][1].rstrip(GO_SPACE)
        trim_next = tok[2]
    if trim:
        _flush(tokens)
    return _merged(tokens)


def _flush(tokens: list[list]) -> None:
    """HCL's flushHeredocTemplateParts: drop the smallest indentation of line-leading literals."""
    fewest = None
    adjust: list[list] = []
    newline = True
    for tok in tokens:
        if newline:
            newline = False
            if tok[0] == "lit":
                text = tok[1]
                stripped = text.lstrip(GO_SPACE)
                if not (stripped == "" and text.endswith("\n")):
                    spaces = len(text) - len(stripped)
                    fewest = spaces if fewest is None else min(fewest, spaces)
                    adjust.append(tok)
            else:
                fewest = 0
        if tok[0] == "lit" and tok[1].endswith("\n"):
            newline = True
    for tok in adjust:
        tok[1] = tok[1][fewest or 0 :]


def _sgplan_literals(body: str) -> list[str]:
    """The literal texts sgplan makes of `templates.heredoc_body`'s output (its strip markers
    trim the adjacent line of a literal part, as `templates.strip_before`/`strip_after` do)."""
    tokens = _template_tokens(body, split_lines=False)
    for i, tok in enumerate(tokens):
        if tok[0] != "seq":
            continue
        if tok[1] and i > 0 and tokens[i - 1][0] == "lit":
            tokens[i - 1][1] = strip_before(tokens[i - 1][1], per_line=True)
        if tok[2] and i + 1 < len(tokens) and tokens[i + 1][0] == "lit":
            tokens[i + 1][1] = strip_after(tokens[i + 1][1], per_line=True)
    return _merged(tokens)


def _merged(tokens: list[list]) -> list[str]:
    """Literal text between sequences, as one string per gap."""
    out = [""]
    for tok in tokens:
        if tok[0] == "lit":
            out[-1] += tok[1]
        else:
            out.append("")
    return out


def heredoc_problem(token: str) -> tuple[str, int] | None:
    """(why, line offset within the token) when sgplan would read the heredoc `token` (the
    whole HEREDOC_TEMPLATE text, opening line to closing marker) differently from HCL."""
    first, _, rest = token.partition("\n")
    if "\r" in token:
        return "heredocs with CRLF line ends read differently in Terraform (CR kept) and sgplan: use LF", 0
    lines = rest.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    closing = lines.pop() if lines else ""
    if closing.lstrip(" \t") != closing.strip():
        return "the heredoc closing marker is indented with characters other than spaces and tabs", len(lines) + 1
    body = "".join(line + "\n" for line in lines)
    run_together = _RUN_TOGETHER.search(body)
    if run_together:
        return 'a template keyword runs together with a name (as in "%{ iftrue }"): Terraform rejects it', \
            body.count("\n", 0, run_together.start()) + 1
    if _hcl_literals(body, first.startswith("<<-")) != _sgplan_literals(heredoc_body(token)):
        return ("sgplan would read this heredoc's text differently from Terraform (blank lines holding "
                "spaces, indentation inside multi-line ${…}, or strip markers across lines): simplify it"), 0
    return None


# -- whole trees ---------------------------------------------------------------------------------


def check_tree(tree: Tree, text: str, added_newline: bool, max_depth: int) -> None:
    """Raise Refusal for the first construct of `tree` (parsed from `text`) that sgplan would
    read differently from HCL, or for nesting deeper than `max_depth` tree levels (every later
    stage recurses over the tree). `added_newline`: the loader appended the final newline."""
    wants_strings = "\\" in text or not text.isascii()
    # `free`: inside brackets, where HCL ignores line breaks; elsewhere a line break ends the
    # argument, while python-hcl2 lets an expression go on across it (`a = 1\n  + 2`).
    stack: list[tuple[Tree | Token, int, bool]] = [(tree, 1, False)]
    while stack:
        node, depth, free = stack.pop()
        if isinstance(node, Token):
            if not free and node.type in _OPERATORS and "\n" in node:
                raise Refusal("line break before an operator: Terraform ends the argument there "
                              "(wrap a multi-line expression in parentheses)", node.line or 1)
            _check_token(node, text, added_newline, wants_strings)
            continue
        if depth > max_depth:
            raise Refusal(f"expression or block nesting deeper than sgplan's limit ({max_depth} syntax levels)",
                          _first_line(node))
        kind = node.data
        if kind == "object":
            _check_object(node)
            free = False
        elif kind in _FREE or (kind == "expr_term" and isinstance(node.children[0], Token)
                               and node.children[0].type == "LPAR"):
            free = True
        elif kind in ("body", "block"):
            free = False
        elif not free and kind in ("conditional", "binary_term") and _breaks_line(node):
            raise Refusal("line break inside an expression: Terraform ends the argument there "
                          "(wrap a multi-line expression in parentheses)", _first_line(node))
        for child in reversed(node.children):
            if isinstance(child, (Tree, Token)):
                stack.append((child, depth + 1, free))


_OPERATORS = frozenset({"DOUBLE_EQ", "NEQ", "LT", "GT", "LEQ", "GEQ", "ASTERISK", "SLASH", "PERCENT",
                        "DOUBLE_AMP", "DOUBLE_PIPE", "PLUS", "QMARK"})
_FREE = frozenset({"tuple", "function_call", "for_tuple_expr", "for_object_expr", "braces_index",
                   "interpolation", "template_if_start", "template_for_start"})
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def _breaks_line(node: Tree) -> bool:
    """Whether a direct new_line_or_comment child holds a line break (block comments are
    whitespace to HCL, even across lines)."""
    for child in node.children:
        if isinstance(child, Tree) and child.data == "new_line_or_comment":
            if any("\n" in _BLOCK_COMMENT.sub("", str(t)) for t in child.children):
                return True
    return False


_KEYWORDS = frozenset({"IF", "IN", "FOR", "FOR_EACH", "ELSE", "ENDIF", "ENDFOR"})
_NAME_CHAR = re.compile(r"[A-Za-z0-9_-]")
# Directives inside heredocs are parsed later (templates.py); check their keywords here.
_RUN_TOGETHER = re.compile(r"(?<!%)%\{~?[ \t]*(?:(?:if|else|endif|endfor)[A-Za-z0-9_-]"
                           r"|for[ \t]+[A-Za-z_][\w-]*(?:[ \t]*,[ \t]*[A-Za-z_][\w-]*)?[ \t]+in[A-Za-z0-9_-])")


def _check_token(tok: Token, text: str, added_newline: bool, wants_strings: bool) -> None:
    kind = tok.type
    if kind in _KEYWORDS:
        # Where the grammar expects a keyword and no name, Lark splits `iftrue` into `if true`.
        end = tok.end_pos
        if end is not None and end < len(text) and _NAME_CHAR.match(text, end):
            raise Refusal(f'keyword "{tok}" run together with a name: Terraform reads one name here', tok.line or 1)
    elif kind == "STRING_CHARS":
        if wants_strings:
            why = string_problem(str(tok))
            if why:
                raise Refusal(why, tok.line or 1)
    elif kind in ("HEREDOC_TEMPLATE", "HEREDOC_TEMPLATE_TRIM"):
        if added_newline and tok.end_pos is not None and tok.end_pos >= len(text):
            raise Refusal("the heredoc closing marker needs a newline after it", tok.line or 1)
        problem = heredoc_problem(str(tok))
        if problem:
            raise Refusal(problem[0], (tok.line or 1) + problem[1])


def _first_line(node: Tree) -> int:
    """Line of the first token under `node` (iterative: the tree may be too deep to recurse)."""
    while isinstance(node, Tree):
        kids = [c for c in node.children if isinstance(c, (Tree, Token))]
        if not kids:
            return 1
        node = kids[0]
    return node.line or 1


def _last_token(node: Tree) -> Token | None:
    while isinstance(node, Tree):
        kids = [c for c in node.children if isinstance(c, (Tree, Token))
                and not (isinstance(c, Tree) and c.data == "new_line_or_comment")
                and not (isinstance(c, Token) and c.type == "NL_OR_COMMENT")]
        if not kids:
            return None
        node = kids[-1]
    return node


def _check_object(node: Tree) -> None:
    """`{ for = … }` (HCL reads a `for` expression) and elements not separated by a comma or a
    newline (`{ a = {}b = 1 }`), both of which python-hcl2 accepts."""
    elems = [c for c in node.children if isinstance(c, Tree) and c.data == "object_elem"]
    if elems:
        key = elems[0].children[0]
        inner = key.children[0] if isinstance(key, Tree) and key.children else None
        if isinstance(inner, Tree) and inner.data == "keyword" and str(inner.children[0]) == "for":
            raise Refusal('`{ for = … }`: Terraform reads "{ for" as the start of a for expression; '
                          'quote the key ("for")', getattr(inner.children[0], "line", 1) or 1)
    previous: Tree | None = None
    separated = True
    for child in node.children:
        if isinstance(child, Tree) and child.data == "object_elem":
            if previous is not None and not separated:
                last = _last_token(previous)
                first = _first_line(child)
                if last is not None and not str(last).endswith("\n") and last.end_line == first:
                    raise Refusal("object elements must be separated by a comma or a newline", first)
            previous, separated = child, False
        elif isinstance(child, Tree) and child.data == "new_line_or_comment":
            separated = True
        elif isinstance(child, Token) and child.type == "COMMA":
            separated = True
