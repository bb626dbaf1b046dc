"""The user documentation is complete (issue 15): every block and attribute of the schema is in
docs/configuration.md, every command and option of the CLI is in docs/cli.md, and nothing a user
reads points at a document users do not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from sgplan.cli import app
from sgplan.config.schema import TOP_LEVEL, Spec

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
CLI = (ROOT / "docs" / "cli.md").read_text()


def _schema_items() -> list[tuple[str, str]]:
    """(where, name) for every block type and attribute, nested blocks included."""
    items: list[tuple[str, str]] = []

    def walk(where: str, spec: Spec) -> None:
        for attribute in sorted(spec.attributes or ()):
            items.append((where, attribute))
        for name, child in sorted(spec.blocks.items()):
            items.append((where, name))
            walk(f"{where}.{name}", child)

    for block, spec in sorted(TOP_LEVEL.items()):
        items.append(("top level", block))
        walk(block, spec)
    return items


@pytest.mark.parametrize(("where", "name"), _schema_items())
def test_every_schema_block_and_attribute_is_documented(where: str, name: str) -> None:
    # Documented means written as code (`name` or in an hcl example as `name =` / `name {`).
    pattern = rf"`{re.escape(name)}[` =]|^\s*{re.escape(name)}\s*(=|\{{|\")|\b{re.escape(name)} \""
    assert re.search(pattern, CONFIGURATION, re.MULTILINE), f"{where}: {name} is missing from docs/configuration.md"


def _cli_items() -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []

    def walk(path: str, command) -> None:  # click commands (typer builds them)
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            if param.param_type_name == "option":
                items.extend((path, opt) for opt in param.opts if opt.startswith("--"))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            items.append((path, f"{path} {name}".removeprefix("sgplan ")))
            walk(f"{path} {name}", sub)

    walk("sgplan", typer.main.get_command(app))
    return items


@pytest.mark.parametrize(("command", "option"), _cli_items())
def test_every_command_and_option_is_documented(command: str, option: str) -> None:
    if option.startswith("--"):
        section = _section(command.removeprefix("sgplan").strip()) if command != "sgplan" else CLI
        shared = _section("Options shared by several commands", level="##")
        assert f"`{option}" in section or f"{option}" in section.split("\n", 2)[2][:2000] or f"`{option}" in shared, \
            f"{command} {option} is missing from docs/cli.md"
    else:
        assert f"## {option}" in CLI, f"command {option} has no section in docs/cli.md"


def _section(title: str, level: str = "##") -> str:
    match = re.search(rf"^{level} {re.escape(title)}\n(.*?)(?=^## |\Z)", CLI, re.MULTILINE | re.DOTALL)
    assert match, f"docs/cli.md has no section {title!r}"
    return match.group(0)


def test_exit_codes_are_documented() -> None:
    section = _section("Exit codes")
    for code in ("`0`", "`1`", "`2`", "--detailed-exitcode"):
        assert code in section


def _user_facing() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").rglob("README.md")),
             *sorted((ROOT / "sgplan" / "modules").rglob("README.md"))]
    return [p for p in pages if p.exists()]


@pytest.mark.parametrize("page", _user_facing(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_to_the_internal_design_document(page: Path) -> None:
    assert "DESIGN" not in page.read_text(), f"{page.relative_to(ROOT)} cites DESIGN, which users do not have"


def test_help_texts_do_not_cite_design() -> None:
    texts = []

    def walk(command) -> None:
        texts.append(command.help or "")
        texts.extend(getattr(p, "help", "") or "" for p in command.params)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    assert not [t for t in texts if "DESIGN" in t]
