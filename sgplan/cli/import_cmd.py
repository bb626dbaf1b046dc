"""`sgplan import`: write HCL for existing groups, after checking that it plans empty."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import List, Mapping

import typer

from sgplan import importer
from sgplan.backends import open_client
from sgplan.cli import options
from sgplan.cli.workflow import ConfigErrors, managed_ids, print_diagnostics
from sgplan.cloud import ApiClient
from sgplan.diagnostics import UserError, has_errors
from sgplan.model import CloudState

_FILE_SUFFIXES = (".hcl", ".tf")


def read_for_import(
    client: ApiClient, ids: List[str], all_unmanaged: bool, stack: str | None = None
) -> tuple[CloudState, list[str], str]:
    """(live state as `plan` will see it, ids to import, stack for the generated config)."""
    from sgplan.cloud.reader import read_live, to_group
    from sgplan.cloud.snapshot import paged

    # One listing tells which groups are default or already managed, before any rule is read.
    listing = [to_group(g, {}) for g in paged(client, "vpc", "DescribeSecurityGroups", "SecurityGroupSet")]
    chosen, diags = importer.select(listing, ids, all_unmanaged)
    print_diagnostics(diags)
    if has_errors(diags):
        raise ConfigErrors()
    if not chosen:
        raise UserError("nothing to import")
    stack = importer.stack_for(listing, stack)
    # Exactly what `sgplan plan` on the generated configuration reads: its stack's groups plus
    # the pinned ones, every instance, the templates.
    # The rule-set reads run as plan's do (workflow.read_live_for): in parallel on the SDK
    # client's pool, under its per-action rate limits; other backends fall back to `map`.
    live = read_live(client, stack=stack, pinned_ids=chosen, with_templates=True,
                     map_fn=getattr(client, "map", map))
    return live, chosen, stack


def check_plan_is_empty(files: Mapping[str, str], live: CloudState, *, stack: str, cloud: str, region: str) -> None:
    """Load the generated files as a configuration and plan them against `live`; print the
    diff and raise ConfigErrors unless nothing would change."""
    from sgplan.config import load_configuration
    from sgplan.plan import make_plan

    with tempfile.TemporaryDirectory(prefix="sgplan-import-") as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text, encoding="utf-8")
        # A throw-away directory: a parse cache written there would only cost time (~6 s of a
        # 1,000-group import, mostly pickling).
        cfg, diags = load_configuration(Path(tmp), var_inputs=[], env={}, cache=False)
        desired = None
        if cfg is not None and not has_errors(diags):
            desired, more = cfg.evaluate(managed_ids(live, stack))
            diags = list(diags) + list(more)
    if desired is None or has_errors(diags):
        print("error: the generated configuration does not load (a bug in sgplan import):", file=sys.stderr)
        print_diagnostics(diags)
        raise ConfigErrors()
    plan, diags = make_plan(desired, live, cloud=cloud, region=region)
    if plan is None or has_errors(diags):
        print_diagnostics(diags)
        raise ConfigErrors()
    if plan.has_changes:
        print(_render_plan(plan), file=sys.stderr)
        print("error: the generated configuration does not plan empty against the live state; nothing written",
              file=sys.stderr)
        raise ConfigErrors()


def _render_plan(plan: object) -> str:
    try:
        from sgplan.render.text import render_plan
    except ImportError:  # pragma: no cover - while the text renderer is being written
        return repr(plan)
    return render_plan(plan, color=False)


def _is_file_target(out: Path) -> bool:
    return out.is_file() or (not out.is_dir() and out.name.endswith(_FILE_SUFFIXES))


def write_files(files: Mapping[str, str], directory: Path) -> None:
    """Write new files, never over anything that exists — a file, or a symlink (even a dangling
    one) that a repository planted to redirect the write (issue 12): O_CREAT|O_EXCL|O_NOFOLLOW."""
    from sgplan.safefs import create_new

    existing = [name for name in files if os.path.lexists(directory / name)]
    if existing:
        raise UserError(f"{directory / existing[0]} already exists; import writes only new files")
    directory.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for name, text in files.items():
            if not create_new(dir_fd, name, text.encode("utf-8")):
                raise UserError(f"{directory / name} already exists; import writes only new files")
    finally:
        os.close(dir_fd)


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_(
        sg_ids: List[str] = typer.Argument(None, help="Security group ids to import."),
        all_unmanaged: bool = typer.Option(False, "--all-unmanaged", help="Import every group no stack manages."),
        out: Path = typer.Option(None, "--out", metavar="FILE|DIR", help="FILE (*.hcl, *.tf) or DIR (one file per group); default stdout."),
        stack: options.OptStr = typer.Option(
            None, "--stack", help="Stack of the generated configuration (default: imported, or imported_N if taken)."),
        cloud: options.OptStr = options.Cloud,
        quiet: bool = options.Quiet,
        region: options.OptStr = options.Region,
    ) -> None:
        """Write HCL that pins existing groups (and their instance bindings), checked to plan empty."""
        ids = list(sg_ids or [])
        if not ids and not all_unmanaged:
            raise UserError("name the groups to import (SG_ID …) or pass --all-unmanaged")
        spec = cloud or os.environ.get("SGPLAN_CLOUD") or "tencent"
        region = region or os.environ.get("TENCENTCLOUD_REGION") or None
        client = open_client(spec, region)
        try:
            live, chosen, stack = read_for_import(client, ids, all_unmanaged, stack)
        finally:
            client.close()
        result = importer.build(live, chosen, stack)
        split = out is not None and not _is_file_target(out)
        files = importer.render_files(result) if split else {"imported.sg.hcl": importer.render_file(result)}
        check_plan_is_empty(
            files, live, stack=stack, cloud=spec, region=region or live.region
        )
        if out is None:
            sys.stdout.write(files["imported.sg.hcl"])
        elif split:
            write_files(files, out)
            print(f"Imported {options.count(len(result.groups), 'group')} into {out}/ ({options.count(len(files), 'file')}).",
                  file=sys.stderr)
        else:
            write_files({out.name: files["imported.sg.hcl"]}, out.parent)
            print(f"Imported {options.count(len(result.groups), 'group')} into {out}.", file=sys.stderr)
