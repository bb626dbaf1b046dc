"""What a reviewer reads (issue 15): exposure as a person states it, a markdown comment GitHub
colours, wording shared with the text plan, binding diffs by address and name."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from markdown_it import MarkdownIt

from sgplan.analysis.exposure import ExposureChange, describe_peers, summarize
from sgplan.analysis.space import interval_cidrs
from sgplan.render.markdown import render_markdown
from sgplan.render.plan_json import plan_to_json
from sgplan.render.text import binding_diff, render_plan
from tests.render.plan_samples import changed_plan


def _addr(text: str) -> int:
    return int(ipaddress.ip_address(text))


def _narrowing() -> list[ExposureChange]:
    """UDP 123 egress from 0.0.0.0/0 narrowed to 10.0.0.10/32: 32 exact CIDR pieces."""
    peers = interval_cidrs("v4", 0, _addr("10.0.0.9")) + interval_cidrs("v4", _addr("10.0.0.11"), 2**32 - 1)
    assert len(peers) == 32
    return [ExposureChange(i, "egress", "UDP", "123", p, "closed") for i in ("ins-a", "ins-b") for p in peers]


def test_narrowing_is_one_line_in_text_markdown_and_json() -> None:
    plan = replace(changed_plan(), exposure_changes=tuple(_narrowing()))
    text = render_plan(plan)
    section = text.split("Exposure changes:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section == ["  ins-a, ins-b: UDP 123 to 0.0.0.0/0 except 10.0.0.10/32: closed"]
    markdown = render_markdown(plan)
    rows = [line for line in markdown.splitlines() if line.startswith("| `ins-")]
    assert rows == ["| `ins-a`, `ins-b` | egress | UDP | 123 | `0.0.0.0/0` except `10.0.0.10/32` |"]
    doc = plan_to_json(plan)
    assert len(doc["exposure_changes"]) == 64  # the exact pieces stay
    (summary,) = doc["exposure_summary"]
    assert summary["peers"] == ["0.0.0.0/0"] and summary["except"] == ["10.0.0.10/32"]
    assert summary["instance_ids"] == ["ins-a", "ins-b"] and summary["effect"] == "closed"


def test_shortest_description_is_exact_and_numeric() -> None:
    assert describe_peers(["192.168.0.0/16", "10.0.0.0/8", "9.0.0.0/8"]) == (("9.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16"), ())
    assert describe_peers(["10.0.0.0/25", "10.0.0.128/25"]) == (("10.0.0.0/24",), ())
    # Two holes: still shorter than the 30-odd pieces.
    peers = (interval_cidrs("v4", 0, _addr("10.0.0.9")) + interval_cidrs("v4", _addr("10.0.0.11"), _addr("172.16.0.0") - 1)
             + interval_cidrs("v4", _addr("172.16.0.1"), 2**32 - 1))
    assert describe_peers(peers) == (("0.0.0.0/0",), ("10.0.0.10/32", "172.16.0.0/32"))
    assert describe_peers(["::/1", "8000::/1", "sg-b", "sg-a"]) == (("::/0", "sg-a", "sg-b"), ())


def test_summary_covers_exactly_the_pieces() -> None:
    pieces = _narrowing()
    for line in summarize(pieces):
        covered = {ipaddress.ip_network(p) for p in line.peers}
        holes = {ipaddress.ip_network(p) for p in line.excepted}
        for piece in line.pieces:
            net = ipaddress.ip_network(piece.peer)
            assert any(net.subnet_of(c) for c in covered) and not any(net.overlaps(h) for h in holes)


def test_binding_diff_shows_the_moved_group() -> None:
    lines = binding_diff(["sg-a", "sg-b", "sg-c"], ["sg-b", "sg-a", "sg-c"])
    moved = [v for m, v in lines if m == "-"]
    assert len(moved) == 1 and ("+", moved[0]) in lines and lines[-1] == (" ", "sg-c")
    assert [v for m, v in lines if m != "-"] == ["sg-b", "sg-a", "sg-c"]  # the new order reads top-down
    assert [v for m, v in lines if m != "+"] == ["sg-a", "sg-b", "sg-c"]  # and the old one
    text = render_plan(changed_plan())
    assert '+ module.web.security_group.this ("web", (known after apply))' in text
    assert '  security_group.ssh ("ssh-prod", sg-ssh00001)' in text
    assert '- security_group.legacy ("legacy", sg-legacy01)' in text
    assert "binding.(unbind)" not in text and "1 groups" not in text


# GitHub highlights ```diff with the TextMate diff grammar: a line is coloured by its first
# character only (markup.inserted `^\+`, markup.deleted `^-`, markup.changed `^!`).
_GRAMMAR = [(re.compile(r"^\+"), "inserted"), (re.compile(r"^-"), "deleted"), (re.compile(r"^!"), "changed")]


def _highlight(code: str, lang: str, attrs: str) -> str:
    if lang != "diff":
        return ""
    out = []
    for line in code.rstrip("\n").split("\n"):
        kind = next((k for rx, k in _GRAMMAR if rx.match(line)), None)
        out.append(f'<span class="markup {kind}">{line}</span>' if kind else line)
    return "<pre><code class=\"language-diff\">" + "\n".join(out) + "\n</code></pre>\n"


def test_markdown_renders_with_coloured_diff_header_and_text_wording() -> None:
    plan = replace(changed_plan(), exposure_changes=tuple(_narrowing()))
    markdown = render_markdown(plan)
    html = MarkdownIt("commonmark", {"highlight": _highlight}).enable("table").render(markdown)
    assert "<strong>Stack</strong> <code>prod</code>" in html and "<code>ap-guangzhou</code>" in html
    assert "<table>" in html
    text_lines = render_plan(plan).splitlines()
    coloured = re.findall(r'<span class="markup (\w+)">(.*?)</span>', html)
    kinds = {k for k, _ in coloured}
    assert kinds == {"inserted", "deleted", "changed"}
    # Every change line of the text plan is coloured, and reads the same words after its marker.
    for kind, line in coloured:
        body = line[1:].strip().replace("&quot;", '"').replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
        assert any(t.strip() == body for t in text_lines), body
    marked = [t for t in text_lines if re.match(r"^\s+(\+|-|~|-/\+) ", t) and not t.lstrip().startswith(("+ ", "- ")) is None]
    assert len(coloured) == len([t for t in text_lines if re.match(r"^\s+(-/\+|<=~|<=|\+|-|~) ", t)])
    # The closing line reads as the text plan's.
    assert "1 to add, 3 to change, 1 to destroy" in markdown and "1 to add, 3 to change, 1 to destroy" in text_lines[-1]
    del marked


NARROWING = """
sgplan {{ stack = "ntp" }}
security_group "ntp" {{
  egress {{
    action     = "ACCEPT"
    protocol   = "UDP"
    port       = "123"
    cidr_block = "{peer}"
  }}
  egress {{
    action     = "DROP"
    protocol   = "ALL"
    cidr_block = "0.0.0.0/0"
  }}
}}
binding "servers" {{
  instance_ids    = ["ins-aaaa1111", "ins-bbbb2222"]
  security_groups = [security_group.ntp.id]
}}
"""


def test_narrowing_through_the_cli_is_one_line(tmp_path) -> None:
    import json

    from tests.e2e.cli import run

    (tmp_path / "live.json").write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [], "Instances": [
        {"InstanceId": "ins-aaaa1111", "SecurityGroupIds": []}, {"InstanceId": "ins-bbbb2222", "SecurityGroupIds": []}]}))
    config = tmp_path / "main.sg.hcl"
    config.write_text(NARROWING.format(peer="0.0.0.0/0"))
    cloud = ("--cloud", f"file:{tmp_path / 'live.json'}", "--region", "ap-guangzhou")
    assert run("apply", tmp_path, *cloud, "--auto-approve")[0] == 0
    config.write_text(NARROWING.format(peer="10.0.0.10/32"))
    code, text, err = run("plan", tmp_path, *cloud, "--no-color")
    assert code == 0, err
    section = text.split("Exposure changes:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section == ["  ins-aaaa1111, ins-bbbb2222: UDP 123 to 0.0.0.0/0 except 10.0.0.10/32: closed"]
    code, markdown, err = run("plan", tmp_path, *cloud, "--markdown")
    rows = [line for line in markdown.splitlines() if line.startswith("| `ins-")]
    assert len(rows) == 1 and "`0.0.0.0/0` except `10.0.0.10/32`" in rows[0]
    code, out, err = run("plan", tmp_path, *cloud, "--json")
    doc = json.loads(out)
    assert len(doc["exposure_changes"]) == 64 and len(doc["exposure_summary"]) == 1
