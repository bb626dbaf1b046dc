"""`for_each` and `count` on security_group and binding blocks (DESIGN §2, issue 14
"Meta-arguments"): expansion ordered by key, each.key / each.value / count.index, the indexed
addresses and references to them, and one-line `file:line` errors."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from sgplan.model import GroupRef
from tests.config.conftest import evaluate_dir

RULE = """  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = PORT
    cidr_block = "0.0.0.0/0"
  }
"""


def test_for_each_map_orders_by_key_with_each_key_and_value(config_dir: Callable[..., Path]) -> None:
    text = ('security_group "tier" {\n  for_each = { web = "80", api = "8080" }\n'
            '  description = "tier ${each.key}"\n' + RULE.replace("PORT", "each.value") + "}\n")
    desired, diags = evaluate_dir(config_dir(text))
    assert diags == []
    assert [g.address for g in desired.groups] == ['security_group.tier["api"]', 'security_group.tier["web"]']
    assert [g.name for g in desired.groups] == ["tier-api", "tier-web"]  # default name: label-key
    assert [g.description for g in desired.groups] == ["tier api", "tier web"]
    assert [g.ingress[0].port for g in desired.groups] == ["8080", "80"]


def test_for_each_set_of_strings_and_count(config_dir: Callable[..., Path]) -> None:
    text = ('security_group "s" {\n  for_each = toset(["b", "a", "b"])\n  name = "s-${each.value}"\n}\n'
            'security_group "n" {\n  count = 3\n  name = "n-${count.index}"\n}\n'
            'security_group "none" {\n  count = 0\n}\n')
    desired, diags = evaluate_dir(config_dir(text))
    assert diags == []
    assert [g.address for g in desired.groups] == [
        'security_group.s["a"]', 'security_group.s["b"]',
        "security_group.n[0]", "security_group.n[1]", "security_group.n[2]"]
    assert [g.name for g in desired.groups] == ["s-a", "s-b", "n-0", "n-1", "n-2"]


def test_references_to_expanded_groups_and_expanded_bindings(config_dir: Callable[..., Path]) -> None:
    text = ('security_group "tier" {\n  for_each = toset(["api", "web"])\n}\n'
            'security_group "n" {\n  count = 2\n}\n'
            'binding "b" {\n  for_each = { "ins-aaaa1111" = "web", "ins-bbbb2222" = "api" }\n'
            '  instance_ids    = [each.key]\n'
            '  security_groups = [security_group.tier[each.value].id, security_group.n[1].id]\n}\n'
            'output "ids" { value = [for k, g in security_group.tier : g.name] }\n'
            'output "count" { value = length(security_group.n) }\n')
    desired, diags = evaluate_dir(config_dir(text))
    assert diags == []
    assert [(b.address, b.instance_id, b.security_groups) for b in desired.bindings] == [
        ('binding.b["ins-aaaa1111"]', "ins-aaaa1111",
         (GroupRef('security_group.tier["web"]'), GroupRef("security_group.n[1]"))),
        ('binding.b["ins-bbbb2222"]', "ins-bbbb2222",
         (GroupRef('security_group.tier["api"]'), GroupRef("security_group.n[1]"))),
    ]
    outputs = {o.name: o.value for o in desired.outputs}
    assert outputs == {"ids": ["tier-api", "tier-web"], "count": 2}


def test_known_ids_resolve_indexed_addresses(config_dir: Callable[..., Path]) -> None:
    text = ('security_group "n" {\n  count = 1\n}\n'
            'binding "b" {\n  instance_ids = ["ins-aaaa1111"]\n  security_groups = [security_group.n[0].id]\n}\n')
    desired, diags = evaluate_dir(config_dir(text), {"security_group.n[0]": "sg-1234abcd"})
    assert diags == []
    assert desired.bindings[0].security_groups == ("sg-1234abcd",)


@pytest.mark.parametrize(
    "body, line, message",
    [
        ('security_group "g" {\n  for_each = "x"\n}\n', 2, "for_each: a map, or a set of strings, is required, not a string"),
        ('security_group "g" {\n  for_each = [1, 2]\n}\n', 2, "for_each: a map, or a set of strings, is required; this list holds a number"),
        ('security_group "g" {\n  for_each = ["a", "a"]\n}\n', 2, 'for_each: duplicate key "a"'),
        ('security_group "g" {\n  count = 1\n  for_each = toset(["a"])\n}\n', 2, '"count" and "for_each" cannot both be set'),
        ('security_group "g" {\n  count = -1\n}\n', 2, "count: a whole number ≥ 0 is required"),
        ('security_group "g" {\n  count = 1.5\n}\n', 2, "count: a whole number ≥ 0 is required"),
        ('security_group "g" {\n  count = "x"\n}\n', 2, "count: a whole number ≥ 0 is required"),
        ('security_group "g" {\n  count = 1001\n}\n', 2, "count: 1001 instances, at most 1000"),
        ('security_group "a" {}\nsecurity_group "g" {\n  for_each = toset([security_group.a.id])\n}\n', 3,
         "for_each: value is not known until apply"),
        ('security_group "g" {\n  name = each.key\n}\n', 2, "each"),
        ('security_group "g" {\n  count = 1\n}\noutput "o" { value = security_group.g["x"].id }\n', 4, ""),
        ('binding "b" {\n  for_each = 3\n  instance_ids = ["ins-aaaa1111"]\n  security_groups = []\n}\n', 2,
         "for_each: a map, or a set of strings, is required, not a number"),
    ],
    ids=["string", "list-of-numbers", "duplicate-keys", "both", "negative-count", "fractional-count",
         "string-count", "too-many", "unknown-keys", "each-outside", "bad-index", "binding-number"],
)
def test_meta_argument_errors_are_one_line_with_file_and_line(
        config_dir: Callable[..., Path], body: str, line: int, message: str) -> None:
    desired, diags = evaluate_dir(config_dir(body))
    assert desired is None
    assert diags, "an error is expected"
    assert any(d.startswith(f"main.sg.hcl:{line}:") or f"main.sg.hcl:{line}:" in d for d in diags), diags
    assert any(message in d for d in diags), diags
    assert all("\n" not in d for d in diags)


# -- moved blocks ---------------------------------------------------------------------------------


def test_moved_blocks_give_prefixed_address_pairs(config_dir: Callable[..., Path]) -> None:
    files = {
        "main.sg.hcl": ('security_group "web" {\n  for_each = toset(["a"])\n}\n'
                        'module "m" {\n  source = "./mod"\n}\n'
                        'moved {\n  from = security_group.old\n  to   = security_group.web["a"]\n}\n'
                        'moved {\n  from = security_group.other[0]\n  to   = module.m.security_group.this\n}\n'),
        "mod/main.sg.hcl": ('security_group "this" {}\nsecurity_group "new" {}\n'
                            'moved {\n  from = security_group.before\n  to   = security_group.new\n}\n'),
    }
    desired, diags = evaluate_dir(config_dir(files))
    assert diags == []
    assert desired.moves == (
        ("security_group.old", 'security_group.web["a"]'),
        ("security_group.other[0]", "module.m.security_group.this"),
        ("module.m.security_group.before", "module.m.security_group.new"),
    )


@pytest.mark.parametrize(
    "body, line, message",
    [
        ('moved {\n  from = security_group.a\n  to = security_group.a\n}\nsecurity_group "a" {}\n', 2,
         "from and to are the same address"),
        ('security_group "a" {}\nsecurity_group "b" {}\nmoved {\n  from = security_group.a\n  to = security_group.b\n}\n', 4,
         "security_group.a is still declared"),
        ('moved {\n  from = security_group.a\n  to = security_group.b\n}\n', 3, "security_group.b is not declared"),
        ('security_group "b" {}\nmoved {\n  from = "security_group.a"\n  to = security_group.b\n}\n', 3,
         "from: must be a security group address"),
        ('security_group "b" {}\nmoved {\n  from = binding.a\n  to = security_group.b\n}\n', 3,
         "from: must be a security group address"),
        ('security_group "b" {}\nsecurity_group "c" {}\nmoved {\n  from = security_group.a\n  to = security_group.b\n}\n'
         'moved {\n  from = security_group.a\n  to = security_group.c\n}\n', 8, "security_group.a is moved twice"),
        ('security_group "b" {}\nmoved {\n  from = security_group.a\n  to = security_group.b\n}\n'
         'moved {\n  from = security_group.z\n  to = security_group.b\n}\n', 8, "more than one moved block"),
        ('security_group "b" {}\nmoved {\n  from = security_group.a\n}\n', 2, 'missing the required attribute "to"'),
    ],
    ids=["same", "from-declared", "to-undeclared", "string", "not-a-group", "moved-twice", "two-to-one", "no-to"],
)
def test_moved_errors_are_one_line_with_file_and_line(
        config_dir: Callable[..., Path], body: str, line: int, message: str) -> None:
    desired, diags = evaluate_dir(config_dir(body))
    assert desired is None
    assert any(f"main.sg.hcl:{line}:" in d and message in d for d in diags), diags
    assert all("\n" not in d for d in diags)


# -- module blocks ---------------------------------------------------------------------------------

MODULE = ('variable "cidr" {}\nsecurity_group "this" {\n  description = var.cidr\n}\n'
          'output "id" { value = security_group.this.id }\n')


def test_for_each_and_count_on_modules(config_dir: Callable[..., Path]) -> None:
    files = {
        "main.sg.hcl": ('module "ssh" {\n  for_each = { prod = "10.0.0.0/8", dev = "192.168.0.0/16" }\n'
                        '  source = "./mod"\n  cidr = each.value\n}\n'
                        'module "n" {\n  count = 2\n  source = "./mod"\n  cidr = "n${count.index}"\n}\n'
                        'binding "b" {\n  instance_ids = ["ins-aaaa1111"]\n'
                        '  security_groups = [module.ssh["prod"].id, module.n[1].id]\n}\n'
                        'output "keys" { value = keys(module.ssh) }\n'),
        "mod/main.sg.hcl": MODULE,
    }
    desired, diags = evaluate_dir(config_dir(files))
    assert diags == []
    assert [(g.address, g.description) for g in desired.groups] == [
        ('module.ssh["dev"].security_group.this', "192.168.0.0/16"),
        ('module.ssh["prod"].security_group.this', "10.0.0.0/8"),
        ("module.n[0].security_group.this", "n0"),
        ("module.n[1].security_group.this", "n1"),
    ]
    assert desired.bindings[0].security_groups == (GroupRef('module.ssh["prod"].security_group.this'),
                                                   GroupRef("module.n[1].security_group.this"))
    assert {o.name: o.value for o in desired.outputs}["keys"] == ["dev", "prod"]


@pytest.mark.parametrize(
    "main, line, message",
    [
        ('module "m" {\n  for_each = "x"\n  source = "./mod"\n  cidr = "a"\n}\n', 2,
         "for_each: a map, or a set of strings, is required, not a string"),
        ('module "m" {\n  count = 1\n  for_each = toset(["a"])\n  source = "./mod"\n  cidr = "a"\n}\n', 2,
         '"count" and "for_each" cannot both be set'),
        ('module "m" {\n  for_each = toset(["a"])\n  source = "./mod"\n  cidr = "a"\n}\n'
         'output "o" { value = module.m["b"].id }\n', 6, 'no key "b"'),
    ],
    ids=["string", "both", "unknown-key"],
)
def test_module_meta_argument_errors(config_dir: Callable[..., Path], main: str, line: int, message: str) -> None:
    desired, diags = evaluate_dir(config_dir({"main.sg.hcl": main, "mod/main.sg.hcl": MODULE}))
    assert desired is None
    assert any(f"main.sg.hcl:{line}:" in d and message in d for d in diags), diags


def test_the_module_instance_limit_counts_expanded_instances(config_dir: Callable[..., Path]) -> None:
    files = {
        "main.sg.hcl": 'module "outer" {\n  count = 1000\n  source = "./outer"\n}\n',
        "outer/main.sg.hcl": 'module "inner" {\n  count = 5\n  source = "../inner"\n}\n',
        "inner/main.sg.hcl": "",
    }
    desired, diags = evaluate_dir(config_dir(files))
    assert desired is None
    assert any("module limit" in d for d in diags), diags[:3]


# -- moved: chains (issue 14, Terraform's chained moved blocks) ---------------------------------------


def test_chained_moves_resolve_to_the_declared_end(config_dir: Callable[..., Path]) -> None:
    files = {
        "main.sg.hcl": ('security_group "c" {}\nmodule "m" {\n  for_each = toset(["k"])\n  source = "./mod"\n}\n'
                        'moved {\n  from = security_group.a\n  to   = security_group.b\n}\n'
                        'moved {\n  from = security_group.b\n  to   = security_group.c\n}\n'
                        'moved {\n  from = security_group.x[0]\n  to   = security_group.y["one"]\n}\n'
                        'moved {\n  from = security_group.y["one"]\n  to   = module.m["k"].security_group.old\n}\n'),
        "mod/main.sg.hcl": ('security_group "this" {}\n'
                            'moved {\n  from = security_group.old\n  to   = security_group.this\n}\n'),
    }
    desired, diags = evaluate_dir(config_dir(files))
    assert diags == []
    assert desired.moves == (
        ("security_group.a", "security_group.c"),
        ("security_group.b", "security_group.c"),
        ("security_group.x[0]", 'module.m["k"].security_group.this'),
        ('security_group.y["one"]', 'module.m["k"].security_group.this'),
        ('module.m["k"].security_group.old', 'module.m["k"].security_group.this'),
    )
    # Each move remembers its block's line (the plan's errors point there).
    assert [m.origin.line for m in desired.moves[:2]] == [7, 11]


@pytest.mark.parametrize(
    "body, line, message",
    [
        ('security_group "c" {}\nmoved {\n  from = security_group.a\n  to = security_group.b\n}\n'
         'moved {\n  from = security_group.b\n  to = security_group.a\n}\n', 3, "cycle (security_group.a → security_group.b → security_group.a)"),
        ('security_group "c" {}\nmoved {\n  from = security_group.a\n  to = security_group.b\n}\n'
         'moved {\n  from = security_group.b\n  to = security_group.d\n}\n', 8, "security_group.d is not declared"),
        ('address_template "t" {\n  addresses = ["10.0.0.1"]\n}\nmoved {\n  from = address_template.s\n'
         '  to = address_template.t\n}\n', 5, "moved blocks move security groups only"),
    ],
    ids=["cycle", "chain-to-nowhere", "template"],
)
def test_moved_chain_errors(config_dir: Callable[..., Path], body: str, line: int, message: str) -> None:
    desired, diags = evaluate_dir(config_dir(body))
    assert desired is None
    assert [d for d in diags if f"main.sg.hcl:{line}:" in d and message in d], diags
    assert len([d for d in diags if "moved:" in d]) <= 1  # one problem, one line
