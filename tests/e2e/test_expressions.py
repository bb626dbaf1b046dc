"""The expression language agrees with Terraform/HCL — observed through `output` values in
`plan --json` (planned_values.outputs), as a user of the CLI sees them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import run_cli

CONFIG = r'''
variable "n" {
  type    = number
  default = 3
}

variable "names" {
  type    = list(string)
  default = ["web", "db"]
}

locals {
  objs = [{ name = "a", port = 1 }, { name = "b", port = 2 }]
  env  = "prod"
}

output "arith"       { value = 1 + 2 * 3 - 4 / 2 }
output "modulo"      { value = 7 % 3 }
output "division"    { value = 10 / 4 }
output "negate"      { value = -var.n + 10 }
output "compare"     { value = [1 < 2, 2 <= 1, 3 == 3, "a" != "b"] }
output "logic"       { value = !true || false && true }
output "precedence"  { value = true || false && false }
output "interp"      { value = "sg-${local.env}-${var.n + 1}" }
output "keeps_type"  { value = "${var.n}" }
output "escapes"     { value = "tab\there \"quoted\" back\\slash $${not} %%{not}" }
output "unicode"     { value = "caf\u00e9" }
output "if_directive" { value = "%{ if var.n > 2 }big%{ else }small%{ endif }" }
output "for_directive" { value = "%{ for x in var.names }[${x}]%{ endfor }" }
output "conditional" { value = var.n > 5 ? "many" : "few" }
output "for_list"    { value = [for s in var.names : upper(s)] }
output "for_if"      { value = [for n in [1, 2, 3, 4] : n * 10 if n % 2 == 0] }
output "for_map"     { value = { for s in var.names : s => length(s) } }
output "for_index"   { value = [for i, s in var.names : "${i}:${s}"] }
output "splat"       { value = local.objs[*].name }
output "index"       { value = local.objs[1].port }
output "heredoc" {
  value = <<EOT
hello
  ${local.env}
EOT
}
output "indented_heredoc" {
  value = <<-EOT
    first
      second
    EOT
}
output "concat"      { value = concat(["a"], ["b", "c"]) }
output "merge"       { value = merge({ a = 1, b = 2 }, { b = 3 }) }
output "lookup"      { value = [lookup({ a = 1 }, "a", 0), lookup({ a = 1 }, "z", 0)] }
output "format"      { value = format("%s-%03d", "web", 7) }
output "join"        { value = join(",", var.names) }
output "split"       { value = split(",", "80,443") }
output "length"      { value = [length("abc"), length(var.names), length({ a = 1 })] }
output "distinct"    { value = distinct([1, 1, 2, 3, 2]) }
output "flatten"     { value = flatten([[1], [2, [3]], []]) }
output "cidrsubnet"  { value = cidrsubnet("10.0.0.0/16", 8, 2) }
output "cidrsubnet6" { value = cidrsubnet("fd00::/48", 16, 5) }
output "toset"       { value = tolist(toset(["b", "a", "b"])) }
output "object"      { value = { "key-with-dash" = 1, plain = "x" } }
output "numbers"     { value = [1.5, 1e3, 0.25] }
output "nulls"       { value = null }
'''

EXPECTED = {
    "arith": 5,
    "modulo": 1,
    "division": 2.5,
    "negate": 7,
    "compare": [True, False, True, True],
    "logic": False,
    "precedence": True,
    "interp": "sg-prod-4",
    "keeps_type": 3,
    "escapes": 'tab\there "quoted" back\\slash ${not} %{not}',
    "unicode": "café",
    "if_directive": "big",
    "for_directive": "[web][db]",
    "conditional": "few",
    "for_list": ["WEB", "DB"],
    "for_if": [20, 40],
    "for_map": {"web": 3, "db": 2},
    "for_index": ["0:web", "1:db"],
    "splat": ["a", "b"],
    "index": 2,
    "heredoc": "hello\n  prod\n",
    "indented_heredoc": "first\n  second\n",
    "concat": ["a", "b", "c"],
    "merge": {"a": 1, "b": 3},
    "lookup": [1, 0],
    "format": "web-007",
    "join": "web,db",
    "split": ["80", "443"],
    "length": [3, 2, 1],
    "distinct": [1, 2, 3],
    "flatten": [1, 2, 3],
    "cidrsubnet": "10.0.2.0/24",
    "cidrsubnet6": "fd00:0:0:5::/64",
    "toset": ["a", "b"],
    "object": {"key-with-dash": 1, "plain": "x"},
    "numbers": [1.5, 1000, 0.25],
    "nulls": None,
}


def test_outputs_match_terraform(tmp_path: Path, capsys) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "main.sg.hcl").write_text(CONFIG)
    state = tmp_path / "live.json"
    state.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [], "Instances": []}))
    result = run_cli(capsys, "plan", config, "--cloud", f"file:{state}", "--json")
    assert result.code == 0, result.err
    outputs = result.json()["planned_values"]["outputs"]
    got = {name: entry.get("value") for name, entry in outputs.items()}
    assert {name: outputs[name]["known"] for name in EXPECTED} == {name: True for name in EXPECTED}
    mismatched = {name: (got.get(name), want) for name, want in EXPECTED.items() if got.get(name) != want}
    assert not mismatched


def test_variable_precedence_through_the_cli(tmp_path: Path, capsys, monkeypatch) -> None:
    """default < env < terraform.tfvars < *.auto.tfvars < --var-file/--var in command-line order."""
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "main.sg.hcl").write_text(
        "".join(f'variable "{v}" {{\n  default = "default"\n}}\noutput "{v}" {{ value = var.{v} }}\n'
                for v in ("a", "b", "c", "d", "e", "f")))
    for v in "bcdef":
        monkeypatch.setenv(f"TF_VAR_{v}", "env")
    (config / "terraform.tfvars").write_text('c = "tfvars"\nd = "tfvars"\ne = "tfvars"\nf = "tfvars"\n')
    (config / "x.auto.tfvars").write_text('d = "auto"\ne = "auto"\nf = "auto"\n')
    (tmp_path / "one.tfvars").write_text('e = "file"\nf = "file"\n')
    state = tmp_path / "live.json"
    state.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [], "Instances": []}))
    result = run_cli(capsys, "plan", config, "--cloud", f"file:{state}", "--json",
                     "--var", "f=flag", "--var-file", tmp_path / "one.tfvars")
    assert result.code == 0, result.err
    outputs = {k: v["value"] for k, v in result.json()["planned_values"]["outputs"].items()}
    # --var-file came after --var on the command line, so it wins for f.
    assert outputs == {"a": "default", "b": "env", "c": "tfvars", "d": "auto", "e": "file", "f": "file"}
