"""`*.tfvars.json` and `*.auto.tfvars.json` in Terraform's precedence (DESIGN §2), and the
variable fixes of issue 14 (optional attribute defaults applied to an explicit null)."""

from __future__ import annotations

import os
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


def test_json_forms_take_their_place_in_the_precedence(config_dir) -> None:
    d = config_dir(DECL)
    (d / "terraform.tfvars.json").write_text('{"v": "tf-json"}')
    assert _value(d) == "tf-json"
    (d / "terraform.tfvars").write_text('v = "tf-hcl"\n')
    assert _value(d) == "tf-json"  # terraform.tfvars, then its .json form
    (d / "sgplan.tfvars.json").write_text('{"v": "sg-json"}')
    assert _value(d) == "sg-json"
    (d / "b.auto.tfvars.json").write_text('{"v": "auto-b-json"}')
    (d / "a.auto.tfvars").write_text('v = "auto-a"\n')
    assert _value(d) == "auto-b-json"  # HCL and JSON auto files together, in name order
    (d / "c.auto.tfvars").write_text('v = "auto-c"\n')
    assert _value(d) == "auto-c"


def test_json_var_file(config_dir, tmp_path: Path) -> None:
    d = config_dir(DECL)
    extra = tmp_path.parent / f"{tmp_path.name}-extra.tfvars.json"
    extra.write_text('{"v": "from-json"}')
    assert _value(d, var_inputs=[("var_file", str(extra))]) == "from-json"


@pytest.mark.parametrize(
    ("type_", "json_value", "expected"),
    [
        ("number", "5", 5),
        ("number", '"5"', 5),
        ("list(string)", '["a", "b"]', ["a", "b"]),
        ("map(number)", '{"b": 2, "a": 1.5}', {"a": 1.5, "b": 2}),
        ("object({name = string, port = optional(number, 22)})", '{"name": "x"}', {"name": "x", "port": 22}),
        ("object({name = string, port = optional(number, 22)})", '{"name": "x", "port": null}', {"name": "x", "port": 22}),
        ("any", '{"a": [1, true, null]}', {"a": [1, True, None]}),
    ],
)
def test_json_values_are_converted(config_dir, type_: str, json_value: str, expected: object) -> None:
    d = config_dir(f'variable "v" {{ type = {type_} }}\noutput "v" {{ value = var.v }}\n')
    (d / "x.auto.tfvars.json").write_text(f'{{"v": {json_value}}}')
    assert _value(d) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"v": "a", "v": "b"}', 'duplicate property "v"'),
        ('["v"]', "holds one object"),
        ('{"v": NaN}', "invalid JSON"),
        ('{"v": ', "invalid JSON"),
        ('{"v": "${var.x}"}', "template"),
    ],
)
def test_json_mistakes_are_one_line_errors(config_dir, text: str, message: str) -> None:
    d = config_dir(DECL)
    (d / "x.auto.tfvars.json").write_text(text)
    _, messages = evaluate_dir(d)
    hits = [m for m in messages if message in m]
    assert hits and all("\n" not in m and "x.auto.tfvars.json:" in m for m in hits), messages


def test_undeclared_json_value_is_a_warning(config_dir) -> None:
    d = config_dir(DECL)
    (d / "x.auto.tfvars.json").write_text('{\n  "v": "x",\n  "other": 1\n}')
    desired, messages = evaluate_dir(d)
    assert desired is not None
    assert any('undeclared variable "other"' in m and ":3" in m for m in messages), messages


def test_json_symlink_leaving_the_directory_is_refused(config_dir, tmp_path: Path) -> None:
    d = config_dir(DECL)
    outside = tmp_path.parent / f"{tmp_path.name}-secret.json"
    outside.write_text('{"v": "leaked"}')
    os.symlink(outside, d / "x.auto.tfvars.json")
    desired, messages = evaluate_dir(d)
    assert desired is None or {o.name: o.value for o in desired.outputs}["v"] != "leaked"
    assert any("x.auto.tfvars.json" in m for m in messages), messages


def test_optional_default_replaces_null_in_hcl_values(config_dir) -> None:
    d = config_dir('variable "v" {\n  type = object({a = optional(string, "dflt"), b = optional(string)})\n'
                   '  default = {a = null, b = null}\n}\noutput "v" { value = var.v }\n')
    assert _value(d) == {"a": "dflt", "b": None}
