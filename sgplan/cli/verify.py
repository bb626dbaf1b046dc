"""`sgplan verify`: the configuration's contracts and the built-in checks against the live cloud
only, for scheduled drift and compliance jobs (issue 16). Nothing is planned or changed."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sgplan.cli import options
from sgplan.cli.check import FAIL_ON, _relative_base, check_fail_on
from sgplan.cli.plan import report_violations
from sgplan.cli.workflow import load_workspace, open_for, read_live_for, var_inputs_in_order
from sgplan.render.escape import visible
from sgplan.safefs import write_output


def verify_live(ws, live) -> tuple[list, list]:
    """(contract results, findings) on the live state alone."""
    from sgplan.analysis.access import Evaluator
    from sgplan.analysis.checks import run_checks
    from sgplan.analysis.contracts import ContractChecker, bound_instances
    from sgplan.analysis.planned import live_view

    desired = ws.settings_desired
    view = live_view(live, desired.groups)
    evaluator = Evaluator(view.templates)
    results = ContractChecker(evaluator).check(view, desired.expects, bound_instances(desired.bindings))
    return results, run_checks(view, evaluator=evaluator)


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        directory: Path = options.Directory,
        as_json: bool = typer.Option(False, "--json", help="Contract results and findings as JSON."),
        sarif: Path = typer.Option(None, "--sarif", metavar="FILE", help="Also write violations and findings as SARIF 2.1.0 to FILE."),
        fail_on: options.OptStr = typer.Option(None, "--fail-on", metavar="LEVEL", help="Also exit 1 when a finding at or above low|medium|high exists."),
        cloud: options.OptStr = options.Cloud,
        quiet: bool = options.Quiet,
        region: options.OptStr = options.Region,
        var: options.StrList = options.Vars,
        var_file: options.StrList = options.VarFiles,
    ) -> None:
        """Prove the configuration's contracts (and run the checks) on the live cloud; exit 1 on a violation."""
        from sgplan.analysis.checks import fails
        from sgplan.render.text import contract_line

        check_fail_on(fail_on)
        ws = load_workspace(directory, var_inputs_in_order(var, var_file) if var or var_file else [],
                            cloud_flag=cloud, region_flag=region)
        client = open_for(ws)
        try:
            live = read_live_for(ws, client)
        finally:
            client.close()
        results, findings = verify_live(ws, live)
        violated = [r for r in results if r.violated]
        if sarif is not None:
            from sgplan.render.sarif import render_sarif

            write_output(sarif, render_sarif(findings, base=_relative_base(directory), contracts=results))
        if as_json:
            counts = {s: sum(1 for f in findings if f.severity == s) for s in FAIL_ON}
            typer.echo(json.dumps({
                "region": live.region,
                "contract_results": [r.to_json() for r in results],
                "findings": [f.to_json() for f in findings],
                "summary": {"contracts": len(results), "violated": len(violated), "findings": counts},
            }, indent=2))
        else:
            for result in results:
                typer.echo(visible(contract_line(result)))
            for finding in findings:
                typer.echo(visible(str(finding)))
            if not results and not findings:
                typer.echo("No contracts and no findings.")
            typer.echo(f"\n{len(results) - len(violated)} of {len(results)} contract(s) hold; {len(findings)} finding(s).")
        if violated:
            report_violations(violated)
            raise typer.Exit(1)
        if fails(findings, fail_on.lower() if fail_on else None):
            raise typer.Exit(1)
