"""`sgplan validate`: check the configuration without touching any cloud."""

from __future__ import annotations

from pathlib import Path

import typer

from sgplan.cli import options
from sgplan.cli.workflow import load_workspace, print_diagnostics, var_inputs_in_order


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        directory: Path = options.Directory,
        var: options.StrList = options.Vars,
        var_file: options.StrList = options.VarFiles,
    ) -> None:
        """Check syntax, references, types and every rule of the schema; needs no cloud."""
        ws = load_workspace(directory, var_inputs_in_order(var, var_file))
        print_diagnostics(ws.warnings)
        groups = len(ws.settings_desired.groups)
        bindings = len(ws.settings_desired.bindings)
        typer.echo(f"Success! The configuration is valid ({options.count(groups, 'group')}, "
                   f"{options.count(bindings, 'instance binding')}).")
