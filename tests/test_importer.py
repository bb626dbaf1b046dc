"""The importer on model values: selection, labels, rules, references, bindings, layout."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgplan.diagnostics import Severity
from sgplan.importer import (
    BINDINGS_FILE,
    build,
    label_base,
    render_file,
    render_files,
    select,
    stack_for,
    unique_labels,
)
from sgplan.model import CloudState, Instance, Rule, SecurityGroup
from tests.hclfmt import hclfmt, unchanged

HCLFMT, WHY = hclfmt()


def group(gid: str, name: str, *, stack: str | None = None, default: bool = False, **kw) -> SecurityGroup:
    return SecurityGroup(name=name, id=gid, stack=stack, is_default=default, address="security_group.x" if stack else None, **kw)


def test_label_base() -> None:
    assert label_base("web-prod", "sg-1") == "web_prod"
    assert label_base("Web Prod (EU)", "sg-1") == "web_prod_eu"
    assert label_base("生产环境", "sg-abc123") == "sg_abc123"
    assert label_base("8080-open", "sg-1") == "sg_8080_open"
    assert label_base("--", "sg-1") == "sg_1"
    assert not label_base("x" * 100, "sg-1").endswith("_")
    assert len(label_base("x" * 100, "sg-1")) <= 64


def test_unique_labels_suffix_clashes_and_never_steal_a_free_name() -> None:
    labels = unique_labels([("sg-b", "web"), ("sg-a", "web"), ("sg-c", "web_2")])
    assert labels == {"sg-a": "web", "sg-b": "web_3", "sg-c": "web_2"}


@given(st.lists(st.tuples(st.from_regex(r"sg-[a-z0-9]{4}", fullmatch=True), st.sampled_from(["a", "a_2", "b", "a_3"])),
                unique_by=lambda kb: kb[0]))
def test_unique_labels_are_unique_and_valid(pairs: list[tuple[str, str]]) -> None:
    labels = unique_labels(pairs)
    assert set(labels) == {k for k, _ in pairs}
    assert len(set(labels.values())) == len(labels)


def test_select_skips_default_and_managed_groups_and_rejects_unknown_ids() -> None:
    groups = [group("sg-1", "a"), group("sg-2", "default", default=True), group("sg-3", "m", stack="prod"), group("sg-4", "b")]
    chosen, diags = select(groups, ["sg-4", "sg-9"], all_unmanaged=False)
    assert chosen == ["sg-4"]
    assert [d.severity for d in diags] == [Severity.ERROR]
    chosen, diags = select(groups, [], all_unmanaged=True)
    assert chosen == ["sg-1", "sg-4"]
    assert len(diags) == 2 and all(d.severity is Severity.WARNING for d in diags)
    assert "default group" in str(diags[0]) and "'prod'" in str(diags[1])


def test_stack_for_never_takes_a_stack_that_has_groups() -> None:
    assert stack_for([group("sg-1", "a"), group("sg-2", "b", stack="prod")]) == "imported"
    assert stack_for([group("sg-1", "a", stack="imported")]) == "imported_2"
    assert stack_for([group("sg-1", "a", stack="imported"), group("sg-2", "b", stack="imported_2")]) == "imported_3"
    assert stack_for([group("sg-1", "a", stack="imported")], "mine") == "mine"


LIVE = CloudState(
    region="ap-guangzhou",
    groups=(
        SecurityGroup(
            name="web-prod",
            description='public "web" ${tier}',
            project_id="1002",
            tags=(("cost-center", "42"), ("team", "web")),
            id="sg-web00001",
            ingress=(
                Rule(action="ACCEPT", protocol="TCP", port="80,443", cidr_block="0.0.0.0/0", description="HTTP"),
                Rule(action="ACCEPT", protocol="TCP", port="22", security_group_id="sg-bast0001"),
                Rule(action="DROP", protocol="ALL", ipv6_cidr_block="::/0"),
                Rule(action="ACCEPT", protocol="ICMP", security_group_id="sg-extern01"),
                Rule(action="ACCEPT", service_template_id="ppm-1", address_template_id="ipm-1"),
                Rule(action="ACCEPT", service_template_group_id="ppmg-1", address_template_group_id="ipmg-1"),
            ),
            egress=(Rule(action="ACCEPT", protocol="ALL", cidr_block="0.0.0.0/0"),),
        ),
        SecurityGroup(name="bastion", id="sg-bast0001", ingress=(Rule(action="ACCEPT", protocol="TCP", port="22", security_group_id="sg-bast0001"),)),
    ),
    instances=(
        Instance("ins-b", ("sg-web00001", "sg-bast0001")),
        Instance("ins-a", ("sg-web00001", "sg-bast0001")),
        Instance("ins-c", ("sg-extern01", "sg-web00001")),
        Instance("ins-d", ("sg-extern01",)),
    ),
)


def test_build_groups_labels_and_bindings() -> None:
    result = build(LIVE, ["sg-web00001", "sg-bast0001"])
    assert [label for label, _ in result.groups] == ["bastion", "web_prod"]
    assert [(b.label, b.instance_ids, b.security_groups) for b in result.bindings] == [
        ("web_prod", ("ins-c",), ("sg-extern01", "sg-web00001")),
        ("web_prod_bastion", ("ins-a", "ins-b"), ("sg-web00001", "sg-bast0001")),
    ]


def test_render_file_content() -> None:
    text = render_file(build(LIVE, ["sg-web00001", "sg-bast0001"]))
    assert 'security_group "web_prod" {' in text
    assert '  name        = "web-prod"\n  description = "public \\"web\\" $${tier}"\n  project_id  = 1002\n' in text
    assert '    "cost-center" = "42"\n    team          = "web"\n' in text
    assert '  id = "sg-web00001"' in text
    assert "security_group_id = security_group.bastion.id" in text
    assert 'security_group_id = "sg-extern01"' in text  # not imported: stays literal
    assert 'ipv6_cidr_block = "::/0"' in text
    assert 'service_template_group_id = "ppmg-1"' in text and 'address_template_group_id = "ipmg-1"' in text
    assert 'security_groups = ["sg-extern01", security_group.web_prod.id]' in text
    assert 'instance_ids    = ["ins-a", "ins-b"]' in text
    assert '\nsgplan {\n  stack = "imported"\n}' in text  # a stack is always written (issue 11)
    # Rules keep their exact order.
    web = text[text.index('security_group "web_prod"') :]
    ingress = [line for line in web.splitlines() if "port" in line]
    assert ingress.index('    port        = "80,443"') < ingress.index('    port              = "22"')
    hcl2.loads(text)


def test_render_files_splits_per_group() -> None:
    result = build(LIVE, ["sg-web00001", "sg-bast0001"])
    files = render_files(result)
    assert list(files) == ["bastion.sg.hcl", BINDINGS_FILE, "web_prod.sg.hcl"]
    assert 'binding "web_prod_bastion"' in files[BINDINGS_FILE]
    assert files["bastion.sg.hcl"].count("security_group ") == 1


def test_a_group_labelled_bindings_does_not_overwrite_the_bindings_file() -> None:
    live = CloudState(groups=(SecurityGroup(name="bindings", id="sg-1"),), instances=(Instance("ins-1", ("sg-1",)),))
    files = render_files(build(live, ["sg-1"]))
    assert set(files) == {"bindings_2.sg.hcl", BINDINGS_FILE}


def test_stack_block_written_only_when_needed() -> None:
    text = render_file(build(LIVE, ["sg-bast0001"], stack="imported"))
    assert 'sgplan {\n  stack = "imported"\n}' in text


@pytest.mark.skipif(HCLFMT is None, reason=WHY)
def test_hclfmt_accepts_the_generated_files(tmp_path: Path) -> None:
    result = build(LIVE, ["sg-web00001", "sg-bast0001"], stack="imported")
    paths = []
    for name, text in {**render_files(result), "all.sg.hcl": render_file(result)}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    assert unchanged(*paths) == (True, "")


def test_import_never_writes_through_a_planted_symlink(tmp_path) -> None:
    """A repository may commit a dangling symlink where import will write (issue 12 §2)."""
    import os

    import pytest

    from sgplan.cli.import_cmd import write_files
    from sgplan.diagnostics import UserError

    outside = tmp_path / "outside.txt"
    out = tmp_path / "repo"
    out.mkdir()
    os.symlink(outside, out / "imported.sg.hcl")
    with pytest.raises(UserError, match="already exists"):
        write_files({"imported.sg.hcl": "x"}, out)
    assert not outside.exists()
    write_files({"a.sg.hcl": "a", "b.sg.hcl": "b"}, out)
    assert (out / "a.sg.hcl").read_text() == "a" and not (out / "a.sg.hcl").is_symlink()


def test_import_reads_rule_sets_through_the_clients_map_like_plan(tmp_path: Path) -> None:
    """Issue 18: import's rule-set reads go through the client's `map` (the SDK client's
    rate-limited pool) exactly as plan's refresh does; the result is the same as one at a time."""
    import json

    from benchmarks.bench_import import estate
    from sgplan.cli.import_cmd import read_for_import
    from sgplan.fakecloud.filecloud import FileCloud

    state = tmp_path / "live.json"
    state.write_text(json.dumps(estate(6, 4)))

    class Mapping(FileCloud):
        mapped: list[str] = []

        def map(self, fn, items):  # type: ignore[no-untyped-def]
            items = list(items)
            self.mapped.extend(items)
            return [fn(item) for item in reversed(items)][::-1]  # any order inside, input order out

    parallel = read_for_import(Mapping(state), [], True)
    sequential = read_for_import(FileCloud(state), [], True)
    assert sorted(Mapping.mapped) == sorted(g.id for g in parallel[0].groups)
    assert parallel == sequential
