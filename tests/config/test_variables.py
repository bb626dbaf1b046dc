"""Variable types, conversion, validation, and the precedence of DESIGN §2 (later wins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.conftest import evaluate_dir

DECL = """
variable "v" {
  type    = string
  default = "default"
}
output "v" { value = var.v }
"""


def _value(directory: Path, **kwargs: object) -> object:
    desired, messages = evaluate_dir(directory, **kwargs)
    assert desired is not None, messages
    return {o.name: o.value for o in desired.outputs}["v"]


def test_default(config_dir) -> None:
    assert _value(config_dir(DECL)) == "default"


def test_each_layer_beats_the_previous(config_dir, tmp_path: Path) -> None:
    d = config_dir(DECL)
    assert _value(d, env={"TF_VAR_v": "tf-env"}) == "tf-env"
    assert _value(d, env={"TF_VAR_v": "tf-env", "SGPLAN_VAR_v": "sg-env"}) == "sg-env"
    (d / "terraform.tfvars").write_text('v = "tfvars"\n')
    assert _value(d, env={"SGPLAN_VAR_v": "sg-env"}) == "tfvars"
    (d / "sgplan.tfvars").write_text('v = "sgplan-tfvars"\n')
    assert _value(d) == "sgplan-tfvars"
    (d / "b.auto.tfvars").write_text('v = "auto-b"\n')
    (d / "a.auto.tfvars").write_text('v = "auto-a"\n')
    assert _value(d) == "auto-b"  # name order, later wins
    extra = tmp_path.parent / f"{tmp_path.name}-extra.tfvars"
    extra.write_text('v = "var-file"\n')
    assert _value(d, var_inputs=[("var_file", str(extra))]) == "var-file"
    assert _value(d, var_inputs=[("var_file", str(extra)), ("var", "v=cli")]) == "cli"
    assert _value(d, var_inputs=[("var", "v=cli"), ("var_file", str(extra))]) == "var-file"


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        ("number", "5", 5),
        ("bool", "true", True),
        ("list(string)", '["a", "b"]', ["a", "b"]),
        ("list(number)", '["1", 2]', [1, 2]),
        ("set(string)", '["b", "a", "b"]', ["a", "b"]),
        ("map(number)", '{a = "1"}', {"a": 1}),
        ("object({name = string, port = optional(number, 22)})", '{name = "x"}', {"name": "x", "port": 22}),
        ("tuple([string, number])", '["a", "2"]', ["a", 2]),
        ("any", "[1]", [1]),
        ("string", "[1]", "[1]"),  # strings are taken raw
    ],
)
def test_cli_values_are_converted(config_dir, type_: str, text: str, expected: object) -> None:
    d = config_dir(f'variable "v" {{ type = {type_} }}\noutput "v" {{ value = var.v }}\n')
    assert _value(d, var_inputs=[("var", f"v={text}")]) == expected
    assert _value(d, env={"SGPLAN_VAR_v": text}) == expected


def test_wrong_type_is_an_error(config_dir) -> None:
    d = config_dir('variable "n" { type = number }\n')
    _, messages = evaluate_dir(d, var_inputs=[("var", "n=abc")])
    assert any('variable "n"' in m and "not a number" in m for m in messages)


def test_default_of_wrong_type(config_dir) -> None:
    d = config_dir('variable "n" {\n  type = list(string)\n  default = "x"\n}\n')
    _, messages = evaluate_dir(d)
    assert any(m.startswith(f"{d}/main.sg.hcl:") and 'variable "n"' in m for m in messages)


def test_required_variable_without_value(config_dir) -> None:
    d = config_dir('variable "region" { type = string }\n')
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert f'{d}/main.sg.hcl:1: no value for required variable "region"' in messages


def test_unknown_cli_variable(config_dir) -> None:
    d = config_dir(DECL)
    desired, messages = evaluate_dir(d, var_inputs=[("var", "nope=1")])
    assert desired is None
    assert any('no variable named "nope"' in m for m in messages)


def test_undeclared_in_tfvars_is_a_warning(config_dir) -> None:
    d = config_dir(DECL)
    (d / "terraform.tfvars").write_text('other = 1\n')
    desired, messages = evaluate_dir(d)
    assert desired is not None
    assert any("warning" in m and '"other"' in m and "terraform.tfvars:1" in m for m in messages)


def test_validation_blocks(config_dir) -> None:
    d = config_dir(
        """variable "port" {
  type = number
  validation {
    condition     = var.port > 0
    error_message = "port must be positive"
  }
  validation {
    condition     = var.port < 1000
    error_message = "port must be below 1000"
  }
}
"""
    )
    assert evaluate_dir(d, var_inputs=[("var", "port=22")])[0] is not None
    _, messages = evaluate_dir(d, var_inputs=[("var", "port=0")])
    assert any("port must be positive" in m for m in messages)
    _, messages = evaluate_dir(d, var_inputs=[("var", "port=5000")])
    assert any("port must be below 1000" in m for m in messages)


def test_nullable_false(config_dir) -> None:
    d = config_dir('variable "x" {\n  type = string\n  nullable = false\n  default = null\n}\n')
    _, messages = evaluate_dir(d)
    assert any("must not be null" in m for m in messages)


def test_bad_var_syntax(config_dir) -> None:
    d = config_dir(DECL)
    _, messages = evaluate_dir(d, var_inputs=[("var", "novalue")])
    assert any("expected NAME=VALUE" in m for m in messages)
