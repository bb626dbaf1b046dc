"""Files, parsing and the structural checks Terraform makes and python-hcl2 does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from sgplan.config import load_configuration
from tests.config.conftest import evaluate_dir


def test_reads_only_config_files_in_name_order(config_dir) -> None:
    d = config_dir(
        {
            "b.tf": 'security_group "b" {}\n',
            "a.sg.hcl": 'security_group "a" {}\n',
            "c.hcl": 'security_group "c" {}\n',
            "notes.txt": "not hcl {",
            "sub/x.hcl": "not hcl {",
        }
    )
    desired, messages = evaluate_dir(d)
    assert messages == []
    assert [g.address for g in desired.groups] == ["security_group.a", "security_group.b", "security_group.c"]


def test_syntax_error_names_file_and_line(config_dir) -> None:
    d = config_dir({"main.sg.hcl": 'security_group "a" {\n  name = "x"\n  description = ~\n}\n'})
    cfg, diags = load_configuration(d, env={})
    assert cfg is None
    assert str(diags[0]).startswith(f"{d}/main.sg.hcl:3: syntax error")


def test_display_path_is_relative_as_given(config_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    d = config_dir('security_group "a" {\n  bogus = 1\n}\n')
    monkeypatch.chdir(d.parent)
    _, messages = evaluate_dir(Path(d.name))
    assert messages == [f'{d.name}/main.sg.hcl:2: unknown attribute "bogus" in security_group block']


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('security_group "a" {\n  name = "x"\n  name = "y"\n}\n', 3, 'duplicate attribute "name"'),
        ('security_group "a" {\n  name = "x" description = "y"\n}\n', 2, "description: each argument and block must start on its own line"),
        ('security_group "a" {\n  description = "x\ny"\n}\n', 2, "line break"),
        ('security_group "a" {}\nsecurity_group "a" {}\n', 2, 'duplicate security_group "a"'),
        ('resource_group "a" {}\n', 1, 'unknown block type "resource_group"'),
        ('security_group "a" {\n  colour = "red"\n}\n', 2, 'unknown attribute "colour"'),
        ('security_group "a" {\n  ingress {\n    ports = "22"\n  }\n}\n', 3, 'unknown attribute "ports"'),
        ('security_group "a" {\n  rule {}\n}\n', 2, 'unknown block type "rule"'),
        ('moved {\n  from = 1\n}\n', 1, 'moved block is missing the required attribute "to"'),
        ('locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n', 5, 'duplicate local "a"'),
        ('sgplan {}\nsgplan {}\n', 2, "only one sgplan block"),
        ('security_group {}\n', 1, "needs 1 label"),
        ('output "o" {}\n', 1, 'missing the required attribute "value"'),
        ('x = 1\n', 1, 'unexpected attribute "x"'),
        ('security_group "a" {\n  dynamic "tags" {\n    for_each = []\n    content {}\n  }\n}\n', 2, "can be dynamic"),
    ],
)
def test_structural_errors(config_dir, text: str, line: int, fragment: str) -> None:
    d = config_dir(text)
    desired, messages = evaluate_dir(d)
    assert desired is None
    assert any(m.startswith(f"{d}/main.sg.hcl:{line}: ") and fragment in m for m in messages), messages


def test_config_hash_is_stable_and_covers_content(config_dir) -> None:
    d = config_dir('security_group "a" {}\n')
    first = load_configuration(d, env={})[0].config_hash
    assert first == load_configuration(d, env={})[0].config_hash
    (d / "main.sg.hcl").write_text('security_group "a" { }\n')
    assert load_configuration(d, env={})[0].config_hash != first


def test_heredoc_attribute_followed_by_attribute(config_dir) -> None:
    # (A heredoc ends in a newline, which a description may not hold: a local carries it.)
    d = config_dir('locals {\n  text = <<EOT\nhi\nEOT\n  name = "n"\n}\nsecurity_group "a" {\n  description = trimspace(local.text)\n  name = local.name\n}\n')
    desired, messages = evaluate_dir(d)
    assert messages == []
    assert desired.groups[0].description == "hi" and desired.groups[0].name == "n"


# --- reading as HashiCorp's HCL does, or refusing (issue 12 §5; docs/hcl-conformance.md) -------

from sgplan.hcl.load import parse_source  # noqa: E402


def _read(text: str):
    source, diags = parse_source(text.encode(), "f.tf")
    return source.body, [str(d) for d in diags]


def test_escaped_interpolation_is_three_characters() -> None:
    body, diags = _read('a = "$${"\nb = "10.0.0.0/8"\n# }"\n')
    assert diags == [] and set(body.attributes) == {"a", "b"}


def test_labels_are_unescaped() -> None:
    body, diags = _read('b "a\\"b" "t\\u0041b" {\n}\n')
    assert diags == [] and body.blocks[0].labels == ('a"b', "tAb")


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ('a = "e\u0301"\n', 1, "NFC"),
    ('x = 1\na = "e\\u0301"\n', 2, "NFC"),
    ('a = "\\ud800"\n', 1, "not a Unicode character"),
    ('a = "x\ry"\n', 1, "carriage return"),
    ("a = <<-EOT\n    x\n  \n  EOT\n", 1, "heredoc"),
    ("a = <<EOT\r\nx\r\nEOT\r\n", 1, "CRLF"),
    ("a = <<EOT\nx\nEOT", 1, "newline after it"),
    ("a = { for = 1 }\n", 1, "for expression"),
    ("a = { b = {}c = 1 }\n", 1, "comma or a newline"),
    ('a = "%{ iftrue }x%{ endif }"\n', 1, "run together"),
    ("a = 1\n  + 2\n", 2, "line break before an operator"),
    ("a = true ? 1\n  : 2\n", 1, "line break inside an expression"),
    ("b\n{\n}\n", 1, "opening brace"),
    ("b { a = 1\n}\n", 1, "single-line block"),
    ("b {\n  a = 1 }\n", 2, "closing brace"),
    ("x = " + "(" * 500 + "1" + ")" * 500 + "\n", 1, "nesting deeper"),
])
def test_what_hcl_reads_otherwise_is_refused_with_its_line(text: str, line: int, fragment: str) -> None:
    _, diags = _read(text)
    assert diags and diags[0].startswith(f"f.tf:{line}: ") and fragment in diags[0], diags


def test_valid_hcl_around_the_refusals_still_reads() -> None:
    for text in ("b { a = 1 }\n", "a = (1\n  + 2)\n", "a = [1,\n  2]\n", "a = <<-EOT\n    x\n\n    y\n  EOT\n",
                 'a = "${1 + 2}"\n', "a = 1 + /* c\n */ 2\n", 'a = "é"\n'):
        body, diags = _read(text)
        assert body is not None and not diags, (text, diags)


def test_symlinked_files_must_stay_in_their_directory(tmp_path: Path) -> None:
    from sgplan.hcl.load import read_file

    (tmp_path / "outside.tf").write_text('secret = "s"\n')
    d = tmp_path / "cfg"
    (d / "shared").mkdir(parents=True)
    (d / "shared" / "in.tf").write_text('a = "x"\n')
    (d / "out.tf").symlink_to(tmp_path / "outside.tf")
    (d / "in.tf").symlink_to("shared/in.tf")
    source, diags = read_file(d / "out.tf", "cfg/out.tf")
    assert source.body is None and str(diags[0]).startswith("cfg/out.tf:1: refusing to read a symlink")
    source, diags = read_file(d / "in.tf", "cfg/in.tf")
    assert source.body is not None and not diags
