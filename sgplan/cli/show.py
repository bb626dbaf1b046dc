"""`sgplan show PLANFILE`: render a saved plan."""

from __future__ import annotations

from pathlib import Path

import typer

from sgplan.cli import options
from sgplan.cli.plan import output_format, render
from sgplan.plan.planfile import read_plan


def register(app: typer.Typer) -> None:
    @app.command()
    def show(
        planfile: Path = typer.Argument(..., metavar="PLANFILE", help="A plan saved with `sgplan plan --out`."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable plan (Terraform's plan JSON format)."),
        markdown: bool = typer.Option(False, "--markdown", help="Markdown for a pull-request comment."),
        no_color: bool = options.NoColor,
    ) -> None:
        """Show a saved plan as text, JSON or markdown."""
        typer.echo(render(read_plan(planfile), output_format(as_json, markdown), color=options.color_wanted(no_color)))
