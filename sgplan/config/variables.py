"""Input variables: type constraints and conversion (Terraform's rules), validation blocks, and
the value precedence of DESIGN §2 (default < env < terraform/sgplan.tfvars < *.auto.tfvars <
--var-file/--var in order)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from lark import Tree
from lark.exceptions import UnexpectedInput

from sgplan.config.evaluate import Evaluator, Scope
from sgplan.config.values import (
    EvalError,
    Unknown,
    as_set,
    attribute_message,
    result_number,
    to_bool,
    to_number,
    to_string,
    type_name,
)
from sgplan.diagnostics import Diagnostic, error, warning
from sgplan.hcl.load import parse_source, read_confined
from sgplan.hcl.nodes import Const, ListOf, Ref
from sgplan.hcl.parser import parse_text
from sgplan.hcl.syntax import Attribute, Block
from sgplan.model import SourceRange

# A type is ("string",) | ("number",) | ("bool",) | ("any",) | ("list"|"set"|"map", T)
# | ("tuple", (T, …)) | ("object", ((name, T, optional, default), …)).
Type = tuple
ANY_TYPE: Type = ("any",)
_PRIMITIVES = ("string", "number", "bool")
MISSING = object()


@dataclass(frozen=True, slots=True)
class Validation:
    condition: Attribute
    error_message: Attribute


@dataclass(frozen=True, slots=True)
class Variable:
    """A declared `variable` block."""

    name: str
    type: Type
    typed: bool  # an explicit `type` was given (decides how --var/env strings are read)
    default: Any  # MISSING when required
    nullable: bool
    sensitive: bool
    validations: tuple[Validation, ...]
    range: SourceRange


# -- types ---------------------------------------------------------------------------------------


def parse_type(node: Tree) -> Type:
    """A type constraint expression (`list(string)`, `object({a = number})`, …) → Type."""
    if isinstance(node, (Const, Ref, ListOf)):  # the walker's compact forms of `string`, `"list"`
        if isinstance(node, Ref) and len(node.names) == 1:
            return _named_type(node.names[0])
        if isinstance(node, Const) and isinstance(node.value, str):
            return _legacy_type(node.value)
        raise EvalError("invalid type constraint")
    if node.data == "expr_term" and len(node.children) == 1:
        return parse_type(node.children[0])
    if node.data == "identifier":
        return _named_type(str(node.children[0]))
    if node.data == "string":
        return _legacy_type("".join(str(p.children[0]) for p in node.children if isinstance(p, Tree)))
    if node.data == "function_call":
        name = str(node.children[0].children[0])
        args_node = next((c for c in node.children if isinstance(c, Tree) and c.data == "arguments"), None)
        args = [c for c in args_node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"] if args_node else []
        if name in ("list", "set", "map") and len(args) == 1:
            return (name, parse_type(args[0]))
        if name == "tuple" and len(args) == 1:
            inner = _unwrap(args[0])
            if inner.data != "tuple":
                raise EvalError("tuple(...) takes a list of types: tuple([string, number])")
            return ("tuple", tuple(parse_type(t) for t in inner.children if isinstance(t, Tree) and t.data != "new_line_or_comment"))
        if name == "object" and len(args) == 1:
            return ("object", _object_attributes(_unwrap(args[0])))
        raise EvalError(f"invalid type constraint {name}(…)")
    raise EvalError("invalid type constraint")


def _named_type(name: str) -> Type:
    if name in _PRIMITIVES or name == "any":
        return (name,)
    raise EvalError(f'unknown type "{name}"')


def _legacy_type(text: str) -> Type:
    """Quoted types from old Terraform: "string", "list", "map"."""
    legacy = {"string": ("string",), "list": ("list", ("string",)), "map": ("map", ("string",))}
    if text in legacy:
        return legacy[text]
    raise EvalError(f'unknown type "{text}"')


def _unwrap(node: Tree) -> Tree:
    while node.data == "expr_term" and len(node.children) == 1 and isinstance(node.children[0], Tree):
        node = node.children[0]
    return node


def _object_attributes(node: Tree) -> tuple:
    if node.data != "object":
        raise EvalError("object(...) takes a map of attribute types: object({ name = string })")
    out = []
    for elem in node.children:
        if not isinstance(elem, Tree) or elem.data != "object_elem":
            continue
        key_node, value_node = [c for c in elem.children if isinstance(c, Tree)]
        key = _unwrap(key_node.children[0])
        name = str(key.children[0]) if key.data in ("identifier", "keyword") else None
        if name is None:
            raise EvalError("object type attribute names must be plain names")
        value = _unwrap(value_node)
        if value.data == "function_call" and str(value.children[0].children[0]) == "optional":
            args_node = next(c for c in value.children if isinstance(c, Tree) and c.data == "arguments")
            args = [c for c in args_node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
            default = Evaluator().evaluate(args[1], Scope({})) if len(args) > 1 else None
            out.append((name, parse_type(args[0]), True, default))
        else:
            out.append((name, parse_type(value), False, None))
    return tuple(out)


def type_text(t: Type) -> str:
    if t[0] in ("list", "set", "map"):
        return f"{t[0]}({type_text(t[1])})"
    if t[0] == "tuple":
        return "tuple([" + ", ".join(type_text(x) for x in t[1]) + "])"
    if t[0] == "object":
        return "object({" + ", ".join(f"{n} = {type_text(x)}" for n, x, _, _ in t[1]) + "})"
    return t[0]


def convert(value: Any, t: Type, what: str = "value") -> Any:
    """Convert `value` to type `t` as Terraform does ("5" → 5 for number); raise EvalError."""
    kind = t[0]
    if value is None or isinstance(value, Unknown) or kind == "any":
        return value
    if kind == "string":
        if isinstance(value, (list, dict)):
            raise EvalError(f"{what}: a string is required, not a {type_name(value)}")
        return to_string(value, what)
    if kind == "number":
        return to_number(value, what)
    if kind == "bool":
        return to_bool(value, what)
    if kind in ("list", "set"):
        if not isinstance(value, list):
            raise EvalError(f"{what}: a {type_text(t)} is required, not a {type_name(value)}")
        items = [convert(v, t[1], f"{what}[{i}]") for i, v in enumerate(value)]
        return as_set(items) if kind == "set" else items
    if kind == "map":
        if not isinstance(value, dict):
            raise EvalError(f"{what}: a {type_text(t)} is required, not a {type_name(value)}")
        return {k: convert(v, t[1], f'{what}["{k}"]') for k, v in value.items()}
    if kind == "tuple":
        if not isinstance(value, list) or len(value) != len(t[1]):
            raise EvalError(f"{what}: a {type_text(t)} is required")
        return [convert(v, et, f"{what}[{i}]") for i, (v, et) in enumerate(zip(value, t[1]))]
    if kind == "object":
        if not isinstance(value, dict):
            raise EvalError(f"{what}: an object is required, not a {type_name(value)}")
        out = {}
        for name, at, optional, default in t[1]:
            if name in value and (value[name] is not None or not optional):
                out[name] = convert(value[name], at, f"{what}.{name}")
            elif optional:  # absent or null: the default applies (Terraform ≥ 1.3)
                out[name] = convert(default, at, f"{what}.{name}")
            else:
                raise EvalError(f'{what}: attribute "{name}" is required')
        return out
    raise EvalError(f"{what}: unsupported type {kind}")


# -- declarations --------------------------------------------------------------------------------


def declare(block: Block, evaluator: Evaluator, diags: list[Diagnostic]) -> Variable | None:
    """A `variable` block → Variable (its default converted to its type)."""
    name = block.labels[0] if block.labels else ""
    typed = "type" in block.attributes
    t: Type = ANY_TYPE
    empty = Scope({})
    try:
        if typed:
            t = parse_type(block.attributes["type"].expr)
        nullable = _flag(block, "nullable", True, evaluator)
        sensitive = _flag(block, "sensitive", False, evaluator)
        default: Any = MISSING
        if "default" in block.attributes:
            attr = block.attributes["default"]
            try:
                default = convert(evaluator.evaluate(attr.expr, empty), t, f'default of variable "{name}"')
            except EvalError as exc:
                exc.line = exc.line or attr.range.line
                raise
    except EvalError as exc:
        where = block.range if not exc.line else SourceRange(block.range.file, exc.line, exc.column or 1)
        diags.append(error(f'variable "{name}": {exc.message}', where))
        return None
    validations = tuple(
        Validation(v.attributes["condition"], v.attributes["error_message"])
        for v in block.blocks
        if v.type == "validation" and "condition" in v.attributes and "error_message" in v.attributes
    )
    return Variable(name, t, typed, default, nullable, sensitive, validations, block.range)


def _flag(block: Block, name: str, default: bool, evaluator: Evaluator) -> bool:
    attr = block.attributes.get(name)
    if attr is None:
        return default
    return to_bool(evaluator.evaluate(attr.expr, Scope({})), name)


def finalize(var: Variable, value: Any, evaluator: Evaluator, where: SourceRange, diags: list[Diagnostic]) -> Any:
    """Convert, null-check and validate one variable's value; MISSING when it has an error."""
    what = f'variable "{var.name}"'
    if value is MISSING:
        if var.default is MISSING:
            diags.append(error(f'no value for required variable "{var.name}"', where))
            return MISSING
        value = var.default
    try:
        value = convert(value, var.type, what)
    except EvalError as exc:
        diags.append(error(f"invalid value for {exc.message}", where))
        return MISSING
    if value is None and not var.nullable:
        diags.append(error(f'{what} must not be null (nullable = false)', where))
        return MISSING
    scope = Scope({"var": {var.name: value}})
    for v in var.validations:
        try:
            ok = evaluator.evaluate(v.condition.expr, scope)
            if isinstance(ok, Unknown):
                continue
            if not to_bool(ok, "validation condition"):
                message = evaluator.evaluate(v.error_message.expr, scope)
                diags.append(error(f"invalid value for {what}: {to_string(message, 'error_message')}", where))
                return MISSING
        except EvalError as exc:
            line = exc.line or v.condition.range.line
            diags.append(error(f"validation of {what}: {exc.message}", SourceRange(v.condition.range.file, line)))
            return MISSING
    return value


# -- precedence ----------------------------------------------------------------------------------


def root_values(
    variables: Mapping[str, Variable],
    directory: Path,
    var_inputs: Sequence[tuple[str, str]],
    env: Mapping[str, str],
    evaluator: Evaluator,
    diags: list[Diagnostic],
) -> tuple[dict[str, tuple[Any, SourceRange | None]], list[bytes]]:
    """Raw (unconverted) values of the root variables by precedence, later layers winning.

    Returns name → (value, where it was set) and the bytes of the tfvars files read (for the hash).
    """
    values: dict[str, tuple[Any, SourceRange | None]] = {}
    read: list[bytes] = []
    for prefix in ("TF_VAR_", "SGPLAN_VAR_"):  # same layer; the sgplan spelling wins a tie
        for key in sorted(env):
            if key.startswith(prefix) and key[len(prefix) :] in variables:
                name = key[len(prefix) :]
                value = _from_text(variables[name], env[key], f"environment variable {key}", diags)
                if value is not MISSING:
                    values[name] = (value, None)
    auto = [directory / n for n in ("terraform.tfvars", "terraform.tfvars.json", "sgplan.tfvars", "sgplan.tfvars.json")]
    if directory.is_dir():  # HCL and JSON forms interleaved, in lexical order of name
        auto += sorted((p for p in directory.iterdir() if p.name.endswith((".auto.tfvars", ".auto.tfvars.json"))),
                       key=lambda p: p.name)
    for path in auto:
        if path.is_file() or path.is_symlink():  # a link leading out is reported, not skipped
            read.append(_read_tfvars(path, str(path), variables, values, evaluator, diags))
    for kind, text in var_inputs:
        if kind == "var_file":
            path = Path(text)
            if not path.is_file():
                diags.append(error(f"--var-file {text}: file not found"))
                continue
            read.append(_read_tfvars(path, text, variables, values, evaluator, diags, operator_chosen=True))
        else:
            name, eq, raw = text.partition("=")
            name = name.strip()
            if not eq or not name:
                diags.append(error(f'--var "{text}": expected NAME=VALUE'))
            elif name not in variables:
                diags.append(error(f'--var "{name}": no variable named "{name}" is declared'))
            else:
                value = _from_text(variables[name], raw, f'--var "{name}"', diags)
                if value is not MISSING:
                    values[name] = (value, None)
    return values, read


def _from_text(var: Variable, text: str, origin: str, diags: list[Diagnostic]) -> Any:
    """A value given as text (env, --var): raw string for primitive or untyped variables, an
    HCL expression for complex and `any` types (Terraform's rule)."""
    if not var.typed or var.type[0] in _PRIMITIVES:
        return text
    try:
        tree = parse_text(f"v = {text}\n")
        expr = tree.children[0].children[0].children[2]
        return Evaluator().evaluate(expr, Scope({}))
    except (UnexpectedInput, EvalError, IndexError, AttributeError):
        diags.append(error(f'{origin}: invalid value for variable "{var.name}": expected an HCL {type_text(var.type)} expression'))
        return MISSING


def _read_tfvars(
    path: Path,
    display: str,
    variables: Mapping[str, Variable],
    values: dict[str, tuple[Any, SourceRange | None]],
    evaluator: Evaluator,
    diags: list[Diagnostic],
    operator_chosen: bool = False,
) -> bytes:
    if operator_chosen:  # --var-file: the operator's choice, wherever it points
        try:
            data = path.read_bytes()
        except OSError as exc:
            diags.append(error(f"cannot read {display}: {exc.strerror}"))
            return b""
    else:  # found in the configuration directory: never through a link leading out of it
        found, problem = read_confined(path, display)
        if found is None:
            diags.append(problem)
            return b""
        data = found
    if display.endswith(".json"):
        _read_json_tfvars(data, display, variables, values, diags)
        return data
    source, parse_diags = parse_source(data, display)
    diags.extend(parse_diags)
    if source.body is None:
        return data
    for block in source.body.blocks:
        diags.append(error(f'a variable file holds only NAME = value lines, not "{block.type}" blocks', block.range))
    for name, attr in source.body.attributes.items():
        if name not in variables:
            diags.append(warning(f'value for undeclared variable "{name}" is ignored', attr.range))
            continue
        try:
            values[name] = (evaluator.evaluate(attr.expr, Scope({})), attr.range)
        except EvalError as exc:
            diags.append(error(attribute_message(name, exc.message), SourceRange(display, exc.line or attr.range.line, exc.column or 1)))
    return data


def _read_json_tfvars(
    data: bytes,
    display: str,
    variables: Mapping[str, Variable],
    values: dict[str, tuple[Any, SourceRange | None]],
    diags: list[Diagnostic],
) -> None:
    """A `*.tfvars.json` file: one JSON object, each property a variable's value."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        diags.append(error(f"file is not UTF-8 ({exc.reason})", SourceRange(display, 1)))
        return
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        parsed = json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
    except _DuplicateKey as exc:
        diags.append(error(f'duplicate property "{exc.args[0]}" in JSON', SourceRange(display, _json_line(text, exc.args[0]))))
        return
    except json.JSONDecodeError as exc:
        diags.append(error(f"invalid JSON: {exc.msg}", SourceRange(display, exc.lineno)))
        return
    except (ValueError, RecursionError):
        diags.append(error("invalid JSON: a value is not valid (NaN, Infinity or nesting too deep)", SourceRange(display, 1)))
        return
    if not isinstance(parsed, dict):
        diags.append(error("a variable file in JSON holds one object: {\"NAME\": value, …}", SourceRange(display, 1)))
        return
    for name, raw in parsed.items():
        where = SourceRange(display, _json_line(text, name))
        if name not in variables:
            diags.append(warning(f'value for undeclared variable "{name}" is ignored', where))
            continue
        try:
            values[name] = (_json_value(raw), where)
        except EvalError as exc:
            diags.append(error(attribute_message(name, exc.message), where))


class _DuplicateKey(Exception):
    pass


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)  # HCL's JSON reader refuses duplicate properties
        out[key] = value
    return out


def _json_constant(word: str) -> Any:
    raise ValueError(word)


def _json_value(value: Any) -> Any:
    """A JSON value as an sgplan value; strings holding template sequences are refused (HCL's
    JSON syntax would read them as templates)."""
    if isinstance(value, str):
        if "${" in value or "%{" in value:
            raise EvalError("a string with ${ or %{ in a JSON variable file is a template in Terraform; sgplan does not evaluate it")
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return result_number(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return {k: _json_value(v) for k, v in value.items()}


def _json_line(text: str, name: str) -> int:
    at = text.find(json.dumps(name))
    return text.count("\n", 0, at) + 1 if at >= 0 else 1
