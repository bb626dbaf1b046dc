"""Modules: local paths relative to the caller, nesting, inputs, outputs and prefixed addresses."""

from __future__ import annotations

from sgplan.model import GroupRef
from tests.config.conftest import evaluate_dir

SSH_MODULE = """
variable "allowed_cidrs" { type = list(string) }
variable "port" {
  type    = number
  default = 22
}
security_group "this" {
  name = "ssh-${var.port}"
  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = var.port
    cidr_blocks = var.allowed_cidrs
  }
}
output "id" { value = security_group.this.id }
output "name" { value = security_group.this.name }
"""


def test_local_module_with_outputs(config_dir) -> None:
    d = config_dir(
        {
            "main.sg.hcl": """
module "ssh" {
  source        = "./modules/ssh"
  allowed_cidrs = ["10.0.0.0/8"]
  port          = "2222"
}
binding "b" {
  instance_ids    = ["ins-1"]
  security_groups = [module.ssh.id]
}
output "ssh_name" { value = module.ssh.name }
output "ssh_id" { value = module.ssh.id }
""",
            "modules/ssh/main.sg.hcl": SSH_MODULE,
        }
    )
    desired, messages = evaluate_dir(d)
    assert messages == []
    (group,) = desired.groups
    assert group.address == "module.ssh.security_group.this"
    assert group.name == "ssh-2222" and group.ingress[0].port == "2222"
    assert desired.bindings[0].security_groups == (GroupRef("module.ssh.security_group.this"),)
    outputs = {o.name: o for o in desired.outputs}
    assert outputs["ssh_name"].value == "ssh-2222"
    assert not outputs["ssh_id"].known
    desired, _ = evaluate_dir(d, known_ids={"module.ssh.security_group.this": "sg-abcdef12"})
    assert desired.bindings[0].security_groups == ("sg-abcdef12",)


def test_nested_modules_and_relative_sources(config_dir) -> None:
    d = config_dir(
        {
            "main.sg.hcl": 'module "outer" {\n  source = "./mods/outer"\n  cidr = "10.1.0.0/16"\n}\noutput "o" { value = module.outer.inner_name }\n',
            "mods/outer/main.hcl": 'variable "cidr" {}\nmodule "inner" {\n  source = "../inner"\n  allowed_cidrs = [var.cidr]\n}\noutput "inner_name" { value = module.inner.name }\n',
            "mods/inner/main.hcl": SSH_MODULE,
        }
    )
    desired, messages = evaluate_dir(d)
    assert messages == []
    assert desired.groups[0].address == "module.outer.module.inner.security_group.this"
    assert desired.groups[0].ingress[0].cidr_block == "10.1.0.0/16"
    assert desired.outputs[0].value == "ssh-22"


def test_same_module_called_twice(config_dir) -> None:
    d = config_dir(
        {
            "main.sg.hcl": 'module "a" {\n  source = "./m"\n  allowed_cidrs = ["1.1.1.1"]\n}\nmodule "b" {\n  source = "./m"\n  allowed_cidrs = ["2.2.2.2"]\n}\n',
            "m/main.hcl": SSH_MODULE,
        }
    )
    desired, messages = evaluate_dir(d)
    assert messages == []
    assert [g.address for g in desired.groups] == ["module.a.security_group.this", "module.b.security_group.this"]


def test_unknown_input_is_an_error_at_the_module_block(config_dir) -> None:
    d = config_dir(
        {
            "main.sg.hcl": 'module "ssh" {\n  source = "./m"\n  allowed_cidrs = []\n  colour = "red"\n}\n',
            "m/main.hcl": SSH_MODULE,
        }
    )
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert any(m.startswith(f"{d}/main.sg.hcl:4: ") and 'unknown input "colour"' in m for m in messages), messages


def test_missing_required_input(config_dir) -> None:
    d = config_dir({"main.sg.hcl": 'module "ssh" {\n  source = "./m"\n}\n', "m/main.hcl": SSH_MODULE})
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert f'{d}/main.sg.hcl:1: module "ssh": missing required input "allowed_cidrs"' in messages


def test_errors_inside_a_module_name_its_file(config_dir) -> None:
    d = config_dir(
        {
            "main.sg.hcl": 'module "m" {\n  source = "./m"\n}\n',
            "m/main.hcl": 'security_group "g" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n    port = "0"\n    cidr_block = "1.1.1.1"\n  }\n}\n',
        }
    )
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert any(m.startswith(f"{d}/m/main.hcl:5: port:") for m in messages), messages


def test_bad_sources(config_dir) -> None:
    d = config_dir('module "a" {\n  source = "git::https://x"\n}\nmodule "b" {\n  source = "./missing"\n}\n')
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert any(m.startswith(f"{d}/main.sg.hcl:2: ") and "unsupported source" in m for m in messages)
    assert any(m.startswith(f"{d}/main.sg.hcl:5: ") and "not found" in m for m in messages)


def test_sgplan_block_only_in_root(config_dir) -> None:
    d = config_dir({"main.sg.hcl": 'module "m" {\n  source = "./m"\n}\n', "m/main.hcl": 'sgplan {\n  stack = "x"\n}\n'})
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert any(m.startswith(f"{d}/m/main.hcl:1: ") and "only allowed in the root module" in m for m in messages)


def test_module_output_missing(config_dir) -> None:
    d = config_dir({"main.sg.hcl": 'module "m" {\n  source = "./m"\n}\noutput "x" { value = module.m.nope }\n', "m/main.hcl": "locals {}\n"})
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert any(m.startswith(f"{d}/main.sg.hcl:4: ") and 'has no output "nope"' in m for m in messages), messages
