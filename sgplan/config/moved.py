"""`moved { from = <address>, to = <address> }` blocks (DESIGN §3): an address change of a created
group that keeps the group (its id and rules); only its `sgplan-address` tag is rewritten.

As in Terraform: moves chain (`a → b` and `b → c` move whatever is left at `a` or `b` to `c`;
the middle address need not be declared), a `from` may still not be declared, and two moves
may not lead to one address directly. Addresses may name for_each / count instances
(`security_group.web["a"]`) and groups in (expanded) modules (`module.m["k"].security_group.x`).
Whether both ends exist live is only known when planning: plan/match.py refuses that (Terraform
refuses it too), at the moved block's line.

`moved` moves security groups only: a template's address change is a delete + create.
"""

from __future__ import annotations

import json
from typing import Any

from lark import Token, Tree

from sgplan.diagnostics import Diagnostic, error
from sgplan.hcl.nodes import Ref
from sgplan.hcl.syntax import Attribute, Block
from sgplan.model import SourceRange

_TEMPLATE_TYPES = ("address_template", "address_template_group", "service_template", "service_template_group")


class Move(tuple):
    """A (from, to) pair that also knows where its moved block is: `origin` (the `from` line)
    and `target_origin` (the `to` line). Compares and unpacks as the plain pair."""

    origin: SourceRange | None
    target_origin: SourceRange | None

    def __new__(cls, source: str, target: str, origin: SourceRange | None = None,
                target_origin: SourceRange | None = None) -> "Move":
        self = super().__new__(cls, (source, target))
        self.origin = origin
        self.target_origin = target_origin if target_origin is not None else origin
        return self

    def __getnewargs__(self) -> tuple[Any, ...]:  # type: ignore[override]
        return (self[0], self[1], self.origin, self.target_origin)

    @property
    def source(self) -> str:
        return self[0]

    @property
    def target(self) -> str:
        return self[1]


def moved_blocks(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.type == "moved"]


def build_moves(prefix: str, blocks: list[Block], diags: list[Diagnostic]) -> list[Move]:
    """The moves one module's moved blocks spell, prefixed with the module's address. Only the
    addresses are checked here; `resolve_moves` checks them against the whole configuration."""
    moves: list[Move] = []
    for block in blocks:
        ends: list[str] = []
        for name in ("from", "to"):
            attr = block.attributes.get(name)
            if attr is None:
                break  # the schema check reported it
            address = _address(attr)
            if address is None:
                diags.append(error(_not_an_address(name, attr), attr.range))
                break
            ends.append(prefix + address)
        if len(ends) != 2:
            continue
        source, target = ends
        where = block.attributes["from"].range
        if source == target:
            diags.append(error(f"moved: from and to are the same address ({source})", where))
            continue
        moves.append(Move(source, target, where, block.attributes["to"].range))
    return moves


def resolve_moves(moves: list[Move], declared: set[str], diags: list[Diagnostic]) -> list[Move]:
    """The moves of the whole configuration with chains followed to their end: `a → b`, `b → c`
    give `(a, c)` and `(b, c)`. `declared` holds every group address the configuration declares."""
    by_from: dict[str, Move] = {}
    seen_to: dict[str, Move] = {}
    kept: list[Move] = []
    for move in moves:
        source, target = move
        if source in declared:
            diags.append(error(f"moved: {source} is still declared; a moved block's from must be an address the "
                               "configuration no longer declares", move.origin))
        elif source in by_from:
            first = by_from[source].origin
            diags.append(error(f"moved: {source} is moved twice (first at {_at(first)})", move.origin))
        elif target in seen_to:
            first = seen_to[target].origin
            diags.append(error(f"moved: more than one moved block moves a group to {target} (first at "
                               f"{_at(first)})", move.target_origin))
        else:
            by_from[source] = seen_to[target] = move
            kept.append(move)
    out: list[Move] = []
    in_cycle: set[str] = set()
    for move in kept:
        source, target = move
        path = [source]
        while target not in declared:
            following = by_from.get(target)
            if following is None:
                if path == [source]:  # reported once, at the move whose own target is missing
                    diags.append(error(f"moved: {target} is not declared in the configuration", move.target_origin))
                break
            if target in path:
                if not in_cycle & set(path):
                    cycle = " → ".join(path[path.index(target):] + [target])
                    diags.append(error(f"moved: the moved blocks form a cycle ({cycle}); a chain of moves must end "
                                       "at a declared address", move.origin))
                in_cycle.update(path)
                break
            path.append(target)
            target = following.target
        else:
            out.append(Move(source, target, move.origin, move.target_origin))
    return out


def _at(where: SourceRange | None) -> str:
    return f"{where.file}:{where.line}" if where else "?"


def _not_an_address(name: str, attr: Attribute) -> str:
    parts = _parts(attr.expr) or []
    if any(p in _TEMPLATE_TYPES for p in parts if isinstance(p, str)):
        return (f"{name}: moved blocks move security groups only (a template's address change is a delete and "
                "a create), e.g. security_group.web or module.ssh.security_group.this")
    return f"{name}: must be a security group address, e.g. security_group.web or module.ssh.security_group.this"


def _address(attr: Attribute) -> str | None:
    """The static address an attribute's expression spells (`security_group.web["a"]`,
    `module.ssh.security_group.this`), or None when it is not a plain group address."""
    parts = _parts(attr.expr)
    if parts is None:
        return None
    # [module.<name>[key]?]* security_group.<label>[key]?
    text = ""
    i = 0
    while i < len(parts):
        kind = parts[i]
        if not isinstance(kind, str) or kind.startswith("["):
            return None
        if i + 1 >= len(parts) or not isinstance(parts[i + 1], str) or parts[i + 1].startswith("["):
            return None
        text += f"{kind}.{parts[i + 1]}"
        i += 2
        if i < len(parts) and parts[i].startswith("["):
            text += parts[i]
            i += 1
        if kind == "security_group":
            return text if i == len(parts) else None
        if kind != "module":
            return None
        text += "."
    return None


def _parts(node: Any) -> list[str] | None:
    """Names and `[key]` steps of a traversal, outermost first."""
    if type(node) is Ref:
        return list(node.names)
    if not isinstance(node, Tree):
        return None
    data = node.data
    children = [c for c in node.children if not (isinstance(c, Tree) and c.data == "new_line_or_comment")]
    if data in ("expr_term", "expression") and len(children) == 1:
        return _parts(children[0])
    if data == "identifier":
        return [str(children[0])]
    if data == "get_attr_expr_term" and len(children) == 2:
        head = _parts(children[0])
        attr = children[1]
        if head is None or not isinstance(attr, Tree) or attr.data != "get_attr":
            return None
        names = [c for c in attr.children if isinstance(c, Tree) and c.data == "identifier"]
        return head + [str(names[0].children[0])] if names else None
    if data == "index_expr_term" and len(children) == 2:
        head = _parts(children[0])
        key = _key(children[1])
        return head + [key] if head is not None and key is not None else None
    return None


def _key(node: Any) -> str | None:
    if not isinstance(node, Tree) or node.data not in ("braces_index", "short_index"):
        return None
    inner = [c for c in node.children if isinstance(c, Tree)]
    if node.data == "short_index":
        tokens = [c for c in node.children if isinstance(c, Token) and str(c).isdigit()]
        return f"[{int(tokens[0])}]" if tokens else None
    if len(inner) != 1:
        return None
    term = inner[0]
    while isinstance(term, Tree) and term.data == "expr_term" and len(term.children) == 1:
        term = term.children[0]
    if isinstance(term, Tree) and term.data == "string":
        parts = [c for c in term.children if isinstance(c, Tree)]
        if all(p.data == "string_part" for p in parts):
            text = "".join(str(t) for p in parts for t in p.children)
            if "\\" not in text and "${" not in text and "%{" not in text:
                return f"[{json.dumps(text, ensure_ascii=False)}]"
        return None
    if isinstance(term, Tree) and term.data in ("int_lit", "number"):
        text = "".join(str(t) for t in term.children)
        return f"[{int(text)}]" if text.isdigit() else None
    if isinstance(term, Token) and str(term).isdigit():
        return f"[{int(term)}]"
    return None
