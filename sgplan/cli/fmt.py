"""`sgplan fmt`: rewrite configuration files canonically (comments kept); `--check` only lists."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from sgplan.cli.workflow import print_diagnostics
from sgplan.diagnostics import UserError
from sgplan.hcl.format import format_files, targets


def register(app: typer.Typer) -> None:
    @app.command()
    def fmt(
        paths: List[Path] = typer.Argument(None, help="Files or directories (recursive); default: the current directory."),
        check: bool = typer.Option(False, "--check", help="Change nothing; list files that need formatting, exit 1 if any."),
    ) -> None:
        """Format *.sg.hcl, *.hcl, *.tf and *.tfvars files as hclfmt / terraform fmt lay them out."""
        paths_given = list(paths or [Path(".")])
        for path in paths_given:
            if not path.exists():
                raise UserError(f"{path}: no such file or directory")
        changed, diags = format_files(targets(paths_given), write=not check)
        print_diagnostics(diags)
        for path in changed:
            typer.echo(str(path))
        if diags or (check and changed):
            raise typer.Exit(1)
