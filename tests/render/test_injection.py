"""Injection suite (issue 11 §2): text sgplan did not write cannot change the structure of its output.

Hostile descriptions, names, tags, addresses and ids, from the configuration side and from the
live side (a console-written description on a rule the plan deletes), go through `plan --markdown`
and the text plan. The markdown is parsed by a real CommonMark parser with GFM tables (as GitHub
renders a pull-request comment) and must have exactly the structure of the same plan with benign
strings; the text plan must carry no raw control byte but the colour codes sgplan writes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from sgplan.analysis.checks import Finding
from sgplan.analysis.exposure import ExposureChange, TransientExposure
from sgplan.analysis.planned import annotate_plan
from sgplan.model import Binding, CloudState, DesiredState, Instance, Output, Rule, SecurityGroup, Settings
from sgplan.plan import make_plan
from sgplan.plan.plan import Plan
from sgplan.render.escape import md_code, md_fence, md_text, quoted, sarif_text, visible
from sgplan.render.markdown import render_markdown
from sgplan.render.sarif import render_sarif
from sgplan.render.text import render_plan
from tests.e2e.cli import run

MD = MarkdownIt("commonmark").enable("table")  # GitHub renders comments as GFM: tables on

ESC, BEL, CSI8 = "\x1b", "\x07", "\x9b"
HOSTILE = {
    "fence": "x\n```\n\n**Safe to merge** :white_check_mark:\n```",
    "long fence": "````````` ``` `` `\n~~~\n",
    "details": "</details>\n\n# Approved\n\n<details><summary>hidden</summary>",
    "pipes": "a | b || c \\| d |\n| --- |",
    "html": "<img src=x onerror=alert(1)> <b>bold</b> &amp; &#124; <!-- c --> <script>x</script>",
    "markdown": "**bold** _em_ [link](https://evil.example) ![i](https://evil.example/i.png) <https://evil.example> www.evil.example",
    "blocks": "\n# heading\n> quote\n- item\n1. item\n    code\n---\n",
    "ansi": f"{ESC}[31mRED{ESC}[0m {ESC}[2J{ESC}[1A{CSI8}31m",
    "osc8": f"{ESC}]8;;https://evil.example{BEL}click{ESC}]8;;{ESC}\\ {ESC}]0;title{BEL}",
    "controls": "".join(chr(c) for c in range(0x20)) + "\x7f" + "".join(chr(c) for c in range(0x80, 0xA0)),
    "bidi": "admin\u202e\u2066txet\u2069\u2067\u2068\u200e\u200f\u061c\u202a\u202b\u202c\u202d",
    "invisible": "zero\u200bwidth\u200d\u2060\ufeff\u00ad\U000e0041\U000e0042 sep\u2028\u2029",
    "spaces": "    indented  ",
    "backslashes": "\\` \\| \\\\ \\n \\x1b \\",
}
ALL_HOSTILE = "".join(HOSTILE.values())
BENIGN = "benign text"


# --- the plans -------------------------------------------------------------------------------


def build_plan(h: str) -> Plan:
    """A plan with `h` in every foreign field: desired and live names, descriptions, tags, rule
    descriptions (a live one on a rule the plan replaces and one on a group it deletes), the
    live address tag and id of a deleted group, plus findings, exposure, notes and warnings."""
    live = CloudState(
        region="ap-guangzhou",
        groups=(
            SecurityGroup("web-old " + h, description="live " + h, id="sg-web00001", address="security_group.web",
                          stack="prod", version="3", tags=(("team", "live " + h),),
                          ingress=(Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0", description="console " + h),
                                   Rule("ACCEPT", "TCP", "443", cidr_block="0.0.0.0/0", description="keep"))),
            SecurityGroup("gone " + h, id="sg-gone0001" + h, address="security_group.gone" + h, stack="prod", version="1",
                          ingress=(Rule("ACCEPT", "TCP", "3389", cidr_block="0.0.0.0/0", description="rdp " + h),)),
        ),
        instances=(Instance("ins-aaaa1111", ("sg-web00001", "sg-gone0001" + h)),),
    )
    desired = DesiredState(
        settings=Settings(stack="prod"),
        groups=(
            SecurityGroup("web " + h, description="desired " + h, address="security_group.web", tags=(("team", "cfg " + h),),
                          ingress=(Rule("ACCEPT", "TCP", "80", cidr_block="0.0.0.0/0", description="http " + h),
                                   Rule("ACCEPT", "TCP", "443", cidr_block="0.0.0.0/0", description="keep"))),
            SecurityGroup("new " + h, description=h, address="security_group.new", tags=(("k " + h, h),),
                          ingress=(Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0", description=h),)),
        ),
        bindings=(Binding("binding.b", "ins-aaaa1111", ("sg-web00001",)),),
        outputs=(Output("out", "value " + h),),
    )
    plan, diags = make_plan(desired, live, cloud="file:live.json", region="ap-guangzhou")
    assert plan is not None, diags
    plan = annotate_plan(plan, live, desired.groups)
    # Fields the analysis fills from data in other plans: put `h` there too.
    exposure = ExposureChange("ins-bbbb" + h, "ingress", "TCP " + h, "22 " + h, "10.0.0.0/8" + h, "opened")
    finding = Finding("rule-shadowed", "low", "security_group.x" + h, "message " + h)
    changes = tuple(replace(c, notes=c.notes + ("note " + h,)) for c in plan.resource_changes)
    return replace(plan, resource_changes=changes, findings=plan.findings + (finding,),
                   exposure_changes=plan.exposure_changes + (exposure,), warnings=plan.warnings + ("warning " + h,),
                   transient_exposure=(TransientExposure(0, exposure),))


# --- what "the structure sgplan meant" is ------------------------------------------------------


def _inline_shape(children: list[Token] | None) -> tuple:
    shape: list[tuple] = []
    for child in children or []:
        entry = (child.type, child.tag) if child.type != "html_inline" else (child.type, child.content)
        if shape and entry == shape[-1] == ("text", ""):
            continue  # adjacent text pieces are one run of text
        shape.append(entry)
    return tuple(shape)


def structure(markdown: str) -> list[tuple]:
    """Block tokens with their shape; inline content reduced to its kinds of nodes."""
    shape = []
    for token in MD.parse(markdown):
        entry: tuple = (token.type, token.tag, token.nesting)
        if token.type == "fence":
            entry += (token.info, token.content.count("\n"))
        elif token.type == "html_block":
            entry += (token.content,)
        elif token.type == "inline":
            entry += (_inline_shape(token.children),)
        shape.append(entry)
    return shape


def counts(markdown: str) -> dict[str, int]:
    tokens = MD.parse(markdown)
    html = "".join(t.content for t in tokens if t.type == "html_block")
    return {
        "fences": sum(t.type == "fence" for t in tokens),
        "details_open": html.count("<details>"),
        "details_close": html.count("</details>"),
        "rows": sum(t.type == "tr_open" for t in tokens),
        "html_inline": sum(c.type == "html_inline" for t in tokens if t.type == "inline" for c in t.children or []),
        "links": sum(c.type in ("link_open", "image") for t in tokens if t.type == "inline" for c in t.children or []),
    }


_HIDDEN_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def raw_hidden(text: str) -> list[str]:
    """Characters a terminal or browser would act on or hide (a newline between lines is fine)."""
    return sorted({c for c in text if c != "\n" and unicodedata.category(c) in _HIDDEN_CATEGORIES})


_SGPLAN_COLOURS = re.compile("\x1b\\[(?:3[1-7]|0)m")


def assert_clean_text(text: str, benign: str) -> None:
    assert raw_hidden(text) == []
    assert text.count("\n") == benign.count("\n"), "a foreign newline started a line of its own"


# --- deterministic suite ---------------------------------------------------------------------

BENIGN_PLAN = build_plan(BENIGN)
BENIGN_MD = render_markdown(BENIGN_PLAN)


def test_benign_plan_has_the_structure_we_check() -> None:
    c = counts(BENIGN_MD)
    assert c["fences"] == 1 and c["details_open"] == 1 and c["details_close"] == 1
    assert c["rows"] >= 6 and c["html_inline"] == 0 and c["links"] == 0
    assert "### 🛑 Destructive changes" in BENIGN_MD and "### Findings" in BENIGN_MD


@pytest.mark.parametrize("name", sorted(HOSTILE) + ["all"])
def test_markdown_structure_survives(name: str) -> None:
    hostile = ALL_HOSTILE if name == "all" else HOSTILE[name]
    text = render_markdown(build_plan(hostile))
    assert structure(text) == structure(BENIGN_MD)
    assert counts(text) == counts(BENIGN_MD)
    assert raw_hidden(text) == []


def test_markdown_shows_the_data_as_it_is() -> None:
    """Escaping is for display: the reader sees every foreign string, made visible, in full."""
    hostile = ALL_HOSTILE
    tokens = MD.parse(render_markdown(build_plan(hostile)))
    (fence,) = [t for t in tokens if t.type == "fence"]
    # The diff is the text plan's wording: descriptions quoted (a quote inside cannot end them).
    assert quoted("console " + hostile) in fence.content  # the live description of a replaced rule
    assert quoted("rdp " + hostile) in fence.content  # a deleted group's rules, as the text plan lists them
    code = [c.content for t in tokens if t.type == "inline" for c in t.children or [] if c.type == "code_inline"]
    assert visible("security_group.gone" + hostile) in code and visible("sg-gone0001" + hostile) in code
    cells = ["".join(c.content for c in t.children or []) for t in tokens if t.type == "inline"]
    assert "message " + visible(hostile) in cells


@pytest.mark.parametrize("name", sorted(HOSTILE) + ["all"])
def test_text_plan_has_no_raw_control_bytes(name: str) -> None:
    hostile = ALL_HOSTILE if name == "all" else HOSTILE[name]
    plan = build_plan(hostile)
    plain = render_plan(plan)
    assert_clean_text(plain, render_plan(BENIGN_PLAN))
    coloured = render_plan(plan, color=True)
    # The only escape sequences are sgplan's own colour codes; without them it is the plain text.
    assert _SGPLAN_COLOURS.sub("", coloured) == plain
    assert coloured.count("\x1b") == render_plan(BENIGN_PLAN, color=True).count("\x1b")


def test_text_plan_quotes_descriptions_unambiguously() -> None:
    text = render_plan(build_plan(HOSTILE["ansi"] + HOSTILE["backslashes"] + '"'))
    shown = quoted("http " + HOSTILE["ansi"] + HOSTILE["backslashes"] + '"')
    assert shown in text and '\\x1b[31mRED' in shown and '\\\\x1b' in shown and shown.endswith('\\""')


def test_sarif_message_is_plain_text() -> None:
    hostile = "[Safe](https://evil.example) \\[x\\] " + HOSTILE["ansi"] + HOSTILE["bidi"] + "\n**b**"
    finding = Finding("rule-shadowed", "low", "security_group.x" + hostile, "message " + hostile)
    doc = json.loads(render_sarif([finding]))
    (result,) = doc["runs"][0]["results"]
    text = result["message"]["text"]
    assert raw_hidden(text) == [] and "\n" not in text
    # SARIF §3.11.6: an unescaped `[…](…)` is an embedded link; data must not make one.
    assert not re.search(r"(?<!\\)(?:\\\\)*\[[^\]]*(?<!\\)(?:\\\\)*\]\(", text)
    unescaped = re.sub(r"\\([\\\[\]])", r"\1", text)
    assert unescaped == visible(f"security_group.x{hostile}: message {hostile}")
    assert raw_hidden(result["locations"][0]["logicalLocations"][0]["name"]) == []


# --- end to end through the CLI ----------------------------------------------------------------


def _hcl(value: str) -> str:
    """`value` as an HCL quoted string (escapes, no template interpolation)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out).replace("${", "$${").replace("%{", "%%{") + '"'


CONFIG = """\
sgplan {{
  region = "ap-guangzhou"
  stack  = "inj"
}}

security_group "web" {{
  name        = {name}
  description = {desc}
  tags        = {{ team = {tag} }}

  ingress {{
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "80"
    cidr_block  = "0.0.0.0/0"
    description = {rule1}
  }}
}}

security_group "new" {{
  name        = "new"
  description = {desc}
  ingress {{
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "443"
    cidr_block  = "0.0.0.0/0"
    description = {rule2}
  }}
}}

binding "web_servers" {{
  instance_ids    = ["ins-web00001"]
  security_groups = [security_group.web.id, security_group.new.id]
}}
"""


def _live_group(group_id: str, address: str, h: str, port: str) -> dict:
    return {
        "SecurityGroupId": group_id, "SecurityGroupName": "console " + h, "SecurityGroupDesc": "console " + h,
        "ProjectId": "0",
        "TagSet": [{"Key": "sgplan-stack", "Value": "inj"}, {"Key": "sgplan-address", "Value": address},
                   {"Key": "team", "Value": "console " + h}],
        "SecurityGroupPolicySet": {"Version": "1", "Egress": [], "Ingress": [
            {"PolicyIndex": 0, "Protocol": "TCP", "Port": port, "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT",
             "PolicyDescription": "console " + h}]},
    }


def write_workspace(root: Path, config: dict[str, str], live_text: str) -> tuple[Path, Path]:
    """A configuration directory and a live state; the live side deletes a rule and a group."""
    work = root / "cfg"
    work.mkdir(parents=True)
    (work / "main.sg.hcl").write_text(CONFIG.format(**{k: _hcl(v) for k, v in config.items()}), encoding="utf-8")
    live = {
        "Region": "ap-guangzhou",
        "SecurityGroups": [_live_group("sg-web00001", "security_group.web", live_text, "22"),
                           _live_group("sg-old00001", "security_group.old", live_text, "3389")],
        "Instances": [{"InstanceId": "ins-web00001", "InstanceName": "web-1", "SecurityGroupIds": ["sg-web00001", "sg-old00001"]}],
    }
    state = root / "live.json"
    state.write_text(json.dumps(live), encoding="utf-8")
    return work, state


def _plan_cli(root: Path, config: dict[str, str], live_text: str, *flags: str) -> tuple[int, str, str]:
    work, state = write_workspace(root, config, live_text)
    return run("plan", work, "--cloud", f"file:{state}", *flags)


# What a configuration can carry past validation (which rejects control and bidi characters and
# enforces the API's lengths: name 60, descriptions 100).
CONFIG_HOSTILE = {
    "name": "w ``` </details> | x | <b>b</b> **Safe**",
    "desc": "````````` ``` `` ` **Safe to merge** [l](https://e.x) # h",
    "tag": "<img src=x onerror=alert(1)> &amp; &#124; <!-- c --> | `",
    "rule1": "x ``` </details>\u200b <details><summary>s</summary> | a | b |",
    "rule2": "\\` \\| \\\\ \\n \\x1b \\ www.evil.example ![i](https://e.x/i.png) \u2060",
}
CONFIG_BENIGN = dict.fromkeys(CONFIG_HOSTILE, BENIGN)


@pytest.fixture(scope="module")
def benign_cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("benign")
    outputs = {}
    for fmt, flags in (("markdown", ("--markdown",)), ("text", ("--no-color",))):
        code, out, err = _plan_cli(root / fmt, CONFIG_BENIGN, BENIGN, *flags)
        assert code == 0, err
        outputs[fmt] = out
    assert counts(outputs["markdown"])["fences"] == 1 and "### 🛑 Destructive changes" in outputs["markdown"]
    return outputs


@pytest.mark.parametrize("side", ["config", "live", "both"])
def test_cli_markdown_and_text(tmp_path: Path, benign_cli: dict[str, str], side: str) -> None:
    config = CONFIG_HOSTILE if side != "live" else CONFIG_BENIGN
    live_text = ALL_HOSTILE if side != "config" else BENIGN
    code, markdown, err = _plan_cli(tmp_path / "md", config, live_text, "--markdown")
    assert code == 0, err
    assert structure(markdown) == structure(benign_cli["markdown"])
    assert counts(markdown) == counts(benign_cli["markdown"]) and raw_hidden(markdown) == []
    fence = next(t for t in MD.parse(markdown) if t.type == "fence")
    if side != "config":
        assert quoted("console " + ALL_HOSTILE) in fence.content  # the console-written description, deleted
    if side != "live":
        assert quoted(CONFIG_HOSTILE["rule1"]) in fence.content and quoted(CONFIG_HOSTILE["rule2"]) in fence.content
    code, text, err = _plan_cli(tmp_path / "txt", config, live_text)
    assert code == 0, err
    assert_clean_text(text, benign_cli["text"])
    shown = [quoted(v) for v in CONFIG_HOSTILE.values()] if side != "live" else [quoted("console " + ALL_HOSTILE)]
    assert all(s in text for s in shown)


def test_cli_show_markdown_of_a_saved_plan(tmp_path: Path, benign_cli: dict[str, str]) -> None:
    planfile = tmp_path / "plan.json"
    code, _, err = _plan_cli(tmp_path / "w", CONFIG_HOSTILE, ALL_HOSTILE, "--out", str(planfile))
    assert code == 0, err
    code, markdown, err = run("show", planfile, "--markdown")
    assert code == 0, err
    assert structure(markdown) == structure(benign_cli["markdown"]) and raw_hidden(markdown) == []


@pytest.mark.parametrize("name", ["fence", "ansi", "bidi", "controls"])
def test_cli_config_control_characters_never_reach_the_output(tmp_path: Path, benign_cli: dict[str, str], name: str) -> None:
    """Validation may refuse them (with `file:line`); if it lets them through, they are escaped."""
    for fmt, flags in (("markdown", ("--markdown",)), ("text", ())):
        config = {**CONFIG_BENIGN, "rule1": HOSTILE[name], "name": HOSTILE[name][:40]}
        code, out, err = _plan_cli(tmp_path / fmt, config, BENIGN, *flags)
        if code != 0:
            assert code == 1 and "main.sg.hcl:" in err and out == ""
            continue
        if fmt == "markdown":
            assert structure(out) == structure(benign_cli["markdown"]) and raw_hidden(out) == []
        else:
            assert_clean_text(out, benign_cli["text"])


# --- properties --------------------------------------------------------------------------------

FRAGMENTS = [
    "`", "```", "````", "~~~", "\n", "\r\n", "|", "\\", "\\|", "<", ">", "&", "&amp;", "&#96;", "</details>", "<details>",
    "<summary>", "*", "_", "[", "](", ")", "!", "#", "- ", "1. ", "> ", "    ", " ", "\t", ESC + "[31m", ESC + "]8;;x" + BEL,
    CSI8, "\x00", "\x85", "\u2028", "\u202e", "\u2066", "\u200b", "\xa0", "\u3000", "www.x.io", "https://x.io", "@u", "{0}",
]
hostile_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(st.characters(blacklist_categories=("Cs",)), max_size=4)), max_size=10
).map("".join)


def _inline(markdown: str) -> list[Token]:
    return [t for t in MD.parse(markdown) if t.type == "inline"]


def _plain(token: Token) -> str:
    return "".join(c.content for c in token.children or [])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_text)
def test_property_escapes_round_trip(s: str) -> None:
    """Each helper, in its context, parses back to exactly `visible(s)` in one piece."""
    shown = visible(s)
    assert raw_hidden(shown) == [] and "\n" not in shown
    row = MD.parse(f"| a | b |\n|---|---|\n| {md_code(s, in_table=True)} | {md_text(s)} |\n")
    assert sum(t.type == "td_open" for t in row) == 2
    code_cell, text_cell = [t for t in row if t.type == "inline"][2:]
    if shown:
        assert [c.type for c in code_cell.children] == ["code_inline"] and code_cell.children[0].content == shown
    assert {c.type for c in text_cell.children} <= {"text"} and _plain(text_cell) == shown
    items = _inline(f"- {md_text(s)}\n")  # data begins the block: no heading, list, quote or code
    assert len(items) == (1 if shown else 0)
    assert all(_plain(item) == shown and {c.type for c in item.children} <= {"text"} for item in items)
    (span,) = _inline(f"see {md_code(s)} here\n")
    if shown:
        assert [c.type for c in span.children] == ["text", "code_inline", "text"] and span.children[1].content == shown
    fence = [t for t in MD.parse("\n".join(md_fence(["+ " + s, s], "diff")) + "\nafter\n") if t.type == "fence"]
    assert len(fence) == 1 and fence[0].content == f"+ {shown}\n{shown}\n"
    assert re.sub(r"\\([\\\[\]])", r"\1", sarif_text(s)) == shown


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_text)
def test_property_plan_renderers(s: str) -> None:
    plan = build_plan(s)
    markdown = render_markdown(plan)
    assert structure(markdown) == structure(BENIGN_MD) and raw_hidden(markdown) == []
    assert_clean_text(render_plan(plan), render_plan(BENIGN_PLAN))
    assert _SGPLAN_COLOURS.sub("", render_plan(plan, color=True)) == render_plan(plan)


def test_visible_covers_every_hidden_code_point() -> None:
    """Every control, format, separator, private-use or unassigned code point is shown escaped.

    All assigned planes (0-3) and the tag/variation plane (14); the private-use planes and the
    empty planes 4-13 are sampled (their categories are uniform: Co, Cn)."""
    codes = [*range(0x40000), *range(0xE0000, 0xE1000), *range(0x40000, 0x110000, 0x1001)]
    for code in codes:
        ch = chr(code)
        if unicodedata.category(ch) in _HIDDEN_CATEGORIES and not 0xD800 <= code <= 0xDFFF:
            assert visible(ch).startswith("\\"), hex(code)
        elif unicodedata.category(ch) not in ("Zs", "Cs"):
            assert visible(ch) == ch, hex(code)
