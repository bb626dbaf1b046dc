"""The schema check (config/schema.py) of nested blocks: a fine rule block is told in its
parent's loop (Spec.leaf), every other shape still gets its message, in file order."""

from __future__ import annotations

from sgplan.config import load_configuration
from sgplan.config.schema import TOP_LEVEL, _DYNAMIC, _RULE

NESTED = """\
sgplan { stack = "s" }
security_group "a" {
  name = "a"
  ingress "x" {
    action = "ACCEPT"
    protocol = "ALL"
    cidr_block = "10.0.0.0/8"
  }
  egress {
    action = "ACCEPT"
    protocol = "ALL"
    cidr_block = "10.0.0.0/8"
    inner {
      a = 1
    }
  }
  ingress {
    action = "ACCEPT"
    protocol = "ALL"
    cidr_block = "10.0.0.0/8"
    bogus = 1
  }
  widget {
    a = 1
  }
  dynamic "ingress" {
    for_each = ["a"]
    content {
      action = "ACCEPT"
      protocol = "ALL"
      cidr_block = "10.0.0.0/8"
    }
    content {
      action = "DROP"
      protocol = "ALL"
      cidr_block = "10.0.0.0/8"
      oops = 2
    }
  }
  dynamic "egress" {
    for_each = ["a"]
  }
  ingress {
    action = "ACCEPT"
    protocol = "TCP"
    port = "22"
    cidr_block = "10.0.0.0/8"
  }
}
binding "b" {
  instance_ids = ["ins-1"]
}
"""


def test_every_nested_block_problem_is_reported_in_file_order(config_dir) -> None:
    _cfg, diags = load_configuration(config_dir(NESTED, stack=False), env={})
    assert [str(d).split(":", 1)[1] for d in diags] == [
        "4: ingress block takes no labels",
        '13: unknown block type "inner" in egress block',
        '21: unknown attribute "bogus" in ingress block',
        '23: unknown block type "widget" in security_group block',
        "33: only one content block is allowed in a dynamic block",
        '37: unknown attribute "oops" in content block',
        "40: dynamic block is missing its content block",
        '50: binding block is missing the required attribute "security_groups"',
    ]


def test_only_plain_blocks_are_leaves() -> None:
    assert _RULE.leaf == _RULE.attributes
    assert _DYNAMIC.leaf is None  # labels, a required attribute and a required block
    assert TOP_LEVEL["binding"].leaf is None  # required attributes
    assert TOP_LEVEL["locals"].leaf is None  # any attribute
    assert TOP_LEVEL["security_group"].leaf is None  # labels
