"""The HCL writer: escaping, alignment, layout — and HashiCorp's hclfmt agrees with it."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import hcl2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgplan.hcl.write import Attribute, Block, Comment, Expr, key, quote, render, value_text
from tests.hclfmt import formatted, hclfmt

HCLFMT, WHY = hclfmt()
needs_hclfmt = pytest.mark.skipif(HCLFMT is None, reason=WHY)


def test_quote_escapes_specials_and_template_sigils() -> None:
    assert quote('a "b" \\ c') == '"a \\"b\\" \\\\ c"'
    assert quote("x\ny\tz\r") == '"x\\ny\\tz\\r"'
    assert quote("${var.x} and %{ if }") == '"$${var.x} and %%{ if }"'
    assert quote("$$ %% $ {") == '"$$ %% $ {"'
    assert quote("\x00\u200b") == '"\\u0000\\u200b"'
    assert quote("中文 é") == '"中文 é"'


def test_keys_are_bare_only_when_they_are_identifiers() -> None:
    assert key("team") == "team"
    assert key("cost-center") == '"cost-center"'
    assert key("has space") == '"has space"'
    assert key("1st") == '"1st"'
    assert key("true") == '"true"'
    assert key("") == '""'


def test_values() -> None:
    assert value_text(None) == "null"
    assert value_text(True) == "true"
    assert value_text(42) == "42"
    assert value_text([]) == "[]"
    assert value_text({}) == "{}"
    assert value_text(["a", Expr("security_group.web.id")]) == '["a", security_group.web.id]'
    long = value_text([f"ins-{i:08d}" for i in range(10)])
    assert long.startswith("[\n") and long.endswith(",\n]") and long.count("\n") == 11


def test_layout_alignment_and_blank_lines() -> None:
    doc = [
        Comment("generated"),
        Block(
            "security_group",
            ("web",),
            (
                Attribute("name", "web-prod"),
                Attribute("id", "sg-12345678"),
                Attribute("tags", {"team": "web", "cost-center": "42"}),
                Attribute("project_id", 0),
                Block("ingress", (), (Attribute("action", "ACCEPT"), Attribute("security_group_id", Expr("security_group.db.id")))),
                Block("egress"),
            ),
        ),
    ]
    assert render(doc) == (
        "# generated\n"
        'security_group "web" {\n'
        '  name = "web-prod"\n'
        '  id   = "sg-12345678"\n'
        "  tags = {\n"
        '    team          = "web"\n'
        '    "cost-center" = "42"\n'
        "  }\n"
        "  project_id = 0\n"
        "\n"
        "  ingress {\n"
        '    action            = "ACCEPT"\n'
        "    security_group_id = security_group.db.id\n"
        "  }\n"
        "\n"
        "  egress {}\n"
        "}\n"
    )


def test_render_is_parsed_back_by_python_hcl2() -> None:
    text = render([Block("binding", ("a b",), (Attribute("instance_ids", ["ins-1"]), Attribute("x", 'q"${')))])
    tree = hcl2.loads(text)
    assert tree["binding"][0]['"a b"']["instance_ids"] == ['"ins-1"']


# --- properties -------------------------------------------------------------------------------

_text = st.text(
    alphabet=st.sampled_from(list(string.printable) + ["é", "中", "$", "{", "%", "\\", '"', "\u200b"]), max_size=20
)
_names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
_scalars = st.one_of(_text, st.integers(-1000, 10**6), st.booleans(), st.none(), _names.map(lambda n: Expr(f"var.{n}")))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.one_of(_names, _text), inner, max_size=4)),
    max_leaves=12,
)
_attributes = st.builds(Attribute, _names, _values)
_blocks = st.recursive(
    st.builds(Block, _names, st.lists(_text, max_size=2).map(tuple), st.lists(_attributes, max_size=5).map(tuple)),
    lambda inner: st.builds(
        Block,
        _names,
        st.lists(_text, max_size=1).map(tuple),
        st.lists(st.one_of(_attributes, inner, st.builds(Comment, _text)), max_size=6).map(tuple),
    ),
    max_leaves=8,
)
_documents = st.lists(st.one_of(_blocks, _attributes, st.builds(Comment, _text)), max_size=5)


@needs_hclfmt
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents)
def test_hclfmt_leaves_every_rendered_document_unchanged(doc: list) -> None:
    text = render(doc)
    assert formatted(text) == text


@settings(max_examples=60, deadline=None)
@given(st.lists(_text, min_size=1, max_size=15))
def test_quoted_strings_evaluate_back_to_the_original(texts: list[str]) -> None:
    """What the writer quotes, sgplan's own configuration loader reads back unchanged."""
    try:
        from sgplan.config import load_configuration
    except ImportError:
        pytest.skip("sgplan.config.load_configuration not available yet")
    doc = [Block("output", (f"o{i}",), (Attribute("value", t),)) for i, t in enumerate(texts)]
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "main.sg.hcl").write_text(render(doc), encoding="utf-8")
        cfg, diags = load_configuration(Path(tmp), var_inputs=[], env={})
        assert cfg is not None, [str(d) for d in diags]
        desired, diags = cfg.evaluate({})
        assert desired is not None, [str(d) for d in diags]
    assert [o.value for o in desired.outputs] == texts


@needs_hclfmt
def test_hclfmt_accepts_a_rendered_file(tmp_path: Path) -> None:
    path = tmp_path / "a.sg.hcl"
    path.write_text(render([Block("x", ("y",), (Attribute("a", 1), Attribute("bb", [1, 2])))]))
    from tests.hclfmt import unchanged

    assert unchanged(path) == (True, "")
