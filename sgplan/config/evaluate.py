"""The expression evaluator: python-hcl2's raw expression trees → Python values under a `Scope`.

Values are str, int/float, bool, None, list, dict and `Unknown` (known after apply); unknowns
propagate through every operator, template and function. Errors are `EvalError`s with lines.
Every evaluation runs under a `Budget` (values.py, docs/limits.md): no expression can hang,
exhaust memory or end in a Python exception.
"""

from __future__ import annotations

import decimal
import math
from typing import Any, Callable, Mapping

from lark import Token, Tree

from sgplan.config.functions import FUNCTIONS, call
from sgplan.config.values import (
    MAX_STRING_LENGTH,
    Budget,
    EvalError,
    Unknown,
    check_number,
    equal,
    iterate,
    nfc,
    number_limit_message,
    result_number,
    string_limit_message,
    to_bool,
    to_number,
    to_string,
    type_name,
)
from sgplan.hcl.nodes import Const, ListOf, Ref, position
from sgplan.hcl.templates import For, If, Interp, Part, compile_string, heredoc_string, unescape

# Steps charged per `for` iteration (docs/limits.md): a fixed cost for the iteration itself
# plus a cost per expression node its body and condition evaluate, so a long body counts more.
ITERATION_STEPS = 25
NODE_STEPS = 2
SPLAT_STEPS = 10  # per element and traversal step of a splat (`list[*].x`)


class Namespace:
    """A root resolved lazily by name (`var`, `local`, `module`, `security_group`, …)."""

    __slots__ = ("kind", "_resolve")

    def __init__(self, kind: str, resolve: Callable[[str], Any]) -> None:
        self.kind = kind
        self._resolve = resolve

    def get(self, name: str) -> Any:
        return self._resolve(name)

    def misuse(self) -> EvalError:
        """`var`, `local`, `module.x` … used as a value rather than traversed."""
        what = "output" if self.kind.startswith("module.") else "attribute"
        return EvalError(f'"{self.kind}" cannot be used as a value; refer to one of its {what}s ({self.kind}.<name>)')


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
        raise EvalError(f'unknown variable "{name}"', static=True)

    def child(self, names: Mapping[str, Any]) -> "Scope":
        return Scope(names, self)


def _trees(node: Tree) -> list[Tree]:
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _name(node: Tree | Token) -> str:
    return str(node) if isinstance(node, Token) else str(node.children[0])


class Evaluator:
    """Evaluates expression trees. Holds only caches (compiled templates), no configuration."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget if budget is not None else Budget()
        self._templates: dict[int, tuple[Tree, tuple[Part, ...]]] = {}
        self._costs: dict[int, tuple[Any, int]] = {}  # id(node) → (node, steps per evaluation)
        self._handlers: dict[str, Callable[[Tree, Scope], Any]] = {
            "expr_term": self._expr_term,
            "int_lit": lambda n, s: _int_literal(str(n.children[0])),
            "float_lit": lambda n, s: _float_literal(str(n.children[0])),
            "literal_value": self._literal,
            "string": self._string,
            "template_string": lambda n, s: unescape(str(n.children[0])[2:-2], position(n)[0]),
            "heredoc_template": self._heredoc,
            "heredoc_template_trim": self._heredoc,
            "identifier": lambda n, s: s.lookup(str(n.children[0])),
            "tuple": lambda n, s: self.budget.check([self.evaluate(c, s) for c in _trees(n)]),
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
            "sgplan_list": lambda n, s: self.budget.check([self.evaluate(item, s) for item in n.items]),
        }

    def evaluate(self, node: Tree, scope: Scope) -> Any:
        """Value of an expression tree; raises EvalError (with a line) for user mistakes."""
        value = self._traversable(node, scope)
        if type(value) is Namespace:
            exc = value.misuse()
            exc.line, exc.column = position(node)
            raise exc
        return value

    def _traversable(self, node: Tree, scope: Scope) -> Any:
        """`evaluate`, except that a namespace (`var`, `module.x`) may be the result: the base
        of a traversal is the one place one is allowed."""
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
        except OverflowError:  # a float conversion of a huge whole number, in any operation
            raise EvalError(number_limit_message(), *position(node)) from None
        except MemoryError:  # the limits should prevent it; if not, one clear line still
            raise EvalError("out of memory while evaluating this expression (see docs/limits.md)", *position(node)) from None

    def cost(self, node: Any) -> int:
        """Steps one evaluation of `node` is charged: NODE_STEPS per expression node."""
        kind = type(node)
        if kind is Ref or kind is Const:  # the common attribute shapes: no lookup needed
            return NODE_STEPS
        key = id(node)
        hit = self._costs.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        steps = NODE_STEPS * count_nodes(node)
        self._costs[key] = (node, steps)
        return steps

    # -- compact nodes (nodes.py) ----------------------------------------------------------------

    @staticmethod
    def _const(node: Const, scope: Scope) -> Any:
        value = node.value
        # Literal lists and maps are shared by every evaluation: hand out copies.
        if isinstance(value, list):
            return list(value)
        if isinstance(value, dict):
            return dict(value)
        if type(value) is float and not math.isfinite(value):  # `1e400` read as infinity
            raise EvalError(number_limit_message())
        return value

    def _ref(self, node: Ref, scope: Scope) -> Any:
        names = node.names
        value = scope.lookup(names[0])
        for name in names[1:]:
            value = self._attr(value, name)
        return value  # a namespace result is refused by `evaluate`, allowed as a base

    # -- literals and templates ----------------------------------------------------------------

    def _expr_term(self, node: Tree, scope: Scope) -> Any:
        kids = node.children
        if len(kids) == 1:
            return self._traversable(kids[0], scope)  # a wrapper: `evaluate` checks the result
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
        out = _Text()
        self._render_into(parts, scope, out, unknowns)
        if unknowns:
            return Unknown.of(unknowns)
        return self.budget.text(nfc("".join(out.parts)))

    def _render_into(self, parts: tuple[Part, ...], scope: Scope, out: "_Text", unknowns: list[Unknown]) -> None:
        for part in parts:
            if isinstance(part, str):
                out.add(part)
            elif isinstance(part, Interp):
                value = self.evaluate(part.expr, scope)
                if isinstance(value, Unknown):
                    unknowns.append(value)
                else:
                    try:
                        out.add(to_string(value, "interpolated value"))
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
                pairs = iterate(collection, "%{ for } collection")
                self.budget.charge(len(pairs) * (ITERATION_STEPS + self._body_cost(part)))
                for key, value in pairs:
                    names = {part.value: value} if part.key is None else {part.key: key, part.value: value}
                    self._render_into(part.body, scope.child(names), out, unknowns)

    def _body_cost(self, part: For) -> int:
        """Steps of one `%{ for }` iteration's body (its literal parts and expressions)."""
        key = id(part)
        hit = self._costs.get(key)
        if hit is not None and hit[0] is part:
            return hit[1]
        steps = sum(NODE_STEPS * count_nodes(p) for p in _template_exprs(part.body)) + len(part.body)
        self._costs[key] = (part, steps)
        return steps

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
        return Unknown.of(*unknown) if unknown else self.budget.check(out)

    def _object_key(self, key_node: Tree, scope: Scope) -> Any:
        inner = key_node.children[0]
        if isinstance(inner, Tree):
            if inner.data == "keyword":
                return _name(inner)
            if inner.data == "expr_term" and len(inner.children) == 1:
                only = inner.children[0]
                if isinstance(only, Tree) and only.data == "identifier":
                    return str(only.children[0])  # bare keys are names, not references
                if isinstance(only, Tree) and only.data in ("get_attr_expr_term", "index_expr_term"):
                    # HCL reads `{var.x = 1}` as an error: a key expression needs parentheses
                    raise EvalError("an object key that is a reference must be in parentheses: (var.x) = …")
                if isinstance(only, Tree) and only.data == "literal_value":
                    return str(only.children[0])  # so are `null`, `true` and `false` (HCL)
        key = self.evaluate(inner, scope)
        if isinstance(key, Unknown):
            return key
        if isinstance(key, (list, dict)) or key is None:
            raise EvalError(f"object key must be a string, not {type_name(key)}")
        return to_string(key)

    # -- traversal -----------------------------------------------------------------------------

    def _get_attr_term(self, node: Tree, scope: Scope) -> Any:
        base_node, attr = node.children
        return self._attr(self._traversable(base_node, scope), _name(attr.children[1]))

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
        return self._index(self._traversable(base_node, scope), self._index_key(index, scope))

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
                raise EvalError(f"index {to_string(key)[:40]} is out of range for a list of {len(base)} elements")
            return base[i]
        if isinstance(base, dict):
            k = to_string(key, "map key")
            if k not in base:
                raise EvalError(f'the map has no key "{k}"')
            return base[k]
        raise EvalError(f"cannot index a {type_name(base)}")

    def _splat(self, node: Tree, scope: Scope) -> Any:
        base_node, splat = node.children
        steps = [c for c in splat.children if isinstance(c, Tree)]
        after: list[Tree] = []
        if node.data == "attr_splat_expr_term":
            # HCL's legacy splat `.*` carries only attribute steps (and `.0`); a bracketed
            # index after them applies to the whole result (`a.*.name[0]` is the first name).
            cut = next((i for i, st in enumerate(steps) if st.data not in ("get_attr", "short_index")), len(steps))
            steps, after = steps[:cut], steps[cut:]
        inner = _splat_base(base_node)
        if inner is not None and node.data == "full_splat_expr_term":
            # `a[*].b[*]` and `a[*][*].c`: HCL applies the second splat to each element the
            # first one yields (python-hcl2 nests them the other way round).
            items = self._splat(inner, scope)
            if isinstance(items, Unknown):
                return items
            self.budget.charge(len(items) * SPLAT_STEPS * (1 + len(steps)))
            return [self._splat_each(item, steps, scope) for item in items]
        base = self.evaluate(base_node, scope)
        if isinstance(base, Unknown):
            return Unknown(base.refs)
        items = [] if base is None else base if isinstance(base, list) else [base]
        self.budget.charge(len(items) * SPLAT_STEPS * (1 + len(steps)))
        out: Any = self._splat_each(base, steps, scope)
        for step in after:
            out = self._step(out, step, scope)
        return out

    def _splat_each(self, base: Any, steps: list[Tree], scope: Scope) -> Any:
        """`base[*]` followed by `steps`, each applied to every element."""
        if isinstance(base, Unknown):
            return Unknown(base.refs)
        items = [] if base is None else base if isinstance(base, list) else [base]
        out = []
        for item in items:
            for step in steps:
                item = self._step(item, step, scope)
            out.append(item)
        return out

    def _step(self, value: Any, step: Tree, scope: Scope) -> Any:
        if step.data == "get_attr":
            return self._attr(value, _name(step.children[1]))
        return self._index(value, self._index_key(step, scope))

    # -- calls and operators -------------------------------------------------------------------

    def _call(self, node: Tree, scope: Scope) -> Any:
        name = _name(node.children[0])
        if any(isinstance(c, Token) and c.type == "COLONS" for c in node.children):
            raise EvalError("provider functions (name::name::name) are not supported")
        args_node = next((c for c in node.children if isinstance(c, Tree) and c.data == "arguments"), None)
        if name in ("try", "can"):
            return self._try(name, _trees(args_node) if args_node is not None else [], scope)
        if name not in FUNCTIONS:
            raise EvalError(f'unsupported function "{name}"', static=True)
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
        return call(name, args, self.budget)

    def _try(self, name: str, arg_nodes: list[Tree], scope: Scope) -> Any:
        """Terraform's try (the first argument that evaluates without error) and can (whether
        its argument does). An unknown result cannot be judged yet: it stays unknown."""
        if name == "can" and len(arg_nodes) != 1:
            raise EvalError("can(): takes exactly one argument")
        if not arg_nodes:
            raise EvalError("try(): at least one argument is required")
        failures: list[str] = []
        for arg in arg_nodes:
            try:
                value = self.evaluate(arg, scope)
            except EvalError as exc:
                if exc.reported or exc.static or self.budget.left < 0:
                    raise  # limits, static mistakes and errors already reported stay errors
                failures.append(exc.message)
                continue
            if isinstance(value, Unknown):
                return Unknown(value.refs)
            return True if name == "can" else value
        if name == "can":
            return False
        raise EvalError(f"try(): no expression succeeded; the last error: {failures[-1]}")

    def _conditional(self, node: Tree, scope: Scope) -> Any:
        condition, then, otherwise = _trees(node)
        value = self.evaluate(condition, scope)
        if isinstance(value, Unknown):
            return Unknown(value.refs)
        chosen, other = (then, otherwise) if to_bool(value, "condition") else (otherwise, then)
        result = self.evaluate(chosen, scope)
        if result is None or isinstance(result, Unknown):
            return result
        # HCL evaluates both results and unifies their types: a string on either side makes
        # the result a string (`c ? 12 : "x"` is "12"); a collection against a primitive is
        # an error. The other result's own errors do not matter.
        alternative = self._quietly(other, scope)
        if alternative is None or isinstance(alternative, Unknown):
            return result
        kinds = {type_name(result), type_name(alternative)}
        if len(kinds) == 1 or kinds == {"list", "object"}:
            return result  # (tuple and object shapes are not compared: see language-conformance.md)
        if kinds & {"list", "object"}:
            raise EvalError(f"inconsistent conditional result types: {type_name(result)} and {type_name(alternative)}")
        if "string" in kinds:
            return to_string(result)
        raise EvalError("inconsistent conditional result types: number and bool")

    def _quietly(self, node: Tree, scope: Scope) -> Any:
        """`node`'s value, or None when evaluating it fails (a budget error, a static mistake or
        an error already reported still stops)."""
        try:
            return self.evaluate(node, scope)
        except EvalError as exc:
            if exc.reported or exc.static or self.budget.left < 0:
                raise
            return None

    def _binary(self, node: Tree, scope: Scope) -> Any:
        lhs_node, term = _trees(node)
        op_node, rhs_node = _trees(term)
        op = str(op_node.children[0]).strip()
        lhs = self.evaluate(lhs_node, scope)
        if op in ("&&", "||"):
            return self._logical(op, lhs, rhs_node, scope)
        rhs = self.evaluate(rhs_node, scope)
        if isinstance(lhs, Unknown) or isinstance(rhs, Unknown):
            return Unknown.of(lhs, rhs)
        if op in ("==", "!="):
            if isinstance(lhs, (list, dict)) or isinstance(rhs, (list, dict)):
                self.budget.charge(self.budget.size(lhs) + self.budget.size(rhs))  # a deep comparison
            return equal(lhs, rhs) is (op == "==")
        a, b = to_number(lhs, f"left operand of {op}"), to_number(rhs, f"right operand of {op}")
        if op == "+":
            return result_number(a + b)
        if op == "-":
            return result_number(a - b)
        if op == "*":
            # Operands are within the number limit, so the product is at most twice as long:
            # `n = n * n` chains stop at the limit instead of growing million-digit integers.
            return result_number(a * b)
        if op == "%" and b == 0:
            return a  # cty's Modulo: `x % 0` is x
        if op == "/" and b == 0:
            raise EvalError("division by zero")
        if op == "/":
            return result_number(a / b)
        if op == "%":
            return _remainder(a, b)
        if op == "<":
            return a < b
        if op == ">":
            return a > b
        if op == "<=":
            return a <= b
        if op == ">=":
            return a >= b
        raise EvalError(f"unsupported operator {op}")

    def _logical(self, op: str, lhs: Any, rhs_node: Tree, scope: Scope) -> Any:
        """HCL's && and ||: both operands must be bools (`false && "x"` is an error), and a
        deciding known operand short-circuits errors and unknowns on the other side."""
        decisive = op == "||"  # the operand value that decides the result alone
        left = lhs if isinstance(lhs, Unknown) else to_bool(lhs, f"left operand of {op}")
        try:
            rhs = self.evaluate(rhs_node, scope)
        except EvalError as exc:
            if (left is decisive or isinstance(left, Unknown)) and not (exc.reported or exc.static) and self.budget.left >= 0:
                return left  # HCL's short circuit: a known deciding or unknown left hides it
            raise
        right = rhs if isinstance(rhs, Unknown) else to_bool(rhs, f"right operand of {op}")
        if left is decisive or right is decisive:
            return decisive
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return Unknown.of(left, right)
        return not decisive

    def _unary(self, node: Tree, scope: Scope) -> Any:
        op, operand_node = node.children
        value = self.evaluate(operand_node, scope)
        if isinstance(value, Unknown):
            return Unknown(value.refs)
        if str(op) == "!":
            return not to_bool(value, "operand of !")
        return result_number(-to_number(value, "operand of -"))

    # -- for expressions -----------------------------------------------------------------------

    def _for_parts(self, node: Tree) -> tuple[Tree, list[Tree], Tree | None]:
        trees = _trees(node)
        intro = trees[0]
        cond = trees[-1] if trees[-1].data == "for_cond" else None
        body = trees[1:-1] if cond is not None else trees[1:]
        return intro, body, cond

    def _iteration_cost(self, body: list[Tree], cond: Tree | None) -> int:
        return ITERATION_STEPS + sum(self.cost(b) for b in body) + (self.cost(cond) if cond is not None else 0)

    def _for_iter(self, intro: Tree, cond: Tree | None, scope: Scope, steps: int) -> Any:
        """The scopes of the iterations kept by the condition; `steps` is charged per iteration."""
        trees = _trees(intro)
        names = [str(t.children[0]) for t in trees[:-1]]
        collection = self.evaluate(trees[-1], scope)
        if isinstance(collection, Unknown):
            return Unknown(collection.refs)
        out: list[Scope] = []
        unknown: list[Unknown] = []
        pairs = iterate(collection, "for expression collection")
        self.budget.charge(len(pairs) * steps)
        for key, value in pairs:
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
        scopes = self._for_iter(intro, cond, scope, self._iteration_cost(body, cond))
        if isinstance(scopes, Unknown):
            return scopes
        return self.budget.check([self.evaluate(body[0], s) for s in scopes])

    def _for_object(self, node: Tree, scope: Scope) -> Any:
        intro, body, cond = self._for_parts(node)
        grouping = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children)
        scopes = self._for_iter(intro, cond, scope, self._iteration_cost(body, cond))
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
        return self.budget.check(out)


class _Text:
    """A template's output so far: refuses to grow past the string limit while it is built
    (a `%{ for }` over a long list must fail before it joins gigabytes)."""

    __slots__ = ("parts", "length")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def add(self, text: str) -> None:
        self.length += len(text)
        if self.length > MAX_STRING_LENGTH:
            raise EvalError(string_limit_message(self.length))
        self.parts.append(text)


def _int_literal(text: str) -> int:
    """A whole-number literal within the number limit (and Python's 4,300-digit parse limit)."""
    if len(text) > 400:  # 2**1024 has 309 digits: longer literals are out of range anyway
        raise EvalError(number_limit_message())
    return check_number(int(text))


def _float_literal(text: str) -> int | float:
    """A number literal with a fraction or exponent, read as a 64-bit float like every other
    literal path (nodes.py, fastparse.py). A fraction on a number too large for the float to
    keep its whole digits is refused rather than rounded: cty would keep them."""
    if len(text) > 400:
        raise EvalError(number_limit_message())
    value = float(text)
    if math.isfinite(value) and abs(value) >= 2**53:  # whole as a float, maybe not as written
        exact = decimal.Decimal(text)
        if exact != exact.to_integral_value():
            raise EvalError(f"the number {text[:60]} needs more precision than sgplan's 64-bit numbers keep")
    return result_number(value)


def _remainder(a: int | float, b: int | float) -> int | float:
    """`a % b` with the sign of `a` (Go's and cty's truncated remainder), exact for whole numbers."""
    if isinstance(a, float) or isinstance(b, float):
        return result_number(math.fmod(a, b))
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _splat_base(node: Tree) -> Tree | None:
    """The full splat `node` is (through expression wrappers), or None."""
    while isinstance(node, Tree) and node.data == "expr_term" and len(node.children) == 1:
        node = node.children[0]
    return node if isinstance(node, Tree) and node.data == "full_splat_expr_term" else None


def count_nodes(node: Any) -> int:
    """Expression nodes under `node` (trees and compact nodes), without recursion."""
    total, stack = 0, [node]
    while stack:
        item = stack.pop()
        total += 1
        if isinstance(item, Tree):
            stack.extend(c for c in item.children if isinstance(c, Tree))
        elif type(item) is ListOf:
            total += len(item.items)
    return total


def _template_exprs(parts: tuple[Part, ...]) -> list[Any]:
    """The expressions of a template body, nested directives included."""
    out: list[Any] = []
    stack = list(parts)
    while stack:
        part = stack.pop()
        if isinstance(part, Interp):
            out.append(part.expr)
        elif isinstance(part, If):
            out.append(part.condition)
            stack.extend(part.then)
            stack.extend(part.otherwise)
        elif isinstance(part, For):
            out.append(part.collection)
            stack.extend(part.body)
    return out
