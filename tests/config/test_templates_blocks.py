"""The template blocks (issue 17): schema, `.id` references from rules and template groups,
validation errors with file:line, pinned ids, and the stack requirement."""

from __future__ import annotations

from pathlib import Path

from sgplan.config.configuration import load_configuration
from sgplan.model import GroupRef

GOOD = '''sgplan { stack = "s" }

address_template "office" {
  name      = "office"
  addresses = ["203.0.113.0/24", "198.51.100.7", "10.0.0.1-10.0.0.9", "2001:db8::1/64"]
}
address_template "partner" {
  id        = "ipm-abcd1234"
  addresses = ["192.0.2.0/24"]
}
address_template_group "admins" {
  name         = "admins"
  template_ids = [address_template.office.id, address_template.partner.id]
}
service_template "web" {
  name     = "web"
  services = ["TCP:80", "tcp:443", "udp:53-60", "icmp"]
}
service_template_group "web_all" {
  name         = "web-all"
  template_ids = [service_template.web.id]
}

security_group "ssh" {
  ingress {
    action              = "ACCEPT"
    protocol            = "TCP"
    port                = "22"
    address_template_id = address_template.office.id
  }
  ingress {
    action                    = "ACCEPT"
    service_template_group_id = service_template_group.web_all.id
    address_template_group_id = address_template_group.admins.id
  }
  ingress {
    action              = "DROP"
    protocol            = "ALL"
    address_template_id = address_template.partner.id
  }
}
'''


def _evaluate(tmp_path: Path, text: str):
    (tmp_path / "main.sg.hcl").write_text(text)
    config, diags = load_configuration(tmp_path, cache=False)
    if config is None:
        return None, diags
    desired, more = config.evaluate()
    return desired, diags + more


def test_blocks_build_templates_and_references(tmp_path: Path) -> None:
    desired, diags = _evaluate(tmp_path, GOOD)
    assert [d for d in diags if d.severity.value == "error"] == []
    by_address = {t.address: t for t in desired.templates}
    office = by_address["address_template.office"]
    # Canonical members: host bits cleared (the API stores the network).
    assert office.members == ("203.0.113.0/24", "198.51.100.7", "10.0.0.1-10.0.0.9", "2001:db8::/64")
    assert by_address["address_template.partner"].id == "ipm-abcd1234"
    assert by_address["address_template.partner"].name == "partner"  # default: the label
    assert by_address["address_template_group.admins"].members == (GroupRef("address_template.office"), "ipm-abcd1234")
    assert by_address["service_template.web"].members == ("tcp:80", "tcp:443", "udp:53-60", "icmp")
    [group] = desired.groups
    first, second, third = group.ingress
    assert first.address_template_id == GroupRef("address_template.office")
    assert second.service_template_group_id == GroupRef("service_template_group.web_all")
    assert second.address_template_group_id == GroupRef("address_template_group.admins")
    assert (second.protocol, second.port) == (None, None)
    assert third.address_template_id == "ipm-abcd1234"  # pinned: the id itself


def test_duplicate_member_after_normalisation_is_an_error(tmp_path: Path) -> None:
    errors = _errors(tmp_path, 'address_template "a" {\n  addresses = ["203.0.113.0/24", "203.0.113.9/24"]\n}\n')
    assert len(errors) == 1 and "main.sg.hcl:3" in errors[0], errors
    assert "addresses: 203.0.113.0/24 is listed twice" in errors[0]


def _errors(tmp_path: Path, text: str) -> list[str]:
    _, diags = _evaluate(tmp_path, 'sgplan { stack = "s" }\n' + text)
    return [str(d) for d in diags if d.severity.value == "error"]


def test_member_syntax_errors_name_file_line_and_attribute(tmp_path: Path) -> None:
    errors = _errors(tmp_path, 'address_template "a" {\n  addresses = ["10.0.0.300/24"]\n}\n')
    assert len(errors) == 1 and "main.sg.hcl:3" in errors[0] and "addresses: element 0" in errors[0], errors
    errors = _errors(tmp_path, 'address_template "a" {\n  addresses = ["10.0.0.9-10.0.0.1"]\n}\n')
    assert errors and "main.sg.hcl:3" in errors[0]
    errors = _errors(tmp_path, 'service_template "w" {\n  services = ["tcp:70000"]\n}\n')
    assert errors and "main.sg.hcl:3" in errors[0] and "services: element 0" in errors[0], errors
    errors = _errors(tmp_path, 'service_template "w" {\n  services = ["http"]\n}\n')
    assert errors and "not a service" in errors[0]
    errors = _errors(tmp_path, 'address_template_group "g" {\n  template_ids = ["ppm-12345678"]\n}\n')
    assert errors and "not a address_template id" in errors[0]
    errors = _errors(tmp_path, 'address_template "a" {\n  id = "ipmg-12345678"\n  addresses = []\n}\n')
    assert errors and "id: 'ipmg-12345678' is not a ipm-" in errors[0]


def test_schema_and_reference_errors(tmp_path: Path) -> None:
    errors = _errors(tmp_path, 'address_template "a" {\n  cidrs = ["10.0.0.0/8"]\n}\n')
    assert any('unknown attribute "cidrs"' in e for e in errors)
    assert any('missing the required attribute "addresses"' in e for e in errors)
    errors = _errors(tmp_path, 'security_group "s" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n'
                               '    port = "22"\n    address_template_id = address_template.nope.id\n  }\n}\n')
    assert any('unknown address_template "nope"' in e and "main.sg.hcl:7" in e for e in errors), errors


def test_a_reference_to_the_wrong_kind_is_an_error(tmp_path: Path) -> None:
    errors = _errors(tmp_path, 'service_template "web" {\n  services = ["tcp:80"]\n}\n'
                               'security_group "s" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n'
                               '    port = "22"\n    address_template_id = service_template.web.id\n  }\n}\n')
    assert any("main.sg.hcl:10" in e and "service_template.web.id is the id of a service_template, not of an "
               "address_template" in e for e in errors), errors


def test_templates_alone_need_a_stack(tmp_path: Path) -> None:
    _, diags = _evaluate(tmp_path, 'address_template "a" {\n  addresses = ["10.0.0.0/8"]\n}\n')
    assert any("stack is required" in str(d) for d in diags)
