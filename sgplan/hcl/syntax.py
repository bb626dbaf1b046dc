"""The syntax tree sgplan's readers produce: positioned `Block` and `Attribute` records of one
`SourceFile`. Expressions are python-hcl2 trees, or compact nodes for the common simple shapes
(nodes.py). Both readers (fastparse.py, and load.py's walk of the Lark tree) build these, and the
parse cache stores them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sgplan.hcl.nodes import Expr
from sgplan.model import SourceRange, fast_init


_new_tuple = tuple.__new__


class Attribute(tuple):
    """`name = expr` with the position of its name; immutable, compared by (name, expr, range).

    A tuple underneath (name, expr, file, line, column): the readers make half a million of
    these at G=2,000 × R=50 and a frozen dataclass cost ~0.9 µs each plus a `SourceRange` per
    attribute (issue 18). `range` is made when asked for (few callers do: diagnostics, origins
    of values). `Attribute.make` is the constructor without a `SourceRange` at hand.
    """

    __slots__ = ()

    def __new__(cls, name: str, expr: Expr, range: SourceRange) -> "Attribute":  # noqa: A002
        return _new_tuple(cls, (name, expr, range.file, range.line, range.column))

    @classmethod
    def make(cls, name: str, expr: Expr, file: str, line: int, column: int) -> "Attribute":
        return _new_tuple(cls, (name, expr, file, line, column))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def expr(self) -> Expr:
        """A Lark tree, or a compact node for the common simple shapes (nodes.py)."""
        return self[1]

    @property
    def range(self) -> SourceRange:
        return SourceRange(self[2], self[3], self[4])

    @property
    def line(self) -> int:
        return self[3]

    def __eq__(self, other: object) -> bool:
        return type(other) is Attribute and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return f"Attribute(name={self[0]!r}, expr={self[1]!r}, range={self.range!r})"

    def __reduce__(self) -> tuple:
        return (Attribute.make, tuple(self))

    def __copy__(self) -> "Attribute":
        return self

    def __deepcopy__(self, memo: dict) -> "Attribute":
        import copy

        return Attribute.make(self[0], copy.deepcopy(self[1], memo), self[2], self[3], self[4])


@dataclass(frozen=True, slots=True)
class Block:
    """A block with its labels, attributes (source order) and nested blocks (source order)."""

    type: str
    labels: tuple[str, ...]
    attributes: dict[str, Attribute] = field(hash=False)
    blocks: tuple["Block", ...]
    range: SourceRange


fast_init(Block)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One parsed file: its display path, raw bytes and top-level body."""

    path: str
    data: bytes
    body: Block | None
