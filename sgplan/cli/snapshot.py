"""`sgplan snapshot`: record a cloud's groups, rules, instances and templates as a fake state file."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from sgplan.cli import options


def register(app: typer.Typer) -> None:
    @app.command()
    def snapshot(
        out: Path = typer.Option(..., "--out", metavar="FILE", help="State file to write (JSON; the format is docs/state-file.md)."),
        cloud: options.OptStr = options.Cloud,
        quiet: bool = options.Quiet,
        region: options.OptStr = options.Region,
    ) -> None:
        """Record the live cloud into a state file that `--cloud file:FILE` can replay."""
        from sgplan.backends import open_client
        from sgplan.cloud.snapshot import snapshot as record
        from sgplan.cloud.snapshot import write_state

        spec = cloud or os.environ.get("SGPLAN_CLOUD") or "tencent"
        client = open_client(spec, region or os.environ.get("TENCENTCLOUD_REGION") or None)
        try:
            state = record(client)
        finally:
            client.close()
        write_state(out, state)
        typer.echo(
            f"Recorded {len(state['SecurityGroups'])} security groups and {len(state['Instances'])} "
            f"instances to {out}."
        )
