"""Reading configuration files: discovery, parsing (parser.py: python-hcl2's grammar, raw tree)
and the walk of that tree into positioned `Block`/`Attribute` records (simple expressions made
compact by nodes.py), with the structural checks Terraform makes and python-hcl2 skips
(reference/hcl.md §1 "Leniencies")."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from sgplan import safefs
from sgplan.collector import gc_paused
from sgplan.diagnostics import Diagnostic, error
from sgplan.hcl import conformance
from sgplan.hcl.errors import EvalError
from sgplan.hcl.fastparse import parse_body, scan_syntax
from sgplan.hcl.nodes import position, simplify
from sgplan.hcl.parser import parse_text
from sgplan.hcl.syntax import Attribute, Block, SourceFile
from sgplan.hcl.templates import unescape
from sgplan.model import SourceRange

if TYPE_CHECKING:
    from sgplan.hcl.cache import ParseCache

CONFIG_SUFFIXES = (".sg.hcl", ".hcl", ".tf")
# Limits of the parse layer (docs/hcl-conformance.md). A configuration file above 64 MiB is
# refused before parsing (the largest benchmark estate, 2,000 groups x 50 rules, is 17 MB).
MAX_FILE_BYTES = 64 * 1024 * 1024
# Depth of python-hcl2's syntax tree: 1 level per parenthesis or chained operator, 2 per list or
# block, 3 per object or call. Deeper input is refused before the recursive walk and the
# evaluator see it.
MAX_NESTING = 400


def config_files(directory: Path) -> list[Path]:
    """Every `*.sg.hcl`, `*.hcl`, `*.tf` directly in `directory`, in name order.

    Hidden files (`.terraform.lock.hcl`, an editor's `.old.sg.hcl`) are not configuration.
    """
    if not directory.is_dir():
        return []
    return sorted(
        # Links are listed even when they lead nowhere: read_file says why it will not read them.
        (p for p in directory.iterdir()
         if (p.is_file() or p.is_symlink()) and p.name.endswith(CONFIG_SUFFIXES) and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def read_file(path: Path, display: str, cache: "ParseCache | None" = None) -> tuple[SourceFile, list[Diagnostic]]:
    """Read and parse one file into a `SourceFile` (body None when it does not parse), through
    `cache` when given."""
    data, problem = read_confined(path, display)
    if data is None:
        return SourceFile(display, b"", None), [problem]
    if cache is None:
        return parse_source(data, display)
    hit = cache.get(data, display)
    if hit is not None:
        return hit
    source, diags = parse_source(data, display)
    cache.put(source, diags)
    return source, diags


def read_confined(path: Path, display: str, root: Path | None = None) -> tuple[bytes | None, Diagnostic]:
    """The bytes of a configuration or variable file, or (None, error). The file may be a
    symlink only to a file inside `root` (default: the directory holding it): a committed
    link to `../../.env` or `/etc/…` must not bring outside content into plans and their
    output (issue 12 §7). Files over MAX_FILE_BYTES and non-regular files are refused."""
    where = SourceRange(display, 1)
    if not safefs.is_inside(path, path.parent if root is None else root):
        return None, error("refusing to read a symlink that leads outside the configuration directory", where)
    try:
        return safefs.read_bytes(os.path.realpath(path), limit=MAX_FILE_BYTES), where  # type: ignore[return-value]
    except safefs.FileTooLarge:
        return None, error(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB (sgplan's limit)", where)
    except safefs.UnsafePath:
        return None, error("not a regular file", where)
    except OSError as exc:
        return None, error(f"cannot read file: {exc.strerror}", where)


def parse_source(data: bytes, display: str, fast: bool = True) -> tuple[SourceFile, list[Diagnostic]]:
    """Parse bytes (already read) named `display` into a `SourceFile` plus diagnostics.

    Plain files go through the hand-written reader (fastparse.py) unless `fast` is False; it
    yields the same records, and declines to Lark on anything outside its subset.
    """
    prepared = _prepare(data, display)
    if isinstance(prepared, Diagnostic):
        return SourceFile(display, data, None), [prepared]
    text, added_newline = prepared
    if fast:
        with gc_paused():
            walked = parse_body(text, display)
        if walked is not None:
            return SourceFile(display, data, walked[0]), walked[1]
    try:
        tree = parse_text(text)
    except UnexpectedInput as exc:
        return SourceFile(display, data, None), [_syntax_error(exc, text, display)]
    try:
        conformance.check_tree(tree, text, added_newline, MAX_NESTING)
    except conformance.Refusal as refusal:
        return SourceFile(display, data, None), [error(refusal.message, SourceRange(display, refusal.line))]
    diags: list[Diagnostic] = []
    with gc_paused():
        body = _walk_body(tree.children[0], "", (), SourceRange(display, 1), display, diags)
    return SourceFile(display, data, body), diags


def _prepare(data: bytes, display: str, text: str | None = None) -> tuple[str, bool] | Diagnostic:
    """The text to parse (decoded, BOM dropped, newline-terminated) and whether a final newline
    was added; or the error that refuses the file before parsing. `text`: `data` already
    decoded, when the caller has it."""
    if len(data) > MAX_FILE_BYTES:
        return error(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB (sgplan's limit)", SourceRange(display, 1))
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return error(f"file is not UTF-8 ({exc.reason})", SourceRange(display, 1))
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        conformance.check_text(text)
    except conformance.Refusal as refusal:
        return error(refusal.message, SourceRange(display, refusal.line))
    added_newline = bool(text) and not text.endswith("\n")
    if added_newline:
        text += "\n"  # the grammar wants a newline after the last attribute or heredoc
    return text, added_newline


def check_source(data: bytes, display: str, text: str | None = None) -> list[Diagnostic]:
    """The errors that make `parse_source` refuse `data` (no body: syntax errors, conformance
    refusals), or [] when it parses, for `fmt --check`. Files made of the line scanner's plain
    shapes are recognised without building their records (fastparse.scan_syntax); the rest
    are parsed as `parse_source` does. `text`: `data` decoded, when the caller has it."""
    prepared = _prepare(data, display, text)
    if isinstance(prepared, Diagnostic):
        return [prepared]
    if "\r" not in prepared[0] and scan_syntax(prepared[0]):
        return []
    del prepared
    source, diags = parse_source(data, display)
    return [] if source.body is not None else diags


def file_hash(files: list[SourceFile]) -> str:
    """sha256 over the files' names and bytes, in load order (stable across runs)."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.path.encode() + b"\0" + hashlib.sha256(f.data).digest())
    return digest.hexdigest()


def _syntax_error(exc: UnexpectedInput, text: str, display: str) -> Diagnostic:
    line = getattr(exc, "line", None) or 1
    column = getattr(exc, "column", None) or 1
    if line < 1:  # $END tokens report -1: point at the last line
        line = max(1, text.count("\n"))
        column = 1
    token = getattr(exc, "token", None)
    if token is not None and getattr(token, "type", "") == "$END":
        what = "unexpected end of file (missing closing brace or bracket?)"
    elif token is not None:
        what = f"unexpected {str(token).strip()!r}"
    else:
        char = getattr(exc, "char", None)
        what = f"unexpected character {char!r}" if char else "invalid syntax"
    return error(f"syntax error: {what}", SourceRange(display, line, column))


def _name_of(node: Tree | Token) -> str:
    """Text of an identifier/keyword/literal_value node (attribute names, block types)."""
    if isinstance(node, Token):
        return str(node)
    return str(node.children[0])


def _label_of(node: Tree | Token, display: str, diags: list[Diagnostic]) -> str:
    """A block label's value as HCL reads it: escapes resolved (`"a\\"b"` is `a"b`), `$${` is
    `${`; templates and line breaks are errors."""
    if isinstance(node, Tree) and node.data == "string":
        text = ""
        for part in node.children:
            if not isinstance(part, Tree):
                continue  # the quotes
            child = part.children[0]
            where = SourceRange(display, *position(node))
            if isinstance(child, Token) and child.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                text += str(child)[1:]
            elif isinstance(child, Token) and child.type == "STRING_CHARS":
                if "\n" in child:
                    diags.append(error("block labels cannot contain a line break", where))
                    continue
                try:
                    text += unescape(str(child))
                except EvalError as exc:
                    diags.append(error(f"block label: {exc.message}", where))
            else:
                diags.append(error("block labels cannot contain templates", where))
        return text
    return _name_of(node)


def _walk_body(
    body: Tree, block_type: str, labels: tuple[str, ...], where: SourceRange, display: str, diags: list[Diagnostic]
) -> Block:
    attributes: dict[str, Attribute] = {}
    blocks: list[Block] = []
    previous: Tree | None = None
    for child in body.children:
        if not isinstance(child, Tree):
            continue
        if child.data == "new_line_or_comment":
            previous = None
            continue
        # The first token of an attribute or block is its name: that is where it starts.
        name_token = child.children[0].children[0]
        line, column = name_token.line, name_token.column
        if previous is not None and _ends_on_line(previous, line):
            # Terraform needs a newline between arguments and blocks; python-hcl2 does not.
            what = str(name_token)
            diags.append(error(f"{what}: each argument and block must start on its own line", SourceRange(display, line, column)))
        previous = child
        if child.data == "attribute":
            name = str(name_token)
            at = SourceRange(display, line, column)
            if name in attributes:
                first = attributes[name].range.line
                diags.append(error(f'duplicate attribute "{name}" (first set at line {first})', at))
                continue
            attributes[name] = Attribute(name, simplify(child.children[2]), at)
        elif child.data == "block":
            blocks.append(_walk_block(child, display, diags))
    return Block(block_type, labels, attributes, tuple(blocks), where)


def _ends_on_line(node: Tree, line: int) -> bool:
    """Whether `node`'s last significant token ends on `line` (two items on one line).

    Needed because an expression may swallow the newline after it (binary operators do) and a
    heredoc token ends with its own newline.
    """
    for child in reversed(node.children):
        if isinstance(child, Tree):
            if child.data == "new_line_or_comment":
                continue
            return _ends_on_line(child, line)
        if child.type == "NL_OR_COMMENT":
            continue
        if str(child).endswith("\n"):
            return False
        return child.end_line == line
    return False


def _walk_block(node: Tree, display: str, diags: list[Diagnostic]) -> Block:
    kids = node.children
    block_type = _name_of(kids[0])
    labels: list[str] = []
    body: Tree | None = None
    for child in kids[1:]:
        if isinstance(child, Tree):
            if child.data == "body":
                body = child
            elif child.data != "new_line_or_comment":
                labels.append(_label_of(child, display, diags))
    name_token = kids[0].children[0]
    where = SourceRange(display, name_token.line, name_token.column)
    assert body is not None  # the grammar guarantees a body
    _check_braces(node, body, where, diags)
    return _walk_body(body, block_type, tuple(labels), where, display, diags)


def _check_braces(node: Tree, body: Tree, where: SourceRange, diags: list[Diagnostic]) -> None:
    """HCL's brace placement, which python-hcl2 does not check: `{` on the block's line; a
    block whose first item follows `{` on the same line holds exactly one attribute and closes
    on that line (`b { a = 1 }`); otherwise `}` stands on a line after the last item."""
    if any(isinstance(c, Tree) and c.data == "new_line_or_comment" for c in node.children):
        diags.append(error("the opening brace must be on the same line as the block type and labels", where))
        return
    closing = node.children[-1]
    items = [c for c in body.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
    if not items or not isinstance(closing, Token):
        return
    first = body.children[0]
    if isinstance(first, Tree) and first.data != "new_line_or_comment":
        if len(body.children) != 1 or first.data != "attribute":
            diags.append(error("a single-line block holds exactly one argument and closes on the same line", where))
        return
    last = body.children[-1]
    if isinstance(last, Tree) and last.data != "new_line_or_comment" and _ends_on_line(last, closing.line):
        diags.append(error("the closing brace must be on its own line after the last argument or block",
                           SourceRange(where.file, closing.line, closing.column)))
