"""String templates: escapes, heredocs, and the `%{ if }`/`%{ for }` directive structure.

python-hcl2 gives quoted strings as flat `string_part`s (directives unassembled) and heredocs as
one raw token; this module turns both into a nested list of parts the evaluator renders.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from sgplan.hcl.errors import EvalError
from sgplan.hcl.parser import parse_text

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


@dataclass(frozen=True, slots=True)
class Interp:
    expr: Tree


@dataclass(frozen=True, slots=True)
class If:
    condition: Tree
    then: tuple
    otherwise: tuple
    line: int


@dataclass(frozen=True, slots=True)
class For:
    key: str | None
    value: str
    collection: Tree
    body: tuple
    line: int


Part = str | Interp | If | For


def unescape(text: str, line: int = 0) -> str:
    """Resolve HCL's quoted-string escapes (`\\n \\r \\t \\" \\\\ \\uNNNN \\UNNNNNNNN`)."""
    if "\\" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        if len(code) > 1:
            return _code_point(code, line)
        raise EvalError(f"invalid escape sequence \\{code} in string", line)

    return _ESCAPE.sub(one, text)


def _code_point(code: str, line: int) -> str:
    """The character of a `\\uNNNN` / `\\UNNNNNNNN` escape. As in HCL, it must name a Unicode
    scalar value: surrogates (which UTF-8 cannot carry) and values past U+10FFFF are errors."""
    value = int(code[1:], 16)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise EvalError(f"invalid escape sequence \\{code} in string: not a valid Unicode character", line)
    return chr(value)


def compile_string(node: Tree, heredoc: bool = False) -> tuple[Part, ...]:
    """Parts of a `string` node: literals (escapes resolved) and nested directives.

    `heredoc` marks the quoted form of a heredoc (see `heredoc_string`), where line breaks are fine.
    """
    flat: list[tuple[str, object, bool, bool, int]] = []  # (kind, payload, strip_left, strip_right, line)
    for part in node.children:
        if not isinstance(part, Tree):
            continue  # the quotes
        child = part.children[0]
        if isinstance(child, Token):
            if child.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                flat.append(("lit", str(child)[1:], False, False, child.line))
            else:
                if "\n" in child and not heredoc:
                    raise EvalError("quoted strings cannot contain a line break; use \\n or a heredoc", child.line, child.column)
                flat.append(("lit", unescape(str(child), child.line), False, False, child.line))
            continue
        kind = child.data
        line = _line(child)
        if kind == "interpolation":
            # INTERP_START [STRIP_MARKER] expression [STRIP_MARKER] RBRACE
            children = child.children
            expr = [c for c in children if isinstance(c, Tree)][0]
            left = isinstance(children[1], Token) and children[1].type == "STRIP_MARKER"
            right = isinstance(children[-2], Token) and children[-2].type == "STRIP_MARKER"
            flat.append(("interp", expr, left, right, line))
            continue
        tokens = [c for c in child.children if isinstance(c, Token)]
        left = len(tokens) > 1 and tokens[1].type == "STRIP_MARKER"
        right = len(tokens) > 1 and tokens[-2].type == "STRIP_MARKER"
        trees = [c for c in child.children if isinstance(c, Tree)]
        if kind == "template_if_start":
            flat.append(("if", trees[-1], left, right, line))
        elif kind == "template_for_start":
            names = [str(t.children[0]) for t in trees[:-1]]
            flat.append(("for", (names, trees[-1]), left, right, line))
        else:
            flat.append((kind.replace("template_", ""), None, left, right, line))
    _apply_strip_markers(flat, per_line=heredoc)
    parts, rest = _nest(flat, 0, ())
    if rest < len(flat):
        raise EvalError(f"unexpected %{{ {flat[rest][0]} }} directive", flat[rest][4])
    return parts


def _line(node: Tree) -> int:
    """Line of a template part (its first token is `${` or `%{`; trees carry no positions)."""
    token = node.children[0] if node.children else None
    return token.line if isinstance(token, Token) and token.line else 0


def _apply_strip_markers(flat: list, per_line: bool) -> None:
    for i, (kind, _, left, right, _line) in enumerate(flat):
        if left and i > 0 and flat[i - 1][0] == "lit":
            prev = flat[i - 1]
            flat[i - 1] = (prev[0], strip_before(prev[1], per_line), *prev[2:])
        if right and i + 1 < len(flat) and flat[i + 1][0] == "lit":
            nxt = flat[i + 1]
            flat[i + 1] = (nxt[0], strip_after(nxt[1], per_line), *nxt[2:])


# What a strip marker removes: Go's unicode.IsSpace, as hclsyntax trims (Python's str.strip would
# also take U+001C..U+001F).
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(chr(c) for c in range(0x2000, 0x200B))


def strip_before(text: str, per_line: bool) -> str:
    """The literal before a `${~` / `%{~`. In a heredoc HCL's literal tokens end after each
    newline and the marker trims only the adjacent token: the last line, with its newline when
    the text ends with one."""
    if not per_line:
        return text.rstrip(GO_SPACE)
    cut = text.rfind("\n", 0, len(text) - 1) + 1
    return text[:cut] + text[cut:].rstrip(GO_SPACE)


def strip_after(text: str, per_line: bool) -> str:
    """The literal after a `~}`: in a heredoc only up to and including its first newline."""
    if not per_line:
        return text.lstrip(GO_SPACE)
    end = text.find("\n") + 1 or len(text)
    return text[:end].lstrip(GO_SPACE) + text[end:]


def _nest(flat: list, i: int, stop: tuple[str, ...]) -> tuple[tuple[Part, ...], int]:
    out: list[Part] = []
    while i < len(flat):
        kind, payload, _, _, line = flat[i]
        if kind in stop:
            return tuple(out), i
        if kind == "lit":
            if out and isinstance(out[-1], str):
                out[-1] += payload
            else:
                out.append(payload)
            i += 1
        elif kind == "interp":
            out.append(Interp(payload))
            i += 1
        elif kind == "if":
            then, i = _nest(flat, i + 1, ("else", "endif"))
            otherwise: tuple[Part, ...] = ()
            if i < len(flat) and flat[i][0] == "else":
                otherwise, i = _nest(flat, i + 1, ("endif",))
            if i >= len(flat) or flat[i][0] != "endif":
                raise EvalError("%{ if } without a matching %{ endif }", line)
            out.append(If(payload, then, otherwise, line))
            i += 1
        elif kind == "for":
            names, collection = payload
            body, i = _nest(flat, i + 1, ("endfor",))
            if i >= len(flat) or flat[i][0] != "endfor":
                raise EvalError("%{ for } without a matching %{ endfor }", line)
            key, value = (names[0], names[1]) if len(names) == 2 else (None, names[0])
            out.append(For(key, value, collection, body, line))
            i += 1
        else:
            return tuple(out), i  # a stray else/endif/endfor: the caller reports it
    return tuple(out), i


# ---------------------------------------------------------------------------------------------
# Heredocs


def heredoc_string(token: Token) -> Tree:
    """The heredoc as an equivalent quoted-string tree (cached by text; lines are relative to
    the heredoc's first body line, so add `token.line` to them)."""
    try:
        return _heredoc_tree(str(token))
    except UnexpectedInput as exc:
        raise EvalError("syntax error in heredoc template", token.line + max(getattr(exc, "line", 1), 1) - 1) from None


@functools.lru_cache(maxsize=4096)
def _heredoc_tree(text: str) -> Tree:
    body = heredoc_body(text)
    tree = parse_text('x = "' + _quote_template(body) + '"\n')
    attribute = tree.children[0].children[0]
    return attribute.children[2].children[0]


def heredoc_body(text: str) -> str:
    """Raw template text of a heredoc token: Terraform keeps the final newline, and `<<-`
    removes the smallest indentation of the non-blank lines from every line."""
    first, _, rest = text.partition("\n")
    trim = first.startswith("<<-")
    lines = rest.replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    lines.pop()  # the closing marker
    if trim:
        indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
        cut = min(indents, default=0)
        lines = [ln[cut:] if ln.strip() else ln.lstrip(" \t") for ln in lines]
    return "".join(ln + "\n" for ln in lines)


def _quote_template(body: str) -> str:
    """Escape a heredoc's literal text for a quoted string, keeping `${…}`/`%{…}` raw.
    Newlines stay raw so line numbers inside the template survive the re-parse."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        if body.startswith(("$${", "%%{"), i):
            out.append(body[i : i + 3])
            i += 3
        elif body.startswith(("${", "%{"), i):
            end = template_end(body, i + 2)
            out.append(body[i : end + 1])
            i = end + 1
        else:
            c = body[i]
            out.append("\\\\" if c == "\\" else '\\"' if c == '"' else c)
            i += 1
    return "".join(out)


def template_end(text: str, i: int) -> int:
    """Index of the `}` closing a `${`/`%{` whose body starts at `i`."""
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = _string_end(text, i + 1)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return n - 1


def _string_end(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif text.startswith(("$${", "%%{"), i):
            i += 3
        elif text.startswith(("${", "%{"), i):
            i = template_end(text, i + 2) + 1
        else:
            i += 1
    return n
