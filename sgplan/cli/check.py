"""`sgplan check`: policy findings and contract results on the state the configuration leads to
(text, JSON, SARIF); a violated contract exits 1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from sgplan.cli import options
from sgplan.cli.workflow import evaluate_against, load_workspace, make_plan_for, open_for, var_inputs_in_order
from sgplan.diagnostics import UserError
from sgplan.render.escape import visible
from sgplan.safefs import write_output

FAIL_ON = ("low", "medium", "high")


def check_fail_on(fail_on: str | None) -> None:
    """`--fail-on` of check and verify: one of FAIL_ON (any case) or absent."""
    if fail_on is not None and fail_on.lower() not in FAIL_ON:
        raise UserError(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        directory: Path = options.Directory,
        as_json: bool = typer.Option(False, "--json", help="Findings as JSON."),
        sarif: Path = typer.Option(None, "--sarif", metavar="FILE", help="Also write the findings as SARIF 2.1.0 to FILE."),
        fail_on: options.OptStr = typer.Option(None, "--fail-on", metavar="LEVEL", help="Exit 1 when a finding at or above low|medium|high exists."),
        cloud: options.OptStr = options.Cloud,
        quiet: bool = options.Quiet,
        region: options.OptStr = options.Region,
        var: options.StrList = options.Vars,
        var_file: options.StrList = options.VarFiles,
    ) -> None:
        """Report risky or useless rules (after first-match evaluation, per instance and group)."""
        from sgplan.analysis import after_view, fails, run_checks
        from sgplan.analysis.findings_cache import cached_findings

        check_fail_on(fail_on)
        ws = load_workspace(directory, var_inputs_in_order(var, var_file) if var or var_file else [], cloud_flag=cloud, region_flag=region)
        client = open_for(ws)
        try:
            plan, live = make_plan_for(ws, client)
        finally:
            client.close()
        desired = evaluate_against(ws, live)  # the plan's own evaluation: check evaluates once
        keys = ws.cache_keys(live)
        # Whole-estate findings: from the previous run when configuration and state are unchanged.
        findings = cached_findings(directory, keys, ws.cloud_spec, ws.region or live.region,
                                   lambda: run_checks(after_view(plan, live, desired.groups)))
        if sarif is not None:
            from sgplan.render.sarif import render_sarif

            text = render_sarif(findings, base=_relative_base(directory), contracts=plan.contract_results)
            write_output(sarif, text)
        if as_json:
            counts = {s: sum(1 for f in findings if f.severity == s) for s in FAIL_ON}
            out = {"findings": [f.to_json() for f in findings], "summary": counts}
            if plan.contract_results:
                out["contract_results"] = [r.to_json() for r in plan.contract_results]
            typer.echo(json.dumps(out, indent=2))
        elif findings:
            for finding in findings:
                typer.echo(visible(str(finding)))
        else:
            typer.echo("No findings.")
        if not as_json and plan.contract_results:
            from sgplan.render.text import contract_line

            for result in plan.contract_results:
                typer.echo(visible(contract_line(result)))
        if plan.violated_contracts:  # a violated contract is an error whatever --fail-on says
            from sgplan.cli.plan import report_violations

            report_violations(plan.violated_contracts)
            raise typer.Exit(1)
        if fails(findings, fail_on.lower() if fail_on else None):
            raise typer.Exit(1)


def _relative_base(directory: Path) -> str:
    """The configuration directory as SARIF viewers resolve it: relative to where we run."""
    try:
        base = os.path.relpath(directory.resolve(), Path.cwd())
    except ValueError:  # another drive on Windows
        base = str(directory.resolve())
    return "" if base == "." else base.replace(os.sep, "/")
