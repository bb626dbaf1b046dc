"""Heredocs (both kinds, as Terraform), directives inside heredocs, and escaping round trips."""

from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.config.conftest import evaluate_expression as ev


def test_heredoc_keeps_trailing_newline() -> None:
    assert ev("<<EOT\nhello\nworld\nEOT\n") == "hello\nworld\n"


def test_heredoc_keeps_indentation_and_backslashes() -> None:
    assert ev('<<EOT\n  a\\n "q"\n    b\nEOT\n') == '  a\\n "q"\n    b\n'


def test_indented_heredoc_strips_common_indent() -> None:
    assert ev("<<-EOT\n    a\n      b\n\n    c\n    EOT\n") == "a\n  b\n\nc\n"


def test_heredoc_interpolation_and_directives() -> None:
    source = "<<-EOT\n  %{ for p in ports ~}\n  port ${p}\n  %{ endfor ~}\n  done ${x}\n  EOT\n"
    assert ev(source, ports=[22, 80], x="!") == "port 22\nport 80\ndone !\n"


def test_heredoc_escapes() -> None:
    assert ev("<<EOT\n$${x} %%{y}\nEOT\n") == "${x} %{y}\n"


def test_heredoc_with_nested_quotes_in_interpolation() -> None:
    assert ev('<<EOT\n${join(",", ["a", "b"])}\nEOT\n') == "a,b\n"


def test_empty_heredoc() -> None:
    assert ev("<<EOT\nEOT\n") == ""


def _quote(text: str) -> str:
    """Escape a Python string as an HCL quoted string (what an emitter would write)."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return '"' + out.replace("${", "$${").replace("%{", "%%{") + '"'


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="") | st.sampled_from("\n\t\"\\${}%"), max_size=30))
def test_string_escaping_round_trip(text: str) -> None:
    # python-hcl2's lexer only knows `$${…}` / `%%{…}` with a closing brace (ESCAPED_INTERPOLATION
    # is /\$\$\{[^}]*\}/), so a lone escaped `${` without a later `}` does not parse.
    assume(all("}" in text[m.end() :] for m in re.finditer(r"[$%]\{", text)))
    assert ev(_quote(text)) == text
