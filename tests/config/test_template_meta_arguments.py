"""for_each / count on the four parameter-template blocks (issue 14 "Meta-arguments", DESIGN §2:
"and the template blocks"): one template per key, ordered as Terraform orders keys, with
each.key / each.value / count.index, keyed addresses and references to them, templates inside
(expanded) modules, and one-line `file:line` errors. Also: instance.py ↔ template_blocks.py
import one way only."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable

import pytest

import sgplan.config
from sgplan.config.instance import MAX_EXPANSION
from sgplan.config.shared import resource_type
from sgplan.model import GroupRef
from tests.config.conftest import evaluate_dir

MAIN = '''address_template "office" {
  for_each  = { hq = ["203.0.113.0/24"], "branch.1" = ["198.51.100.7", "198.51.100.8"] }
  addresses = each.value
}
address_template "net" {
  count     = 2
  name      = "net-${count.index}"
  addresses = ["10.0.${count.index}.0/24"]
}
address_template_group "admins" {
  template_ids = [address_template.office["hq"].id, address_template.net[1].id]
}
service_template "svc" {
  for_each = toset(["80", "443"])
  services = ["tcp:${each.key}"]
}
service_template_group "all" {
  for_each     = { web = ["443", "80"], tls = ["443"] }
  name         = "svc-${each.key}"
  template_ids = [for port in each.value : service_template.svc[port].id]
}
security_group "ssh" {
  ingress {
    action              = "ACCEPT"
    protocol            = "TCP"
    port                = "22"
    address_template_id = address_template.office["branch.1"].id
  }
  ingress {
    action                    = "ACCEPT"
    service_template_group_id = service_template_group.all["tls"].id
    address_template_group_id = address_template_group.admins.id
  }
}
output "office_names" { value = { for k, t in address_template.office : k => t.name } }
output "net_names" { value = address_template.net[*].name }
'''


def test_for_each_and_count_on_templates_give_keyed_templates_in_key_order(config_dir: Callable[..., Path]) -> None:
    desired, diags = evaluate_dir(config_dir(MAIN))
    assert diags == []
    assert [(t.address, t.name, t.members) for t in desired.templates] == [
        ('address_template.office["branch.1"]', "office-branch.1", ("198.51.100.7", "198.51.100.8")),
        ('address_template.office["hq"]', "office-hq", ("203.0.113.0/24",)),  # sorted by key, as Terraform
        ("address_template.net[0]", "net-0", ("10.0.0.0/24",)),
        ("address_template.net[1]", "net-1", ("10.0.1.0/24",)),
        ("address_template_group.admins", "admins",
         (GroupRef('address_template.office["hq"]'), GroupRef("address_template.net[1]"))),
        ('service_template.svc["443"]', "svc-443", ("tcp:443",)),
        ('service_template.svc["80"]', "svc-80", ("tcp:80",)),
        ('service_template_group.all["tls"]', "svc-tls", (GroupRef('service_template.svc["443"]'),)),
        ('service_template_group.all["web"]', "svc-web",
         (GroupRef('service_template.svc["443"]'), GroupRef('service_template.svc["80"]'))),
    ]
    [ssh] = desired.groups
    assert ssh.ingress[0].address_template_id == GroupRef('address_template.office["branch.1"]')
    assert ssh.ingress[1].service_template_group_id == GroupRef('service_template_group.all["tls"]')
    assert ssh.ingress[1].address_template_group_id == GroupRef("address_template_group.admins")
    outputs = {o.name: o.value for o in desired.outputs}
    assert outputs == {"office_names": {"branch.1": "office-branch.1", "hq": "office-hq"},
                       "net_names": ["net-0", "net-1"]}


def test_pinned_expanded_templates_resolve_to_their_ids(config_dir: Callable[..., Path]) -> None:
    text = ('address_template "p" {\n  for_each  = { a = "ipm-aaaa1111", b = "ipm-bbbb2222" }\n'
            '  id        = each.value\n  addresses = ["10.0.0.1"]\n}\n'
            'address_template_group "g" {\n  template_ids = [for t in address_template.p : t.id]\n}\n')
    desired, diags = evaluate_dir(config_dir(text))
    assert diags == []
    assert [(t.address, t.id) for t in desired.templates[:2]] == [
        ('address_template.p["a"]', "ipm-aaaa1111"), ('address_template.p["b"]', "ipm-bbbb2222")]
    assert desired.templates[2].members == ("ipm-aaaa1111", "ipm-bbbb2222")


def test_templates_in_expanded_modules_have_module_qualified_addresses(config_dir: Callable[..., Path]) -> None:
    files = {
        "main.sg.hcl": ('module "site" {\n  for_each = { east = "10.1.0.0/16", west = "10.2.0.0/16" }\n'
                        '  source = "./mod"\n  cidr   = each.value\n}\n'
                        'security_group "ssh" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n'
                        '    port = "22"\n    address_template_id = module.site["west"].office_ids["b"]\n  }\n}\n'),
        "mod/main.sg.hcl": ('variable "cidr" {}\n'
                            'address_template "office" {\n  for_each = toset(["a", "b"])\n'
                            '  addresses = [cidrsubnet(var.cidr, 8, each.key == "a" ? 1 : 2)]\n}\n'
                            'address_template_group "all" {\n  template_ids = [for t in address_template.office : t.id]\n}\n'
                            'output "office_ids" { value = { for k, t in address_template.office : k => t.id } }\n'),
    }
    desired, diags = evaluate_dir(config_dir(files))
    assert diags == []
    assert [(t.address, t.members) for t in desired.templates] == [
        ('module.site["east"].address_template.office["a"]', ("10.1.1.0/24",)),
        ('module.site["east"].address_template.office["b"]', ("10.1.2.0/24",)),
        ('module.site["east"].address_template_group.all',
         (GroupRef('module.site["east"].address_template.office["a"]'),
          GroupRef('module.site["east"].address_template.office["b"]'))),
        ('module.site["west"].address_template.office["a"]', ("10.2.1.0/24",)),
        ('module.site["west"].address_template.office["b"]', ("10.2.2.0/24",)),
        ('module.site["west"].address_template_group.all',
         (GroupRef('module.site["west"].address_template.office["a"]'),
          GroupRef('module.site["west"].address_template.office["b"]'))),
    ]
    assert desired.groups[0].ingress[0].address_template_id == GroupRef(
        'module.site["west"].address_template.office["b"]')


def test_template_count_zero_and_empty_for_each_declare_nothing(config_dir: Callable[..., Path]) -> None:
    text = ('address_template "a" {\n  count = 0\n  addresses = ["10.0.0.1"]\n}\n'
            'service_template "s" {\n  for_each = {}\n  services = ["tcp:80"]\n}\n'
            'security_group "g" {}\n')
    desired, diags = evaluate_dir(config_dir(text))
    assert diags == []
    assert desired.templates == ()


@pytest.mark.parametrize(
    "body, line, message",
    [
        ('address_template "a" {\n  count = 2\n  for_each = toset(["x"])\n  addresses = ["10.0.0.1"]\n}\n', 2,
         '"count" and "for_each" cannot both be set'),
        ('address_template "a" {\n  count = -1\n  addresses = ["10.0.0.1"]\n}\n', 2, "count: a whole number"),
        ('service_template "s" {\n  for_each = "tcp:80"\n  services = ["tcp:80"]\n}\n', 2,
         "for_each: a map, or a set of strings, is required"),
        (f'address_template "a" {{\n  count = {MAX_EXPANSION + 1}\n  addresses = ["10.0.0.1"]\n}}\n', 2,
         f"at most {MAX_EXPANSION} are allowed"),
        ('address_template "a" {\n  addresses = [each.key]\n}\n', 2, 'unknown variable "each"'),
        ('address_template "a" {\n  for_each = toset(["x"])\n  addresses = ["10.0.0.1"]\n}\n'
         'address_template_group "g" {\n  template_ids = [address_template.a["y"].id]\n}\n', 6, '"y"'),
        ('address_template "a" {\n  for_each = toset(["x"])\n  addresses = [each.value, "nope"]\n}\n', 3,
         "element 1: 'nope' is not an IP address"),
        ('service_template "s" {\n  count = 1\n  services = ["tcp:80"]\n}\n'
         'security_group "g" {\n  ingress {\n    action = "ACCEPT"\n    address_template_id = service_template.s[0].id\n'
         '    cidr_block = "1.2.3.4"\n  }\n}\n', 8, "is the id of a service_template, not of an address_template"),
    ],
    ids=["both", "negative", "string", "too-many", "each-outside", "missing-key", "bad-member", "wrong-kind"],
)
def test_template_meta_argument_errors_are_one_line_with_file_and_line(
        config_dir: Callable[..., Path], body: str, line: int, message: str) -> None:
    desired, diags = evaluate_dir(config_dir(body))
    assert desired is None
    assert any(f"main.sg.hcl:{line}:" in d and message in d for d in diags), diags
    assert all("\n" not in d for d in diags)


def test_resource_type_reads_addresses_from_their_end() -> None:
    assert resource_type('module.m["a.b"].address_template.x["1.2.3.4"]') == "address_template"
    assert resource_type('service_template_group.g[3]') == "service_template_group"
    assert resource_type('address_template.x["a\\"b.c"]') == "address_template"
    assert resource_type("module.m.security_group.web") == "security_group"
    assert resource_type("not an address") is None


def _imports(module: str) -> set[str]:
    """Every sgplan module `module` imports, at any depth of its code (functions included)."""
    path = Path(sgplan.config.__file__).parent / f"{module.rsplit('.', 1)[1]}.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_instance_and_template_blocks_import_one_way() -> None:
    assert "sgplan.config.template_blocks" in _imports("sgplan.config.instance")
    assert "sgplan.config.instance" not in _imports("sgplan.config.template_blocks")
    assert "sgplan.config.instance" not in _imports("sgplan.config.shared")
    assert "sgplan.config.template_blocks" not in _imports("sgplan.config.shared")
