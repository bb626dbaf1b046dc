"""Every validation rule of DESIGN §2 through `sgplan plan`: exit 1, `file:line: …` naming the
attribute, and the state file untouched. The line is the one marked `# <-` in each case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import run_cli

STATE = {"Region": "ap-guangzhou", "SecurityGroups": [],
         "Instances": [{"InstanceId": f"ins-0000000{i}", "SecurityGroupIds": []} for i in range(3)]}


def group(*rules: str, extra: str = "") -> str:
    return 'security_group "g" {\n  name = "g"\n' + extra + "".join(rules) + "}\n"


def rule(body: str, block: str = "ingress") -> str:
    return f"  {block} {{\n{body}  }}\n"


OK = '    action = "ACCEPT"\n    protocol = "TCP"\n    port = "22"\n'

CASES = {
    "bad-cidr": (group(rule(OK + '    cidr_block = "10.0.0.300/8" # <-\n')), "cidr_block"),
    "v6-in-v4-field": (group(rule(OK + '    cidr_block = "2001:db8::/32" # <-\n')), "cidr_block"),
    "v4-in-v6-field": (group(rule(OK + '    ipv6_cidr_block = "10.0.0.0/8" # <-\n')), "ipv6_cidr_block"),
    "bad-port-syntax": (group(rule('    action = "ACCEPT"\n    protocol = "TCP"\n    port = "22x" # <-\n'
                                   '    cidr_block = "10.0.0.0/8"\n')), "port"),
    "port-out-of-range": (group(rule('    action = "ACCEPT"\n    protocol = "TCP"\n    port = "70000" # <-\n'
                                     '    cidr_block = "10.0.0.0/8"\n')), "port"),
    "port-with-icmp": (group(rule('    action = "ACCEPT"\n    protocol = "ICMP"\n    port = "22" # <-\n'
                                  '    cidr_block = "10.0.0.0/8"\n')), "port"),
    "icmp-with-ipv6": (group(rule('    action = "ACCEPT"\n    protocol = "ICMP" # <-\n'
                                  '    ipv6_cidr_block = "::/0"\n')), "protocol"),
    "icmpv6-with-ipv4": (group(rule('    action = "ACCEPT"\n    protocol = "ICMPv6" # <-\n'
                                    '    cidr_block = "0.0.0.0/0"\n')), "protocol"),
    "two-sources": (group(rule(OK + '    cidr_block = "10.0.0.0/8"\n    ipv6_cidr_block = "::/0" # <-\n')), "source"),
    "no-source": (group('  ingress { # <-\n' + OK + "  }\n"), "source"),
    "service-and-protocol": (group(rule('    action = "ACCEPT"\n    protocol = "TCP" # <-\n'
                                        '    service_template_id = "ppm-12345678"\n'
                                        '    cidr_block = "10.0.0.0/8"\n')), "service_template"),
    "bad-action": (group(rule('    action = "ALLOW" # <-\n    protocol = "TCP"\n    port = "22"\n'
                              '    cidr_block = "10.0.0.0/8"\n')), "action"),
    "name-too-long": ('security_group "g" {\n  name = "' + "n" * 61 + '" # <-\n}\n', "name"),
    "description-too-long": ('security_group "g" {\n  name = "g"\n  description = "' + "d" * 101 + '" # <-\n}\n',
                             "description"),
    "duplicate-address": ('security_group "g" {\n  name = "a"\n}\nsecurity_group "g" { # <-\n  name = "b"\n}\n',
                          "security_group \"g\""),
    "unknown-reference": (group(rule(OK + '    security_group_id = security_group.nope.id # <-\n')),
                          "security_group.nope"),
    "unknown-variable": (group(rule('    action = "ACCEPT"\n    protocol = "TCP"\n    port = var.nope # <-\n'
                                    '    cidr_block = "10.0.0.0/8"\n')), "port"),
    "unknown-attribute": (group(rule(OK + '    cidr_block = "10.0.0.0/8"\n    colour = "blue" # <-\n')), "colour"),
    "unknown-block": ('firewall "x" { # <-\n}\n', "firewall"),
    "duplicate-attribute": ('security_group "g" {\n  name = "a"\n  name = "b" # <-\n}\n', "name"),
    "two-attributes-one-line": ('security_group "g" {\n  name = "a" description = "b" # <-\n}\n', "description"),
    "wrong-type": (group(rule('    action = "ACCEPT"\n    protocol = "TCP"\n    port = ["22"] # <-\n'
                              '    cidr_block = "10.0.0.0/8"\n')), "port"),
    "syntax-error": ('security_group "g" {\n  name = = "a" # <-\n}\n', "syntax"),
    "instance-in-two-bindings": (group() + 'binding "a" {\n  instance_ids = ["ins-00000001"]\n'
                                 '  security_groups = [security_group.g.id]\n}\n'
                                 'binding "b" {\n  instance_ids = ["ins-00000001"] # <-\n'
                                 '  security_groups = [security_group.g.id]\n}\n', "instance_ids"),
    "six-groups-on-instance": ("".join(f'security_group "g{i}" {{\n  name = "g{i}"\n}}\n' for i in range(6))
                               + 'binding "a" {\n  instance_ids = ["ins-00000001"]\n  security_groups = ['
                               + ", ".join(f"security_group.g{i}.id" for i in range(6)) + "] # <-\n}\n",
                               "security_groups"),
    # Fail-closed defaults (issue 11): a missing port is never "every port"; sgplan's own tags
    # and invisible characters are refused where they are written.
    "tcp-without-port": (group('  ingress { # <-\n    action = "ACCEPT"\n    protocol = "TCP"\n'
                               '    cidr_block = "10.0.0.0/8"\n  }\n'), "port"),
    "udp-empty-port": (group(rule('    action = "ACCEPT"\n    protocol = "UDP"\n    port = "" # <-\n'
                                  '    cidr_block = "10.0.0.0/8"\n')), "port"),
    "tcp-null-port": (group(rule('    action = "ACCEPT"\n    protocol = "TCP"\n    port = null # <-\n'
                                 '    cidr_block = "10.0.0.0/8"\n')), "port"),
    "dynamic-rule-without-port": (group('  dynamic "ingress" {\n    for_each = ["10.0.0.0/8"]\n'
                                        '    content { # <-\n      action = "ACCEPT"\n      protocol = "TCP"\n'
                                        '      cidr_block = ingress.value\n    }\n  }\n'), "port"),
    "reserved-stack-tag": (group(extra='  tags = { "sgplan-stack" = "other" } # <-\n'), "sgplan-stack"),
    "reserved-address-tag": (group(extra='  tags = { sgplan-address = "security_group.x" } # <-\n'), "reserved"),
    "newline-in-description": (group(rule(OK + '    cidr_block = "10.0.0.0/8"\n    description = "a\\nb" # <-\n')),
                               "description"),
    "escape-in-name": ('security_group "g" {\n  name = "web\\u001b[2J" # <-\n}\n', "name"),
    "bidi-in-group-description": ('security_group "g" {\n  description = "abc\\u202edef" # <-\n}\n', "description"),
    "over-rule-quota": ('security_group "g" { # <-\n  name = "g"\n' + "".join(
        rule(f'    action = "ACCEPT"\n    protocol = "TCP"\n    port = "{1000 + i}"\n    cidr_block = "10.0.0.0/8"\n')
        for i in range(101)) + "}\n", "ingress"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid_configuration_is_reported_and_changes_nothing(name: str, tmp_path: Path, capsys) -> None:
    text, attribute = CASES[name]
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "main.sg.hcl").write_text(text)
    (config / "zz_settings.sg.hcl").write_text('sgplan { stack = "t" }\n')
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    before = state.read_bytes()
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "# <-" in l)

    result = run_cli(capsys, "plan", config, "--cloud", f"file:{state}")
    assert result.code == 1, result.out
    errors = [l for l in result.err.splitlines() if not l.startswith("warning") and ": warning:" not in l]
    assert errors, result.err
    assert "Traceback" not in result.err
    located = [l for l in errors if l.startswith(f"{config / 'main.sg.hcl'}:{line}:")]
    assert located, f"no error at line {line}:\n{result.err}"
    assert any(attribute.lower() in l.lower() for l in located), result.err
    assert state.read_bytes() == before
    # validate agrees, without any cloud
    assert run_cli(capsys, "validate", config).code == 1


def test_zero_prefix_cidr_warns(tmp_path: Path, capsys) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "main.sg.hcl").write_text(group(rule(OK + '    cidr_block = "0.0.0.0/8"\n')))
    (config / "settings.sg.hcl").write_text('sgplan { stack = "t" }\n')
    result = run_cli(capsys, "validate", config)
    assert result.code == 0
    assert "0.0.0.0/0" in result.err and ":7:" in result.err


def _files(tmp_path: Path, files: dict[str, str]) -> Path:
    config = tmp_path / "cfg"
    config.mkdir()
    for name, text in files.items():
        (config / name).write_text(text)
    return config


def test_a_configuration_with_groups_needs_a_stack(tmp_path: Path, capsys) -> None:
    config = _files(tmp_path, {"main.sg.hcl": group(rule(OK + '    cidr_block = "10.0.0.0/8"\n'))})
    result = run_cli(capsys, "validate", config)
    assert result.code == 1
    assert result.err.startswith(f"{config / 'main.sg.hcl'}:1: stack is required"), result.err
    assert 'sgplan { stack = "<name>" }' in result.err


def test_an_empty_configuration_needs_no_stack(tmp_path: Path, capsys) -> None:
    config = _files(tmp_path, {"main.sg.hcl": 'variable "x" {\n  default = 1\n}\n'})
    assert run_cli(capsys, "validate", config).code == 0


def test_a_second_sgplan_block_is_an_error_naming_both(tmp_path: Path, capsys) -> None:
    config = _files(tmp_path, {
        "a.sg.hcl": 'sgplan {\n  stack = "s"\n  cloud = "file:./live.json"\n}\n' + group(),
        "b.sg.hcl": '\nsgplan {\n  region = "ap-shanghai"\n}\n',
    })
    result = run_cli(capsys, "validate", config)
    assert result.code == 1
    assert f"{config / 'b.sg.hcl'}:2: duplicate sgplan block (the first is at {config / 'a.sg.hcl'}:1)" in result.err


def test_two_configurations_without_a_stack_cannot_delete_each_other(tmp_path: Path, capsys) -> None:
    """Before issue 11 both fell back to the stack "default": applying the second planned the
    deletion of the first one's group. Now neither plans at all until it names its stack."""
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    first = tmp_path / "first"
    second = tmp_path / "second"
    for directory, name in ((first, "a"), (second, "b")):
        directory.mkdir()
        (directory / "main.sg.hcl").write_text(f'security_group "{name}" {{\n  name = "{name}"\n}}\n')
    before = state.read_bytes()
    for directory in (first, second):
        result = run_cli(capsys, "apply", directory, "--auto-approve", "--cloud", f"file:{state}")
        assert result.code == 1 and "stack is required" in result.err
    assert state.read_bytes() == before
    # With their own stacks, each apply leaves the other's group alone.
    (first / "stack.sg.hcl").write_text('sgplan { stack = "first" }\n')
    (second / "stack.sg.hcl").write_text('sgplan { stack = "second" }\n')
    for directory in (first, second):
        assert run_cli(capsys, "apply", directory, "--auto-approve", "--cloud", f"file:{state}").code == 0
    names = sorted(g["SecurityGroupName"] for g in json.loads(state.read_text())["SecurityGroups"])
    assert names == ["a", "b"]
    assert run_cli(capsys, "plan", first, "--cloud", f"file:{state}", "--detailed-exitcode").code == 0


UNKNOWN_IDS = {
    "group-in-binding": (group() + 'binding "b" {\n  instance_ids = ["ins-00000001"] # <-\n'
                         '  security_groups = [security_group.g.id, "sg-nothere1"]\n}\n', "sg-nothere1"),
    "group-in-rule": ('security_group "g" {\n  ingress { # <-\n    action = "ACCEPT"\n    protocol = "TCP"\n'
                      '    port = "22"\n    security_group_id = "sg-nothere2"\n  }\n}\n', "sg-nothere2"),
    "address-template": ('security_group "g" {\n  egress { # <-\n    action = "ACCEPT"\n    protocol = "ALL"\n'
                         '    address_template_id = "ipm-nothere3"\n  }\n}\n', "ipm-nothere3"),
    "service-template-group": ('security_group "g" {\n  ingress { # <-\n    action = "ACCEPT"\n'
                               '    service_template_group_id = "ppmg-nothere"\n    cidr_block = "10.0.0.0/8"\n  }\n}\n',
                               "ppmg-nothere"),
}


@pytest.mark.parametrize("name", sorted(UNKNOWN_IDS))
def test_ids_the_cloud_does_not_have_fail_the_plan_before_any_write(name: str, tmp_path: Path, capsys) -> None:
    """Before issue 11 these planned cleanly and apply failed half-way (group created, binding
    refused). Now the plan stops at the reference, with its position."""
    text, missing = UNKNOWN_IDS[name]
    config = _files(tmp_path, {"main.sg.hcl": text, "zz.sg.hcl": 'sgplan { stack = "t" }\n'})
    state = tmp_path / "live.json"
    state.write_text(json.dumps(STATE))
    before = state.read_bytes()
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "# <-" in l)
    for command in ("plan", "apply"):
        extra = ["--auto-approve"] if command == "apply" else []
        result = run_cli(capsys, command, config, "--cloud", f"file:{state}", *extra)
        assert result.code == 1
        assert f"{config / 'main.sg.hcl'}:{line}:" in result.err and missing in result.err, result.err
        assert "does not exist" in result.err
    assert state.read_bytes() == before
