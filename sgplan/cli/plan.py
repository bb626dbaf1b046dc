"""`sgplan plan`: compare the configuration with the live cloud and show what would change."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import typer

from sgplan.cli import options
from sgplan.cli.workflow import load_workspace, make_plan_for, open_for, var_inputs_in_order
from sgplan.plan.planfile import write_plan
from sgplan.render.escape import visible


def render(plan, fmt: str, color: bool) -> str:
    """The plan as text, JSON or markdown."""
    if fmt == "json":
        from sgplan.render.plan_json import plan_to_json

        # One compact line, as `terraform show -json` prints it; `indent` would also force
        # json's pure-Python encoder (about 2 s on a 2,000-group plan).
        return json.dumps(plan_to_json(plan), separators=(",", ":"))
    if fmt == "markdown":
        from sgplan.render.markdown import render_markdown

        return render_markdown(plan)
    from sgplan.render.text import render_plan

    return render_plan(plan, color=color)


def report_violations(results) -> None:
    """One `file:line: message` line per violated contract on stderr (the expect block's line;
    the message names the deciding rule and its line)."""
    for result in results:
        where = f"{result.origin.file}:{result.origin.line}: " if result.origin is not None else ""
        cx = result.counterexample
        rule_at = f" ({cx.origin.file}:{cx.origin.line})" if cx is not None and cx.origin is not None else ""
        print(visible(f"{where}{result.message()}{rule_at}"), file=sys.stderr)


def recorded_directory(directory: Path) -> str:
    """The configuration directory as a saved plan records it: relative to the current directory
    when inside it (CI checks out the same tree again to apply), else absolute."""
    resolved = directory.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def output_format(as_json: bool, markdown: bool) -> str:
    if as_json and markdown:
        raise typer.BadParameter("choose one of --json and --markdown")
    return "json" if as_json else "markdown" if markdown else "text"


def register(app: typer.Typer) -> None:
    @app.command()
    def plan(
        directory: Path = options.Directory,
        var: options.StrList = options.Vars,
        var_file: options.StrList = options.VarFiles,
        cloud: options.OptStr = options.Cloud,
        quiet: bool = options.Quiet,
        region: options.OptStr = options.Region,
        out: Path = typer.Option(None, "--out", metavar="PLANFILE", help="Save the plan for `sgplan apply PLANFILE`."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable plan (terraform show -json shape)."),
        markdown: bool = typer.Option(False, "--markdown", help="Markdown for a pull-request comment."),
        detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="Exit 2 when there are changes."),
        no_color: bool = options.NoColor,
        verbose: bool = typer.Option(False, "--verbose", help="Report API call counts."),
    ) -> None:
        """Show the changes that would make the cloud match the configuration."""
        fmt = output_format(as_json, markdown)
        ws = load_workspace(directory, var_inputs_in_order(var, var_file), cloud_flag=cloud, region_flag=region)
        client = open_for(ws)
        try:
            result, _live = make_plan_for(ws, client)
        finally:
            client.close()
        if verbose:
            print(f"API calls: {client.calls} (+{client.retries} retries)", file=sys.stderr)
        color = fmt == "text" and options.color_wanted(no_color)
        typer.echo(render(result, fmt, color))
        if result.violated_contracts:
            # A violated contract is an error, --detailed-exitcode included; no plan file is
            # written, so nothing can apply it (apply re-checks in any case).
            report_violations(result.violated_contracts)
            raise typer.Exit(1)
        if out is not None:
            write_plan(out, replace(result, config_dir=recorded_directory(directory)))
            if fmt == "text":
                typer.echo(f"\nSaved the plan to {out}. Apply it with: sgplan apply {out}")
        if detailed_exitcode and result.has_changes:
            raise typer.Exit(2)
