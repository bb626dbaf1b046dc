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
    result = run_cli(capsys, "validate", config)
    assert result.code == 0
    assert "0.0.0.0/0" in result.err and ":7:" in result.err
