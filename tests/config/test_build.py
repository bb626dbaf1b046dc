"""Groups, rules, bindings and outputs built from HCL, and every validation rule with its
file:line and attribute."""

from __future__ import annotations

import pytest

from sgplan.model import GroupRef, Rule
from tests.config.conftest import evaluate_dir

FULL = """
sgplan {
  region = "ap-guangzhou"
  stack  = "prod-web"
}

locals { web_ports = "443,80" }

security_group "web" {
  name        = "web-prod"
  description = "public web tier"
  project_id  = 3
  tags        = { team = "web" }
  ignore_findings = ["ssh-open-to-internet"]

  ingress {
    action      = "accept"
    protocol    = "tcp"
    port        = local.web_ports
    cidr_block  = "0.0.0.0/0"
    description = "HTTP and HTTPS"
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = 22
    security_group_id = security_group.bastion.id
  }
  egress {
    action      = "DROP"
    protocol    = "ALL"
    cidr_blocks = ["10.0.0.0/8", "192.168.1.7"]
  }
  egress {
    action           = "ACCEPT"
    protocol         = "ICMPv6"
    ipv6_cidr_blocks = []
  }
}

security_group "bastion" {}

binding "web_servers" {
  instance_ids    = ["ins-aaaa1111", "ins-bbbb2222"]
  security_groups = [security_group.web.id, security_group.bastion.id, "sg-external1"]
}

output "web_id" { value = security_group.web.id }
output "web_name" { value = security_group.web.name }
output "ids" { value = [security_group.web.id] }
"""


def test_full_example(config_dir) -> None:
    desired, messages = evaluate_dir(config_dir(FULL))
    assert messages == []
    assert desired.settings.region == "ap-guangzhou" and desired.settings.stack == "prod-web"
    web, bastion = desired.groups
    assert (web.address, web.name, web.description, web.project_id) == ("security_group.web", "web-prod", "public web tier", "3")
    assert web.tags == (("team", "web"),)
    assert web.ignore_findings == ("ssh-open-to-internet",)
    assert web.ingress[0] == Rule(action="ACCEPT", protocol="TCP", port="80,443", cidr_block="0.0.0.0/0", description="HTTP and HTTPS")
    assert web.ingress[0].origin.line == 16
    assert web.ingress[1].security_group_id == GroupRef("security_group.bastion")
    assert [r.cidr_block for r in web.egress] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert all(r.origin.line == 29 for r in web.egress)
    assert bastion.name == "bastion" and bastion.project_id == "0"
    assert [b.instance_id for b in desired.bindings] == ["ins-aaaa1111", "ins-bbbb2222"]
    assert desired.bindings[0].security_groups == (GroupRef("security_group.web"), GroupRef("security_group.bastion"), "sg-external1")
    assert desired.bindings[0].address == "binding.web_servers"
    outputs = {o.name: o for o in desired.outputs}
    assert not outputs["web_id"].known and outputs["web_id"].value is None
    assert outputs["web_name"].known and outputs["web_name"].value == "web-prod"
    assert not outputs["ids"].known


def test_known_ids_resolve_references(config_dir) -> None:
    desired, _ = evaluate_dir(config_dir(FULL), known_ids={"security_group.web": "sg-aaaa1111", "security_group.bastion": "sg-bbbb2222"})
    web = desired.groups[0]
    assert web.ingress[1].security_group_id == "sg-bbbb2222"
    assert desired.bindings[0].security_groups == ("sg-aaaa1111", "sg-bbbb2222", "sg-external1")
    assert {o.name: o.value for o in desired.outputs}["web_id"] == "sg-aaaa1111"


def test_pinned_id_is_known(config_dir) -> None:
    d = config_dir('security_group "old" {\n  id = "sg-12345678"\n}\noutput "o" { value = security_group.old.id }\n')
    desired, _ = evaluate_dir(d)
    assert desired.groups[0].id == "sg-12345678"
    assert desired.outputs[0].value == "sg-12345678" and desired.outputs[0].known


def test_dynamic_blocks(config_dir) -> None:
    d = config_dir(
        """variable "open" {
  default = { ssh = 22, web = 80 }
}
security_group "g" {
  dynamic "ingress" {
    for_each = var.open
    content {
      action      = "ACCEPT"
      protocol    = "TCP"
      port        = ingress.value
      cidr_block  = "10.0.0.0/8"
      description = ingress.key
    }
  }
  dynamic "egress" {
    for_each = ["1.1.1.1", "8.8.8.8"]
    iterator = dst
    content {
      action     = "ACCEPT"
      protocol   = "UDP"
      port       = "53"
      cidr_block = "${dst.value}/32"
    }
  }
}
"""
    )
    desired, messages = evaluate_dir(d)
    assert messages == []
    g = desired.groups[0]
    assert [(r.port, r.description) for r in g.ingress] == [("22", "ssh"), ("80", "web")]
    assert [r.cidr_block for r in g.egress] == ["1.1.1.1/32", "8.8.8.8/32"]


def _rule(body: str) -> str:
    return 'security_group "g" {\n  ingress {\n' + body + "\n  }\n}\n"


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ('    protocol = "TCP"\n    cidr_block = "10.0.0.0/8"', 2, '"action"'),
        ('    action = "ALLOW"\n    protocol = "TCP"\n    cidr_block = "1.1.1.1"', 3, "action: action must be ACCEPT or DROP"),
        ('    action = "ACCEPT"\n    protocol = "TCPX"\n    cidr_block = "1.1.1.1"', 4, "protocol: protocol must be one of"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    port = "70000"\n    cidr_block = "1.1.1.1"', 5, "port: invalid port"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    port = "2x"\n    cidr_block = "1.1.1.1"', 5, "port: invalid port"),
        ('    action = "ACCEPT"\n    protocol = "ICMP"\n    port = "22"\n    cidr_block = "1.1.1.1"', 5, "port: port is only valid with TCP or UDP"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    cidr_block = "10.0.0.300/8"', 5, "cidr_block: '10.0.0.300/8' is not a valid IPv4"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    cidr_block = "::/0"', 5, "cidr_block: '::/0' is an IPv6 network"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    ipv6_cidr_block = "10.0.0.0/8"', 5, "ipv6_cidr_block: '10.0.0.0/8' is an IPv4"),
        ('    action = "ACCEPT"\n    protocol = "ICMP"\n    ipv6_cidr_block = "::/0"', 4, "protocol: ICMP needs an IPv4 source"),
        ('    action = "ACCEPT"\n    protocol = "ICMPv6"\n    cidr_block = "0.0.0.0/0"', 4, "protocol: ICMPv6 needs an IPv6 source"),
        ('    action = "ACCEPT"\n    protocol = "TCP"', 2, "exactly one source"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    cidr_block = "1.1.1.1"\n    ipv6_cidr_block = "::1"', 6, "exactly one source"),
        ('    action = "ACCEPT"\n    cidr_block = "1.1.1.1"', 2, 'needs "protocol"'),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    service_template_id = "ppm-1"\n    cidr_block = "1.1.1.1"', 4, "protocol: cannot be combined with a service template"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    cidr_block = ["1.1.1.1"]', 5, "cidr_block: a string is required, not a list"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    cidr_blocks = "1.1.1.1"', 5, "cidr_blocks: a list of strings is required"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    security_group_id = "group-1"', 5, "does not look like a security group id"),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    cidr_block = var.nope', 5, 'cidr_block: unknown variable "nope"'),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    cidr_block = local.nope', 5, 'unknown local "nope"'),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    security_group_id = security_group.nope.id', 5, 'security_group_id: unknown security_group "nope"'),
        ('    action = "ACCEPT"\n    protocol = "TCP"\n    cidr_block = module.nope.x', 5, 'unknown module "nope"'),
    ],
)
def test_rule_validation(config_dir, body: str, line: int, fragment: str) -> None:
    d = config_dir(_rule(body))
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert any(m.startswith(f"{d}/main.sg.hcl:{line}: ") and fragment in m for m in messages), messages


def test_zero_network_warns(config_dir) -> None:
    d = config_dir(_rule('    action = "ACCEPT"\n    protocol = "ALL"\n    cidr_block = "0.0.0.0/8"'))
    desired, messages = evaluate_dir(d)
    assert desired is not None and desired.groups[0].ingress[0].cidr_block == "0.0.0.0/0"
    assert any(m.startswith(f"{d}/main.sg.hcl:5: warning: cidr_block:") and "stored as 0.0.0.0/0" in m for m in messages)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('security_group "g" {\n  name = "' + "n" * 61 + '"\n}\n', 2, "name: 61 characters"),
        ('security_group "g" {\n  description = "' + "d" * 101 + '"\n}\n', 2, "description: 101 characters"),
        ('security_group "g" {\n  id = "12345678"\n}\n', 2, "id: \"12345678\" does not look like"),
        ('security_group "g" {\n  tags = ["a"]\n}\n', 2, "tags: a map of strings is required"),
        ('security_group "a" {\n  id = "sg-11111111"\n}\nsecurity_group "b" {\n  id = "sg-11111111"\n}\n', 4, "already pinned"),
        (
            'security_group "g" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n    port = "22"\n    cidr_block = "1.1.1.1"\n  }\n'
            '  ingress {\n    action = "ACCEPT"\n    protocol = "tcp"\n    port = 22\n    cidr_block = "1.1.1.1/32"\n  }\n}\n',
            8,
            "duplicate ingress rule",
        ),
        (
            'security_group "g" {\n  dynamic "egress" {\n    for_each = range(101)\n    content {\n      action = "ACCEPT"\n      protocol = "TCP"\n'
            '      port = egress.value + 1\n      cidr_block = "1.1.1.1"\n    }\n  }\n}\n',
            1,
            "101 egress rules, more than the quota of 100",
        ),
        ('binding "b" {\n  instance_ids = ["i-1"]\n  security_groups = []\n}\n', 2, 'instance_ids: "i-1" does not look like an instance id'),
        ('binding "b" {\n  instance_ids = ["ins-1"]\n  security_groups = ["x"]\n}\n', 3, 'security_groups: "x" does not look like'),
        ('binding "b" {\n  instance_ids = ["ins-1"]\n  security_groups = ["sg-1", "sg-1"]\n}\n', 3, "listed twice"),
        (
            'binding "a" {\n  instance_ids = ["ins-1"]\n  security_groups = ["sg-1"]\n}\nbinding "b" {\n  instance_ids = ["ins-1"]\n  security_groups = ["sg-2"]\n}\n',
            6,
            "instance_ids: ins-1 is already bound by binding.a",
        ),
        ('binding "b" {\n  instance_ids = ["ins-1"]\n  security_groups = ["sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"]\n}\n', 3, "security_groups: 6 groups, an instance can carry at most 5"),
        ('binding "b" {\n  instance_ids = "ins-1"\n  security_groups = ["sg-1"]\n}\n', 2, "instance_ids: a list of instance ids is required"),
        ('locals {\n  a = local.b\n  b = local.a\n}\n', 2, "cycle"),
        ('locals {\n  unused = nosuch\n}\n', 2, 'unused: unknown variable "nosuch"'),
        ('sgplan {\n  region = 5\n}\n', 2, "region: a string is required"),
        ('security_group "g" {\n  description = "${security_group.h.id}"\n}\nsecurity_group "h" {}\n', 2, "not known until apply"),
    ],
)
def test_group_and_binding_validation(config_dir, text: str, line: int, fragment: str) -> None:
    d = config_dir(text)
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert any(m.startswith(f"{d}/main.sg.hcl:{line}: ") and fragment in m for m in messages), messages


def test_binding_groups_across_bindings_ok(config_dir) -> None:
    d = config_dir('binding "a" {\n  instance_ids = ["ins-1", "ins-2"]\n  security_groups = ["sg-1"]\n}\n')
    desired, messages = evaluate_dir(d)
    assert messages == [] and len(desired.bindings) == 2


def test_rules_that_differ_only_in_description_are_distinct(config_dir) -> None:
    """The API keeps them apart (issue 13; terraform-provider-tencentcloud's acceptance test
    creates two such rules), so sgplan does not call them duplicates."""
    rule = '  ingress {{\n    action = "ACCEPT"\n    protocol = "TCP"\n    port = "22"\n    cidr_block = "1.1.1.1"\n    description = "{}"\n  }}\n'
    d = config_dir('security_group "g" {\n' + rule.format("a") + rule.format("b") + "}\n")
    desired, messages = evaluate_dir(d)
    assert messages == [] and len(desired.groups[0].ingress) == 2


def test_host_bits_warn_with_the_network_they_mean(config_dir) -> None:
    d = config_dir(_rule('    action = "ACCEPT"\n    protocol = "TCP"\n    port = "22"\n    cidr_block = "10.0.0.5/24"'))
    desired, messages = evaluate_dir(d)
    assert desired is not None and desired.groups[0].ingress[0].cidr_block == "10.0.0.0/24"
    assert any("has host bits set: it is the network 10.0.0.0/24 (write 10.0.0.5/32" in m for m in messages)
    d2 = config_dir(_rule('    action = "ACCEPT"\n    protocol = "TCP"\n    port = "22"\n    cidr_block = "10.0.0.0/24"'))
    assert not any("host bits" in m for m in evaluate_dir(d2)[1])
