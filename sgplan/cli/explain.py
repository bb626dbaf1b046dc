"""`sgplan explain`: which rule in which group decides one packet on an instance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from sgplan.cli import options
from sgplan.cli.workflow import evaluate_against, load_workspace, make_plan_for, open_for, var_inputs_in_order
from sgplan.diagnostics import UserError
from sgplan.render.escape import visible


def register(app: typer.Typer) -> None:
    @app.command()
    def explain(
        directory: Path = options.Directory,
        instance: str = typer.Option(..., "--instance", help="Instance id, e.g. ins-aaaa1111."),
        direction: str = typer.Option(..., "--direction", help="ingress | egress"),
        protocol: str = typer.Option(..., "--protocol", help="TCP | UDP | ICMP | ICMPv6 | GRE"),
        port: int = typer.Option(None, "--port", help="Port (TCP and UDP)."),
        peer: str = typer.Option(..., "--peer", help="Peer IP address, or sg-… for members of a group."),
        before: bool = typer.Option(False, "--before", help="Explain on the live state instead of the planned one."),
        as_json: bool = typer.Option(False, "--json", help="The decision as JSON (docs/cli.md#explain)."),
        cloud: options.OptStr = options.Cloud,
        quiet: bool = options.Quiet,
        region: options.OptStr = options.Region,
        var: options.StrList = options.Vars,
        var_file: options.StrList = options.VarFiles,
    ) -> None:
        """Show the first rule, across the instance's groups in binding order, that decides a packet."""
        from sgplan.analysis import after_view, before_view
        from sgplan.analysis.explain import explain as decide
        from sgplan.analysis.explain import parse_packet
        from sgplan.model import Direction

        if direction.lower() not in ("ingress", "egress"):
            raise UserError(f"--direction must be ingress or egress, not {direction!r}")
        try:
            parse_packet(protocol, port, peer)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        ws = load_workspace(directory, var_inputs_in_order(var, var_file) if var or var_file else [], cloud_flag=cloud, region_flag=region)
        client = open_for(ws)
        try:
            plan, live = make_plan_for(ws, client)
        finally:
            client.close()
        if before:
            view = before_view(live)
        else:
            view = after_view(plan, live, evaluate_against(ws, live).groups)
        if instance not in view.instances:
            raise UserError(f"instance {instance} does not exist")
        keys = view.instances[instance]
        missing = [k for k in keys if k not in view.groups]
        if missing:
            print(f"warning: {instance} carries {', '.join(missing)}, which sgplan did not read: "
                  "the answer ignores their rules", file=sys.stderr)
        groups = [view.groups[k] for k in keys if k in view.groups]
        result = decide(groups, Direction(direction.lower()), protocol, port, peer,
                        templates=view.templates, instance_id=instance)
        typer.echo(json.dumps(result.to_json(), indent=2) if as_json else visible(str(result)))
