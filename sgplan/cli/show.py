"""`sgplan show PLANFILE`: render a saved plan."""

from __future__ import annotations

from pathlib import Path

import typer

from sgplan.cli.plan import output_format, render
from sgplan.plan.planfile import read_plan


def register(app: typer.Typer) -> None:
    @app.command()
    def show(
        planfile: Path = typer.Argument(..., help="A plan saved with `sgplan plan --out`."),
        as_json: bool = typer.Option(False, "--json"),
        markdown: bool = typer.Option(False, "--markdown"),
        no_color: bool = typer.Option(False, "--no-color"),
    ) -> None:
        """Show a saved plan as text, JSON or markdown."""
        typer.echo(render(read_plan(planfile), output_format(as_json, markdown), color=False))
