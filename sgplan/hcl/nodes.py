"""Compact expression nodes: the walker replaces the commonest attribute expressions (literals,
plain references, lists of those) by these small records, which evaluate without the tree
walk and pickle into the parse cache far smaller than Lark trees. Anything else stays a tree."""

from __future__ import annotations

import math
from typing import Any

from lark import Token, Tree

from sgplan.hcl.errors import EvalError
from sgplan.hcl.numbers import MAX_NUMBER_BITS, number
from sgplan.hcl.templates import unescape


class _Node:
    """Shared shape: `data` names the evaluator handler; `meta` is the node itself, so code that
    reads `node.meta.line` on Lark trees reads the line here too."""

    __slots__ = ("line", "column")
    data = ""
    children: tuple = ()

    @property
    def meta(self) -> "_Node":
        return self

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__reduce__() == other.__reduce__()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(self.__reduce__()[1])


class Const(_Node):
    """A literal: string without templates, number, bool, null, or a flat list/map of those."""

    __slots__ = ("value",)
    data = "sgplan_const"

    def __init__(self, value: Any, line: int, column: int) -> None:
        self.value, self.line, self.column = value, line, column

    def __reduce__(self) -> tuple:
        return (Const, (self.value, self.line, self.column))

    def __repr__(self) -> str:
        return f"Const({self.value!r})"


class Ref(_Node):
    """A plain traversal `root.a.b` (`var.x`, `local.y`, `security_group.web.id`, `x`)."""

    __slots__ = ("names",)
    data = "sgplan_ref"

    def __init__(self, names: tuple[str, ...], line: int, column: int) -> None:
        self.names, self.line, self.column = names, line, column

    def __reduce__(self) -> tuple:
        return (Ref, (self.names, self.line, self.column))

    def __repr__(self) -> str:
        return f"Ref({'.'.join(self.names)})"


class ListOf(_Node):
    """`[a, b, …]` whose items are all `Const` scalars or `Ref`s (at least one `Ref`)."""

    __slots__ = ("items",)
    data = "sgplan_list"

    def __init__(self, items: tuple["Const | Ref", ...], line: int, column: int) -> None:
        self.items, self.line, self.column = items, line, column

    def __reduce__(self) -> tuple:
        return (ListOf, (self.items, self.line, self.column))

    def __repr__(self) -> str:
        return f"ListOf({list(self.items)!r})"


Expr = Tree | Const | Ref | ListOf

_SCALARS = (str, int, float, bool, type(None))
_LITERALS = {"true": True, "false": False, "null": None}


def first_token(node: Any) -> Token | None:
    """The first token under `node` (depth first), or None for an empty subtree."""
    while isinstance(node, Tree):
        for child in node.children:
            if isinstance(child, Token) or (isinstance(child, Tree) and child.children):
                node = child
                break
        else:
            return None
    return node if isinstance(node, Token) else None


def position(node: Any) -> tuple[int, int]:
    """(line, column) where `node` starts; (0, 0) when it has no tokens.

    The parser runs without `propagate_positions` (it halves parse time), so positions are
    taken from tokens when needed rather than stored on every tree node.
    """
    if isinstance(node, _Node):
        return node.line, node.column
    token = first_token(node)
    if token is None or token.line is None:
        return 0, 0
    return token.line, token.column or 0


def simplify(expr: Tree) -> Expr:
    """`expr` as a compact node when it is one of the common simple shapes, else unchanged.

    A tree nested too deeply to inspect stays a tree: the evaluator reports it with its line.
    """
    try:
        return _simplify(expr)
    except RecursionError:
        return expr


def _simplify(expr: Tree) -> Expr:
    value = _literal(expr)
    if value is not _NOT:
        line, column = position(expr)
        return Const(value, line, column)
    names = _ref_names(expr)
    if names is not None:
        line, column = position(expr)
        return Ref(names, line, column)
    inner = _unwrap(expr)
    if inner.data == "tuple":
        items: list[Const | Ref] = []
        for child in inner.children:
            if not isinstance(child, Tree) or child.data == "new_line_or_comment":
                continue
            node = _simplify(child)
            if isinstance(node, Const) and isinstance(node.value, _SCALARS):
                items.append(node)
            elif isinstance(node, Ref):
                items.append(node)
            else:
                return expr
        line, column = position(expr)
        return ListOf(tuple(items), line, column)
    return expr


_NOT: Any = object()


def _unwrap(node: Tree) -> Tree:
    while node.data == "expr_term" and len(node.children) == 1 and isinstance(node.children[0], Tree):
        node = node.children[0]
    return node


def _literal(expr: Tree) -> Any:
    """The Python value of a literal expression, or _NOT."""
    node = _unwrap(expr)
    kind = node.data
    if kind == "string":
        return _plain_string(node)
    if kind == "int_lit":
        return _whole(str(node.children[0]))
    if kind == "float_lit":
        value = number(float(node.children[0]))
        return value if math.isfinite(value) else _NOT  # out of range: the evaluator reports it
    if kind == "unary_op" and str(node.children[0]) == "-":  # -1 is unary minus on 1
        value = _literal(node.children[1])
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return number(-value)
        return _NOT
    if kind == "literal_value":
        return _LITERALS.get(str(node.children[0]), _NOT)
    if kind == "tuple":
        items = []
        for child in node.children:
            if not isinstance(child, Tree) or child.data == "new_line_or_comment":
                continue
            value = _literal(child)
            if value is _NOT or not isinstance(value, _SCALARS):
                return _NOT
            items.append(value)
        return items
    if kind == "object":
        out: dict[str, Any] = {}
        for elem in node.children:
            if not isinstance(elem, Tree) or elem.data != "object_elem":
                continue
            trees = [c for c in elem.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
            if len(trees) != 2:
                return _NOT
            key = _object_key(trees[0])
            value = _literal(trees[1])
            if key is _NOT or key in out or value is _NOT or not isinstance(value, _SCALARS):
                return _NOT  # duplicate keys keep the tree, so the evaluator reports them
            out[key] = value
        return out
    return _NOT


def _whole(text: str) -> Any:
    """A whole-number literal, or _NOT past the number limit (values.MAX_NUMBER_BITS, 309
    digits; longer texts would also meet Python's 4,300-digit int() limit): the evaluator
    reports those with their line."""
    if len(text) > 309:
        return _NOT
    value = int(text)
    return value if value.bit_length() <= MAX_NUMBER_BITS else _NOT


def _object_key(key_node: Tree) -> Any:
    """A map key that is a plain name or a plain string (as `Evaluator._object_key` reads it)."""
    inner = key_node.children[0] if key_node.children else None
    if not isinstance(inner, Tree):
        return _NOT
    if inner.data == "keyword":
        return str(inner.children[0])
    if inner.data == "expr_term" and len(inner.children) == 1:
        only = inner.children[0]
        if isinstance(only, Tree) and only.data == "identifier":
            return str(only.children[0])
    value = _literal(inner)
    return value if isinstance(value, str) else _NOT


def _plain_string(node: Tree) -> Any:
    """A quoted string made only of literal characters (escapes resolved), or _NOT."""
    text = []
    for part in node.children:
        if not isinstance(part, Tree):
            continue  # the quotes
        child = part.children[0]
        if not isinstance(child, Token) or child.type != "STRING_CHARS" or "\n" in child:
            return _NOT  # templates, escaped ${ and raw line breaks go the long way
        text.append(str(child))
    joined = "".join(text)
    if "\\" not in joined:
        return joined
    try:
        return unescape(joined)
    except EvalError:
        return _NOT  # keep the tree: the evaluator reports the bad escape with its line


def _ref_names(expr: Tree) -> tuple[str, ...] | None:
    """`a.b.c` as ("a", "b", "c") when the expression is only attribute access on a name."""
    names: list[str] = []
    node = _unwrap(expr)
    while node.data == "get_attr_expr_term":
        base, attr = node.children
        name_node = attr.children[1]
        if not isinstance(name_node, Tree) or name_node.data != "identifier":
            return None
        names.append(str(name_node.children[0]))
        node = _unwrap(base)
    if node.data != "identifier":
        return None
    names.append(str(node.children[0]))
    return tuple(reversed(names))
