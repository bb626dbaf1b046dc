"""`moved { from = <address>, to = <address> }` blocks (DESIGN §3): an address change of a created
group that keeps the group (its id and rules); only its `sgplan-address` tag is rewritten."""

from __future__ import annotations

import json
from typing import Any

from lark import Token, Tree

from sgplan.diagnostics import Diagnostic, error
from sgplan.hcl.nodes import Ref
from sgplan.hcl.syntax import Attribute, Block


def moved_blocks(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.type == "moved"]


def build_moves(prefix: str, blocks: list[Block], declared: set[str], diags: list[Diagnostic]
                ) -> list[tuple[str, str]]:
    """(from, to) addresses of one module's moved blocks, prefixed with the module's address.
    `declared` holds every group address the configuration declares (all modules)."""
    moves: list[tuple[str, str]] = []
    seen_from: dict[str, Block] = {}
    seen_to: dict[str, Block] = {}
    for block in blocks:
        ends: list[str] = []
        for name in ("from", "to"):
            attr = block.attributes.get(name)
            if attr is None:
                break  # the schema check reported it
            address = _address(attr)
            if address is None:
                diags.append(error(f"{name}: must be a security group address, e.g. security_group.web or "
                                   "module.ssh.security_group.this", attr.range))
                break
            ends.append(prefix + address)
        if len(ends) != 2:
            continue
        source, target = ends
        where = block.attributes["from"].range
        if source == target:
            diags.append(error(f"moved: from and to are the same address ({source})", where))
        elif source in declared:
            diags.append(error(f"moved: {source} is still declared; a moved block's from must be an address the "
                               "configuration no longer declares", where))
        elif target not in declared:
            diags.append(error(f"moved: {target} is not declared in the configuration", block.attributes["to"].range))
        elif source in seen_from:
            first = seen_from[source].range
            diags.append(error(f"moved: {source} is moved twice (first at {first.file}:{first.line})", where))
        elif target in seen_to:
            first = seen_to[target].range
            diags.append(error(f"moved: more than one moved block moves a group to {target} (first at "
                               f"{first.file}:{first.line})", block.attributes["to"].range))
        else:
            seen_from[source] = seen_to[target] = block
            moves.append((source, target))
    return moves


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
