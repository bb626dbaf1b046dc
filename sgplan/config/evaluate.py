"""The expression evaluator: python-hcl2's raw expression trees → Python values under a `Scope`.

Values are str, int/float, bool, None, list, dict and `Unknown` (known after apply); unknowns
propagate through every operator, template and function. Errors are `EvalError`s with lines.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from lark import Token, Tree

from sgplan.config.functions import FUNCTIONS, call
from sgplan.config.nodes import Const, Ref, position
from sgplan.config.templates import For, If, Interp, Part, compile_string, heredoc_string, unescape
from sgplan.config.values import (
    EvalError,
    Unknown,
    equal,
    iterate,
    number,
    to_bool,
    to_number,
    to_string,
    type_name,
)


class Namespace:
    """A root resolved lazily by name (`var`, `local`, `module`, `security_group`, …)."""

    __slots__ = ("kind", "_resolve")

    def __init__(self, kind: str, resolve: Callable[[str], Any]) -> None:
        self.kind = kind
        self._resolve = resolve

    def get(self, name: str) -> Any:
        return self._resolve(name)


class Scope:
    """Names visible to an expression; `child` adds iteration variables."""

    __slots__ = ("names", "parent")

    def __init__(self, names: Mapping[str, Any], parent: "Scope | None" = None) -> None:
        self.names = names
        self.parent = parent

    def lookup(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        raise EvalError(f'unknown variable "{name}"')

    def child(self, names: Mapping[str, Any]) -> "Scope":
        return Scope(names, self)


def _trees(node: Tree) -> list[Tree]:
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _name(node: Tree | Token) -> str:
    return str(node) if isinstance(node, Token) else str(node.children[0])


class Evaluator:
    """Evaluates expression trees. Holds only caches (compiled templates), no configuration."""

    def __init__(self) -> None:
        self._templates: dict[int, tuple[Tree, tuple[Part, ...]]] = {}
        self._handlers: dict[str, Callable[[Tree, Scope], Any]] = {
            "expr_term": self._expr_term,
            "int_lit": lambda n, s: int(n.children[0]),
            "float_lit": lambda n, s: number(float(n.children[0])),
            "literal_value": self._literal,
            "string": self._string,
            "template_string": lambda n, s: unescape(str(n.children[0])[2:-2], position(n)[0]),
            "heredoc_template": self._heredoc,
            "heredoc_template_trim": self._heredoc,
            "identifier": lambda n, s: s.lookup(str(n.children[0])),
            "tuple": lambda n, s: [self.evaluate(c, s) for c in _trees(n)],
            "object": self._object,
            "function_call": self._call,
            "get_attr_expr_term": self._get_attr_term,
            "index_expr_term": self._index_term,
            "full_splat_expr_term": self._splat,
            "attr_splat_expr_term": self._splat,
            "for_tuple_expr": self._for_tuple,
            "for_object_expr": self._for_object,
            "conditional": self._conditional,
            "binary_op": self._binary,
            "unary_op": self._unary,
            "interpolation": lambda n, s: self.evaluate(_trees(n)[0], s),
            "sgplan_const": self._const,
            "sgplan_ref": self._ref,
            "sgplan_list": lambda n, s: [self.evaluate(item, s) for item in n.items],
        }

    def evaluate(self, node: Tree, scope: Scope) -> Any:
        """Value of an expression tree; raises EvalError (with a line) for user mistakes."""
        handler = self._handlers.get(node.data)
        try:
            if handler is None:
                raise EvalError(f"unsupported expression ({node.data})")
            return handler(node, scope)
        except EvalError as exc:
            if not exc.line and not exc.reported:
                exc.line, exc.column = position(node)
            raise
        except RecursionError:
            raise EvalError("expression is nested too deeply", position(node)[0]) from None

    # -- compact nodes (nodes.py) ----------------------------------------------------------------

    @staticmethod
    def _const(node: Const, scope: Scope) -> Any:
        value = node.value
        # Literal lists and maps are shared by every evaluation: hand out copies.
        if isinstance(value, list):
            return list(value)
        if isinstance(value, dict):
            return dict(value)
        return value

    def _ref(self, node: Ref, scope: Scope) -> Any:
        names = node.names
        value = scope.lookup(names[0])
        for name in names[1:]:
            value = self._attr(value, name)
        return value

    # -- literals and templates ----------------------------------------------------------------

    def _expr_term(self, node: Tree, scope: Scope) -> Any:
        kids = node.children
        if len(kids) == 1:
            return self.evaluate(kids[0], scope)
        return self.evaluate(_trees(node)[0], scope)  # ( expression )

    @staticmethod
    def _literal(node: Tree, scope: Scope) -> Any:
        text = str(node.children[0])
        return True if text == "true" else False if text == "false" else None

    def _string(self, node: Tree, scope: Scope) -> Any:
        kids = node.children
        if len(kids) == 2:
            return ""
        if len(kids) == 3:
            only = kids[1].children[0]
            if isinstance(only, Token) and only.type == "STRING_CHARS" and "\\" not in only and "\n" not in only:
                return str(only)  # the common case: a plain literal
        return self.render(self._compiled(node), scope)

    def _compiled(self, node: Tree, heredoc: bool = False) -> tuple[Part, ...]:
        cached = self._templates.get(id(node))
        if cached is None or cached[0] is not node:
            cached = (node, compile_string(node, heredoc))
            self._templates[id(node)] = cached
        return cached[1]

    def _heredoc(self, node: Tree, scope: Scope) -> Any:
        token = node.children[0]
        tree = heredoc_string(token)
        try:
            return self.render(self._compiled(tree, heredoc=True), scope)
        except EvalError as exc:
            if not exc.reported and exc.line:
                exc.line += token.line
            raise

    def render(self, parts: tuple[Part, ...], scope: Scope) -> Any:
        """A template's value: `"${x}"` alone keeps x's type, anything else is a string."""
        if len(parts) == 1 and isinstance(parts[0], Interp):
            return self.evaluate(parts[0].expr, scope)
        unknowns: list[Unknown] = []
        out: list[str] = []
        self._render_into(parts, scope, out, unknowns)
        if unknowns:
            return Unknown.of(unknowns)
        return "".join(out)

    def _render_into(self, parts: tuple[Part, ...], scope: Scope, out: list[str], unknowns: list[Unknown]) -> None:
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Interp):
                value = self.evaluate(part.expr, scope)
                if isinstance(value, Unknown):
                    unknowns.append(value)
                else:
                    try:
                        out.append(to_string(value, "interpolated value"))
                    except EvalError as exc:
                        exc.line = exc.line or position(part.expr)[0]
                        raise
            elif isinstance(part, If):
                condition = self.evaluate(part.condition, scope)
                if isinstance(condition, Unknown):
                    unknowns.append(condition)
                    continue
                chosen = part.then if to_bool(condition, "%{ if } condition") else part.otherwise
                self._render_into(chosen, scope, out, unknowns)
            elif isinstance(part, For):
                collection = self.evaluate(part.collection, scope)
                if isinstance(collection, Unknown):
                    unknowns.append(collection)
                    continue
                for key, value in iterate(collection, "%{ for } collection"):
                    names = {part.value: value} if part.key is None else {part.key: key, part.value: value}
                    self._render_into(part.body, scope.child(names), out, unknowns)

    # -- collections ---------------------------------------------------------------------------

    def _object(self, node: Tree, scope: Scope) -> Any:
        out: dict[str, Any] = {}
        unknown: list[Any] = []
        for elem in _trees(node):
            key_node, value_node = _trees(elem)
            key = self._object_key(key_node, scope)
            if isinstance(key, Unknown):
                unknown.append(key)
                continue
            if key in out:
                raise EvalError(f'duplicate key "{key}" in object', *position(elem))
            out[key] = self.evaluate(value_node, scope)
        return Unknown.of(*unknown) if unknown else out

    def _object_key(self, key_node: Tree, scope: Scope) -> Any:
        inner = key_node.children[0]
        if isinstance(inner, Tree):
            if inner.data == "keyword":
                return _name(inner)
            if inner.data == "expr_term" and len(inner.children) == 1:
                only = inner.children[0]
                if isinstance(only, Tree) and only.data == "identifier":
                    return str(only.children[0])  # bare keys are names, not references
        key = self.evaluate(inner, scope)
        if isinstance(key, Unknown):
            return key
        if isinstance(key, (list, dict)) or key is None:
            raise EvalError(f"object key must be a string, not {type_name(key)}")
        return to_string(key)

    # -- traversal -----------------------------------------------------------------------------

    def _get_attr_term(self, node: Tree, scope: Scope) -> Any:
        base_node, attr = node.children
        return self._attr(self.evaluate(base_node, scope), _name(attr.children[1]))

    @staticmethod
    def _attr(base: Any, name: str) -> Any:
        if isinstance(base, Namespace):
            return base.get(name)
        if isinstance(base, dict):
            if name not in base:
                raise EvalError(f'object has no attribute "{name}"')
            return base[name]
        if isinstance(base, Unknown):
            return Unknown(base.refs)
        if base is None:
            raise EvalError(f'cannot read attribute "{name}" of null')
        raise EvalError(f'cannot read attribute "{name}" of a {type_name(base)}')

    def _index_term(self, node: Tree, scope: Scope) -> Any:
        base_node, index = node.children
        return self._index(self.evaluate(base_node, scope), self._index_key(index, scope))

    def _index_key(self, index: Tree, scope: Scope) -> Any:
        if index.data == "short_index":
            return int(index.children[1])
        return self.evaluate(_trees(index)[0], scope)

    @staticmethod
    def _index(base: Any, key: Any) -> Any:
        if isinstance(base, Unknown) or isinstance(key, Unknown):
            return Unknown.of(base, key)
        if isinstance(base, Namespace):
            return base.get(to_string(key, "index"))
        if isinstance(base, list):
            i = to_number(key, "list index")
            if isinstance(i, float) or not 0 <= i < len(base):
                raise EvalError(f"index {key} is out of range for a list of {len(base)} elements")
            return base[i]
        if isinstance(base, dict):
            k = to_string(key, "map key")
            if k not in base:
                raise EvalError(f'the map has no key "{k}"')
            return base[k]
        raise EvalError(f"cannot index a {type_name(base)}")

    def _splat(self, node: Tree, scope: Scope) -> Any:
        base_node, splat = node.children
        base = self.evaluate(base_node, scope)
        steps = [c for c in splat.children if isinstance(c, Tree)]
        if isinstance(base, Unknown):
            return Unknown(base.refs)
        if base is None:
            return []
        items = base if isinstance(base, list) else [base]
        out = []
        for item in items:
            for step in steps:
                if step.data == "get_attr":
                    item = self._attr(item, _name(step.children[1]))
                else:
                    item = self._index(item, self._index_key(step, scope))
            out.append(item)
        return out

    # -- calls and operators -------------------------------------------------------------------

    def _call(self, node: Tree, scope: Scope) -> Any:
        name = _name(node.children[0])
        if any(isinstance(c, Token) and c.type == "COLONS" for c in node.children):
            raise EvalError("provider functions (name::name::name) are not supported")
        if name not in FUNCTIONS:
            raise EvalError(f'unsupported function "{name}"')
        args_node = next((c for c in node.children if isinstance(c, Tree) and c.data == "arguments"), None)
        args: list[Any] = []
        if args_node is not None:
            args = [self.evaluate(a, scope) for a in _trees(args_node)]
            if any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in args_node.children):
                last = args.pop()
                if isinstance(last, Unknown):
                    return Unknown(last.refs)
                if not isinstance(last, list):
                    raise EvalError(f"{name}(): the argument before ... must be a list")
                args.extend(last)
        return call(name, args)

    def _conditional(self, node: Tree, scope: Scope) -> Any:
        condition, then, otherwise = _trees(node)
        value = self.evaluate(condition, scope)
        if isinstance(value, Unknown):
            return Unknown(value.refs)
        return self.evaluate(then if to_bool(value, "condition") else otherwise, scope)

    def _binary(self, node: Tree, scope: Scope) -> Any:
        lhs_node, term = _trees(node)
        op_node, rhs_node = _trees(term)
        op = str(op_node.children[0]).strip()
        lhs = self.evaluate(lhs_node, scope)
        if op in ("&&", "||") and not isinstance(lhs, Unknown):
            left = to_bool(lhs, f"left operand of {op}")
            if left is (op == "||"):
                return left
            rhs = self.evaluate(rhs_node, scope)
            return rhs if isinstance(rhs, Unknown) else to_bool(rhs, f"right operand of {op}")
        rhs = self.evaluate(rhs_node, scope)
        if isinstance(lhs, Unknown) or isinstance(rhs, Unknown):
            return Unknown.of(lhs, rhs)
        if op == "==":
            return equal(lhs, rhs)
        if op == "!=":
            return not equal(lhs, rhs)
        a, b = to_number(lhs, f"left operand of {op}"), to_number(rhs, f"right operand of {op}")
        if op == "+":
            return number(a + b)
        if op == "-":
            return number(a - b)
        if op == "*":
            return number(a * b)
        if op in ("/", "%") and b == 0:
            raise EvalError("division by zero")
        if op == "/":
            return number(a / b)
        if op == "%":
            return number(math.fmod(a, b)) if isinstance(a, float) or isinstance(b, float) else int(math.fmod(a, b))
        if op == "<":
            return a < b
        if op == ">":
            return a > b
        if op == "<=":
            return a <= b
        if op == ">=":
            return a >= b
        raise EvalError(f"unsupported operator {op}")

    def _unary(self, node: Tree, scope: Scope) -> Any:
        op, operand_node = node.children
        value = self.evaluate(operand_node, scope)
        if isinstance(value, Unknown):
            return Unknown(value.refs)
        if str(op) == "!":
            return not to_bool(value, "operand of !")
        return number(-to_number(value, "operand of -"))

    # -- for expressions -----------------------------------------------------------------------

    def _for_parts(self, node: Tree) -> tuple[Tree, list[Tree], Tree | None]:
        trees = _trees(node)
        intro = trees[0]
        cond = trees[-1] if trees[-1].data == "for_cond" else None
        body = trees[1:-1] if cond is not None else trees[1:]
        return intro, body, cond

    def _for_iter(self, intro: Tree, cond: Tree | None, scope: Scope) -> Any:
        trees = _trees(intro)
        names = [str(t.children[0]) for t in trees[:-1]]
        collection = self.evaluate(trees[-1], scope)
        if isinstance(collection, Unknown):
            return Unknown(collection.refs)
        out: list[Scope] = []
        unknown: list[Unknown] = []
        for key, value in iterate(collection, "for expression collection"):
            child = scope.child({names[0]: key, names[1]: value} if len(names) == 2 else {names[0]: value})
            if cond is not None:
                keep = self.evaluate(_trees(cond)[0], child)
                if isinstance(keep, Unknown):
                    unknown.append(keep)
                    continue
                if not to_bool(keep, "for expression condition"):
                    continue
            out.append(child)
        return Unknown.of(*unknown) if unknown else out

    def _for_tuple(self, node: Tree, scope: Scope) -> Any:
        intro, body, cond = self._for_parts(node)
        scopes = self._for_iter(intro, cond, scope)
        if isinstance(scopes, Unknown):
            return scopes
        return [self.evaluate(body[0], s) for s in scopes]

    def _for_object(self, node: Tree, scope: Scope) -> Any:
        intro, body, cond = self._for_parts(node)
        grouping = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children)
        scopes = self._for_iter(intro, cond, scope)
        if isinstance(scopes, Unknown):
            return scopes
        out: dict[str, Any] = {}
        for s in scopes:
            key = self.evaluate(body[0], s)
            if isinstance(key, Unknown):
                return Unknown(key.refs)
            key = to_string(key, "for expression key")
            value = self.evaluate(body[1], s)
            if grouping:
                out.setdefault(key, []).append(value)
            elif key in out:
                raise EvalError(f'duplicate key "{key}" in for expression (add ... to group values)')
            else:
                out[key] = value
        return out
