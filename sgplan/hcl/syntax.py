"""The syntax tree sgplan's readers produce: positioned `Block` and `Attribute` records of one
`SourceFile`. Expressions are python-hcl2 trees, or compact nodes for the common simple shapes
(nodes.py). Both readers (fastparse.py, and load.py's walk of the Lark tree) build these, and the
parse cache stores them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sgplan.hcl.nodes import Expr
from sgplan.model import SourceRange


@dataclass(frozen=True, slots=True)
class Attribute:
    """`name = expr` with the position of its name."""

    name: str
    expr: Expr  # a Lark tree, or a compact node for the common simple shapes (nodes.py)
    range: SourceRange


@dataclass(frozen=True, slots=True)
class Block:
    """A block with its labels, attributes (source order) and nested blocks (source order)."""

    type: str
    labels: tuple[str, ...]
    attributes: dict[str, Attribute] = field(hash=False)
    blocks: tuple["Block", ...]
    range: SourceRange


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One parsed file: its display path, raw bytes and top-level body."""

    path: str
    data: bytes
    body: Block | None
