"""The formatter: same layout as HashiCorp's hclfmt, comments kept, idempotent; the fmt command."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgplan.hcl.format import (
    CHEREDOC,
    CONTROL,
    CQUOTE,
    INTERP,
    NEWLINE,
    OHEREDOC,
    OQUOTE,
    QUOTED_LIT,
    SEQ_END,
    STRING_LIT,
    FormatError,
    config_files,
    format_source,
    format_text,
    is_canonical,
    tokenize,
)
from tests.hcl.test_write import _documents
from tests.hclfmt import formatted, hclfmt

HCLFMT, WHY = hclfmt()
needs_hclfmt = pytest.mark.skipif(HCLFMT is None, reason=WHY)

MESSY = '''# leading comment
variable "x" {
type = list(string)
    default = ["a","b"]   # trailing
  description = <<-EOT
    heredoc ${var.x} text
      indented
    EOT
}
locals {
  a = -1
  b = 1 - -2
  c = !var.flag
  d = [for x in var.list: upper(x) if x != ""]
  e = { for k, v in var.m : k => v... }
  f = var.cond ? "yes" : "no"
  g = "${ var.a }-${var.b}%{ if true }x%{ endif }"
  h = {
    "a b" = 1
    c = [
      1,2,
    ]
  }
  i = a.b[0].c[*].d
  /* block
     comment */
  j = 3 /* inline */ + 4
  k = "tab\tinside"
  long_name_here = 1 // slash comment
  z = 2 # hash
  w = { a = 1, bb = { c = 2 } }
}
security_group "web" {
\tingress {
\t\taction = "ACCEPT"   
\t}
  egress {}
}
'''

EXPECTED = '''# leading comment
variable "x" {
  type        = list(string)
  default     = ["a", "b"] # trailing
  description = <<-EOT
    heredoc ${var.x} text
      indented
    EOT
}
locals {
  a = -1
  b = 1 - -2
  c = !var.flag
  d = [for x in var.list : upper(x) if x != ""]
  e = { for k, v in var.m : k => v... }
  f = var.cond ? "yes" : "no"
  g = "${var.a}-${var.b}%{if true}x%{endif}"
  h = {
    "a b" = 1
    c = [
      1, 2,
    ]
  }
  i = a.b[0].c[*].d
  /* block
     comment */
  j              = 3 /* inline */ + 4
  k              = "tab\tinside"
  long_name_here = 1 // slash comment
  z              = 2 # hash
  w              = { a = 1, bb = { c = 2 } }
}
security_group "web" {
  ingress {
    action = "ACCEPT"
  }
  egress {}
}
'''


def test_format_messy_file() -> None:
    assert format_text(MESSY) == EXPECTED
    assert format_text(EXPECTED) == EXPECTED


@needs_hclfmt
def test_hclfmt_agrees_on_the_messy_file() -> None:
    assert formatted(MESSY) == EXPECTED


def test_trailing_whitespace_and_final_newline() -> None:
    assert format_text("a = 1   # c   \n\n\n") == "a = 1 # c\n"
    assert format_text("a = 1") == "a = 1\n"
    assert format_text("a = 1\r\nbb = 2\r\n") == "a  = 1\r\nbb = 2\r\n"
    assert format_text("") == ""
    # Heredoc content is content: its blanks stay.
    assert format_text("a = <<EOT\n  x  \nEOT\n") == "a = <<EOT\n  x  \nEOT\n"


def test_comments_and_blank_lines_are_kept() -> None:
    text = "# one\n\n// two\nblock {\n  /* three */\n\n  a = 1\n}\n"
    assert format_text(text) == text


def test_lexer_errors_carry_a_line() -> None:
    with pytest.raises(FormatError) as exc:
        format_text('a = 1\nb = "open\n')
    assert exc.value.line == 2
    with pytest.raises(FormatError):
        format_text("a = 1 @\n")


def test_syntax_errors_are_diagnostics_with_file_and_line() -> None:
    result, diags = format_source("a = 1\nb = {\n", "x.sg.hcl")
    assert result is None and len(diags) == 1
    assert str(diags[0]).startswith("x.sg.hcl:")


# --- agreement with hclfmt on perturbed documents ----------------------------------------------

_CONTENT_AFTER = {OQUOTE, QUOTED_LIT, STRING_LIT, OHEREDOC, SEQ_END}
_CONTENT_TOKENS = {QUOTED_LIT, STRING_LIT, CQUOTE, CHEREDOC, INTERP, CONTROL}


def _perturb(text: str, draw: st.DrawFn) -> str:
    """Random blanks wherever HCL ignores them (never inside strings or heredoc bodies)."""
    tokens = tokenize(text)
    out = []
    previous = None
    for tok in tokens[:-1]:
        free = tok.kind not in _CONTENT_TOKENS and (previous is None or previous.kind not in _CONTENT_AFTER)
        blanks = tok.spaces
        if free and (tok.spaces or tok.kind == NEWLINE or draw(st.booleans())):
            blanks = draw(st.integers(0, 3)) if tok.spaces == 0 or tok.kind == NEWLINE else draw(st.integers(1, 4))
        if free and previous is not None and previous.kind not in (NEWLINE,) and tok.kind not in (NEWLINE,) and tok.spaces == 0:
            blanks = 0  # joining tokens that touch could change meaning (`a.b` stays `a.b`)
        out.append(draw(st.sampled_from([" ", "\t"])) * blanks if blanks and free else " " * blanks)
        out.append(tok.text)
        previous = tok
    return "".join(out)


@needs_hclfmt
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), _documents)
def test_format_matches_hclfmt_on_perturbed_documents(data: st.DataObject, doc: list) -> None:
    from sgplan.hcl.write import render

    messy = _perturb(render(doc), data.draw)
    ours = format_text(messy)
    assert ours == formatted(messy).rstrip(" \t\n") + "\n" if messy.strip() else ours == ""
    assert format_text(ours) == ours


# --- the line-level "already canonical" check (issue 18): never a different answer -----------

PLAIN = '''sgplan {
  stack = "s"
}

security_group "g1" "x" {
  name        = "web \\"1\\" $5 100% # not a comment"
  description = ""
  tags        = ["a", "b"]

  ingress {
    port              = 22
    security_group_id = security_group.g2.id
    empty             = []
    nested label {
      a = true
    }
  }
}
'''


def test_plain_canonical_text_is_recognised() -> None:
    assert format_text(PLAIN) == PLAIN
    assert is_canonical(PLAIN)


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("  name        =", "  name         ="),  # `=` one column too far
    lambda t: t.replace("  name        =", "  name       ="),  # not aligned
    lambda t: t.replace("    port              =", "    port             ="),
    lambda t: t.replace("      a = true", "     a = true"),  # indent
    lambda t: t.replace("  }\n}", "  }\n  }"),
    lambda t: t.replace('"a", "b"', '"a","b"'),
    lambda t: t.replace('"a", "b"', '"a" , "b"'),
    lambda t: t.replace("= 22", "=  22"),
    lambda t: t.replace("= 22", "= 22 "),  # trailing blank
    lambda t: t + "\n",  # trailing blank line
    lambda t: t[:-1],  # no final newline
    lambda t: t.replace("\n\n", "\n  \n", 1),  # blank line with blanks
    lambda t: t.replace("\n", "\r\n"),
    lambda t: t.replace("nested label {", "nested  label {"),
    lambda t: t.replace('"x" {', '"x"{'),
    lambda t: t.replace('"s"', '"${var.s}"'),  # templates: the formatter's business
    lambda t: t.replace('"s"', '"${ var.s }"'),
    lambda t: t.replace("= 22", "= 22 # c"),
    lambda t: t.replace("\n\n  ingress", "\n  ingress"),  # runs join: alignment changes
    lambda t: t.replace("  tags        = [\"a\", \"b\"]\n", "  tags = [\"a\", \"b\"]\n"),
    lambda t: "\n" + t,
    lambda t: t.replace("}\n\nsecurity", "}\nsecurity"),
    lambda t: t.replace("  stack = \"s\"", "  stack   = \"s\""),
])
def test_is_canonical_never_disagrees_with_format_text(edit) -> None:
    text = edit(PLAIN)
    assert text != PLAIN
    if is_canonical(text):
        assert format_text(text) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), _documents)
def test_is_canonical_implies_format_text_is_identity(data: st.DataObject, doc: list) -> None:
    from sgplan.hcl.write import render

    rendered = render(doc)
    messy = _perturb(rendered, data.draw)
    for text in (rendered, messy, format_text(messy)):
        if is_canonical(text):
            assert format_text(text) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, PLAIN.count("\n") - 1), st.sampled_from(["del", " ", "  ", "\n", "dup"])),
                max_size=3))
def test_is_canonical_under_line_edits(edits: list) -> None:
    lines = PLAIN.split("\n")
    for at, what in edits:
        at %= max(len(lines) - 1, 1)
        if what == "del":
            del lines[at]
        elif what == "dup":
            lines.insert(at, lines[at])
        elif what == "\n":
            lines.insert(at, "")
        else:
            lines[at] = what + lines[at]
    text = "\n".join(lines)
    if is_canonical(text):
        assert format_text(text) == text


def test_generated_estate_is_recognised_as_canonical() -> None:
    from benchmarks.estate import make_estate

    config = make_estate(6, 8, 10, variant="drift").config
    assert format_text(config) == config
    assert is_canonical(config)


# --- files and the command ---------------------------------------------------------------------


def test_config_files_walks_directories(tmp_path: Path) -> None:
    for name in ("a.sg.hcl", "b.tf", "c.tfvars", "d.hcl", "e.txt", "mods/m/main.tf", ".terraform/x.tf"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a = 1\n")
    found = {p.relative_to(tmp_path).as_posix() for p in config_files([tmp_path])}
    assert found == {"a.sg.hcl", "b.tf", "c.tfvars", "d.hcl", "mods/m/main.tf"}


def test_fmt_command_check_and_write(tmp_path: Path) -> None:
    from tests.e2e.test_import_roundtrip import sgplan

    (tmp_path / "mods").mkdir()
    messy = tmp_path / "mods" / "a.sg.hcl"
    messy.write_text("a=1\nbb = 2   \n")
    tidy = tmp_path / "b.tf"
    tidy.write_text("x = 1\n")
    run = sgplan("fmt", "--check", tmp_path, tidy)
    assert run.code == 1 and str(messy) in run.out and str(tidy) not in run.out
    assert messy.read_text() == "a=1\nbb = 2   \n"
    run = sgplan("fmt", tmp_path)
    assert run.code == 0 and messy.read_text() == "a  = 1\nbb = 2\n"
    assert sgplan("fmt", "--check", tmp_path).code == 0
    broken = tmp_path / "c.hcl"
    broken.write_text("a = {\n")
    run = sgplan("fmt", "--check", tmp_path)
    assert run.code == 1 and run.err.startswith(f"{broken}:") and "Traceback" not in run.err
    assert sgplan("fmt", tmp_path / "missing").code == 1
