"""Flag declarations shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

Directory = typer.Argument(Path("."), help="Configuration directory.", show_default=True)
Vars = typer.Option([], "--var", metavar="NAME=VALUE", help="Set a variable (repeatable; later wins).")
VarFiles = typer.Option([], "--var-file", metavar="FILE", help="Read variables from a .tfvars file (repeatable).")
Cloud = typer.Option(None, "--cloud", metavar="CLOUD", help="tencent | http://HOST:PORT | file:PATH (env SGPLAN_CLOUD).")
Region = typer.Option(None, "--region", metavar="REGION", help="Region, e.g. ap-guangzhou (env TENCENTCLOUD_REGION).")
NoColor = typer.Option(False, "--no-color", help="Plain text output.")

OptStr = Optional[str]
StrList = List[str]


def color_wanted(no_color: bool) -> bool:
    """Colour only on a terminal, and never with --no-color, NO_COLOR (any non-empty value, as
    no-color.org defines it) or TERM=dumb."""
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def _set_quiet(value: bool) -> bool:
    # Called by click on every run (also when the flag is absent), so each command starts afresh.
    # The SDK client is not imported for it (a `file:` cloud never needs the SDK): it reads the
    # default when it is imported later in this run.
    from sgplan.cloud import base

    base.TERMINAL_PROGRESS_DEFAULT = not value
    tencent = sys.modules.get("sgplan.cloud.tencent")
    if tencent is not None:
        tencent.TERMINAL_PROGRESS = not value
    return value


Quiet = typer.Option(False, "--quiet", callback=_set_quiet,
                     help="No progress display (it is only shown when stderr is a terminal).")


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 group`, `2 groups`."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
