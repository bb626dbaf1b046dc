"""`sgplan apply`: make the planned changes, from a directory or from a saved plan."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from sgplan.backends import open_client
from sgplan.cli import options
from sgplan.cli.plan import render, report_violations
from sgplan.cli.workflow import (
    VarInputs,
    Workspace,
    load_workspace,
    make_plan_for,
    print_diagnostics,
    var_inputs_in_order,
)
from sgplan.cloud import ApiClient
from sgplan.diagnostics import UserError
from sgplan.plan.plan import Plan
from sgplan.render.escape import visible
from sgplan.render.text import render_applied

if TYPE_CHECKING:  # imported where used: the apply package is not needed to start the CLI
    from sgplan.apply.guard import Scope

DEFAULT_PARALLELISM = 8


def destructive_changes(plan) -> list[str]:
    """Addresses that delete a group or leave an instance with no groups (DESIGN §6 guard).

    Issue 4 words it "removes bindings"; DESIGN §6 (the contract, which wins) says "leaves an
    instance with no groups", so an instance that only swaps or loses one of several groups does
    not need --allow-destroy.
    """
    found = []
    for change in plan.resource_changes:
        if "delete" in change.actions and change.type == "security_group":
            found.append(change.address)
        elif change.type == "binding" and change.after is not None and not change.after.get("security_groups"):
            found.append(change.address)
    return found


def parse_rate_limits(values: list[str]) -> dict[str, float]:
    """`--rate-limit` values: `N` (every action) or `Action=N`, calls per second; later wins.

    >>> parse_rate_limits(["ModifyInstancesAttribute=2"])
    {'ModifyInstancesAttribute': 2.0}
    """
    from sgplan.cloud.ratelimit import DEFAULT_RATE_LIMITS

    limits: dict[str, float] = {}
    for value in values:
        action, _, number = value.rpartition("=")
        try:
            rate = float(number)
        except ValueError:
            rate = 0.0
        if rate <= 0:
            raise UserError(f"--rate-limit {value!r}: expected N or Action=N with N > 0 calls per second")
        if action:
            limits[action] = rate
        else:
            limits.update({name: rate for name in DEFAULT_RATE_LIMITS})
            limits["*"] = rate
    return limits


def open_apply_client(spec: str, region: str | None, rate_limits: dict[str, float]):
    """The cloud client for apply: the SDK client takes the rate-limit overrides (it throttles
    every thread through one set of token buckets); other clouds need no throttling."""
    if rate_limits and (spec == "tencent" or spec.startswith(("http://", "https://"))):
        from sgplan.cloud.tencent import TencentClient

        return TencentClient(region, endpoint=None if spec == "tencent" else spec, rate_limits=rate_limits)
    # An apply holds a `file:` state's lock from its read to its write-back (issue 12).
    return open_client(spec, region, for_apply=True)


def is_thread_safe(client) -> bool:
    """Clients that say so (the SDK client) may take parallel calls; the file cloud is not, so
    apply serialises its calls."""
    return bool(getattr(client, "thread_safe", False))


def confirm(auto_approve: bool) -> None:
    """Ask for `yes` on a terminal; without one, refuse (pipelines must say --auto-approve)."""
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise UserError("apply needs confirmation: no terminal to ask on; pass --auto-approve")
    answer = input("\nDo you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ")
    if answer.strip() != "yes":
        raise UserError("apply cancelled")


def scope_of(ws: Workspace) -> Scope:
    from sgplan.apply.guard import Scope

    desired = ws.settings_desired
    if not desired.settings.stack:
        raise UserError("apply needs a stack: add `sgplan { stack = \"<name>\" }` to the configuration")
    return Scope.of(desired.settings.stack, (g.id for g in (*desired.groups, *desired.templates) if g.id),
                    (b.instance_id for b in desired.bindings), (to for _, to in desired.moves))


def verified_saved_plan(path: Path, config_dir: Path | None, inputs: VarInputs, cloud: str | None,
                        region: str | None, limits: dict[str, float]) -> tuple[Workspace, ApiClient, Plan]:
    """(workspace, client, plan) for `apply PLANFILE`: the plan made again from the configuration
    and the live cloud, refused unless it equals the file in every field (DESIGN §5, issue 11).

    The file is untrusted (a CI artifact): its operations are never executed as read. It names
    the configuration it was made from; only a directory inside the current one is taken from
    the file (`--config-dir` names any). Its cloud and region must be what this apply would use
    anyway, so a file cannot send credentials anywhere.
    """
    from sgplan.apply import check_fresh
    from sgplan.plan.planfile import canonical, differences, plan_from_dict, plan_to_dict, read_plan_data

    data = read_plan_data(path)
    saved = plan_from_dict(data, str(path))
    directory = config_dir if config_dir is not None else _recorded_directory(path, saved.config_dir)
    ws = load_workspace(directory, inputs, cloud_flag=cloud, region_flag=region)
    if saved.config_hash != ws.settings_desired.config_hash:
        raise UserError(f"the saved plan {path} was made from another configuration or other variable values "
                        f"than {directory} holds now; plan again")
    if not _same_cloud(saved.cloud, ws.cloud_spec) or (ws.region and saved.region != ws.region):
        raise UserError(f"the saved plan {path} was made against {saved.cloud} ({saved.region}); this apply "
                        f"would use {ws.cloud_spec} ({ws.region or 'default region'}); plan again or pass --cloud/--region")
    client = open_apply_client(ws.cloud_spec, ws.region or saved.region or None, limits)
    try:
        stale = check_fresh(saved, client)
        if stale:
            print_diagnostics(stale)
            raise UserError(f"the saved plan {path} is stale: the cloud changed since it was made; plan again")
        fresh, _live = make_plan_for(ws, client)
        fresh = replace(fresh, config_dir=saved.config_dir)
        changed = list(differences(data, canonical(plan_to_dict(fresh))))
        if changed:
            stale_only = all(c.startswith("fingerprint") for c in changed)
            what = "is stale: the cloud changed since it was made" if stale_only else (
                "does not match a fresh plan of the configuration (was it edited?)")
            raise UserError(f"the saved plan {path} {what}; first difference: {changed[0]}; "
                            f"{len(changed)} in all; nothing was applied; plan again")
    except BaseException:
        client.close()
        raise
    return ws, client, fresh


def applied_outputs(ws: Workspace, plan: Plan, created: dict[str, str]) -> tuple:
    """The outputs with the ids this apply created: the configuration evaluated again with every
    group's id known (no API call). Falls back to the plan's outputs if that evaluation fails."""
    if all(o.known for o in plan.outputs):
        return tuple(plan.outputs)
    ids = {c.address: c.id for c in plan.resource_changes if c.type != "binding" and c.id and "create" not in c.actions}
    ids.update(created)
    try:
        desired, _diags = ws.configuration.evaluate(ids, previous=ws.settings_desired)
    except Exception:  # an output is a convenience: never fail a finished apply over it
        desired = None
    return tuple(desired.outputs) if desired is not None else tuple(plan.outputs)


def step_printer(client: ApiClient):
    """Apply's step lines on stderr; above the progress display when one is shown, so the two
    never interleave."""
    def show(line: str) -> None:
        log = getattr(client, "progress_log", None)
        if log is None or not log(visible(line)):
            print(visible(line), file=sys.stderr, flush=True)
    return show


def _same_cloud(saved: str, current: str) -> bool:
    if saved.startswith("file:") and current.startswith("file:"):
        return Path(saved[5:]).resolve() == Path(current[5:]).resolve()
    return saved == current


def _recorded_directory(path: Path, recorded: str) -> Path:
    """The directory the plan file names, taken only inside the current directory or the plan
    file's own (a file must not pick an arbitrary configuration to verify against)."""
    if not recorded:
        raise UserError(f"{path}: the plan names no configuration directory; pass --config-dir")
    directory = Path(recorded)
    resolved = (Path.cwd() / directory).resolve()
    for root in (Path.cwd().resolve(), path.resolve().parent):
        if resolved == root or root in resolved.parents:
            return directory
    raise UserError(f"{path}: the plan names the configuration {recorded}, outside the current directory; "
                    "run apply from where the plan was made, or pass --config-dir")


def register(app: typer.Typer) -> None:
    @app.command()
    def apply(
        target: Path = typer.Argument(Path("."), help="Configuration directory or saved plan file."),
        auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
        allow_destroy: bool = typer.Option(False, "--allow-destroy", help="Allow deleting groups / emptying instances with --auto-approve."),
        allow_transient_exposure: bool = typer.Option(False, "--allow-transient-exposure", help="Apply even when no safe order exists."),
        parallelism: int = typer.Option(
            DEFAULT_PARALLELISM, "--parallelism", min=1,
            help="Independent calls (different groups / instances) made at the same time.",
        ),
        rate_limit: options.StrList = typer.Option(
            None, "--rate-limit",
            help="Calls per second: N for every action, or ACTION=N for one (repeatable). "
            "Default: the documented per-action limits (e.g. ModifyInstancesAttribute=10).",
        ),
        config_dir: Optional[Path] = typer.Option(
            None, "--config-dir",
            help="With PLANFILE: the configuration to verify it against (default: the directory the plan records).",
        ),
        var: options.StrList = options.Vars,
        var_file: options.StrList = options.VarFiles,
        cloud: options.OptStr = options.Cloud,
        quiet: bool = options.Quiet,
        region: options.OptStr = options.Region,
        no_color: bool = options.NoColor,
    ) -> None:
        """Apply the changes of a fresh plan (DIR) or of a saved plan (PLANFILE)."""
        from sgplan.apply import execute

        limits = parse_rate_limits(list(rate_limit or []))
        inputs = var_inputs_in_order(var, var_file)
        if target.is_file():
            ws, client, plan = verified_saved_plan(target, config_dir, inputs, cloud, region, limits)
        else:
            if config_dir is not None:
                raise UserError("--config-dir goes with a saved plan (apply PLANFILE --config-dir DIR)")
            ws = load_workspace(target, inputs, cloud_flag=cloud, region_flag=region)
            client = open_apply_client(ws.cloud_spec, ws.region, limits)
            try:
                plan, _live = make_plan_for(ws, client)
            except BaseException:
                client.close()
                raise
        try:
            pause = getattr(client, "progress_pause", None)
            if pause is not None:
                pause()  # the reading phases' display goes before the plan is printed
            typer.echo(render(plan, "text", color=options.color_wanted(no_color)))
            if plan.violated_contracts:
                report_violations(plan.violated_contracts)
                raise UserError(f"{len(plan.violated_contracts)} contract(s) violated (see above): nothing was applied")
            if not plan.has_changes:
                return
            blocked = getattr(plan, "transient_exposure", ())
            if blocked and not allow_transient_exposure:
                raise UserError("no safe order exists for this change (see the plan); "
                                "pass --allow-transient-exposure to apply it anyway")
            destructive = destructive_changes(plan)
            if destructive and auto_approve and not allow_destroy:
                raise UserError(f"the plan destroys {', '.join(destructive)}; "
                                "with --auto-approve this needs --allow-destroy as well")
            confirm(auto_approve)
            # Whatever the operations say, the executor writes only inside the configuration's
            # scope (DESIGN §5): its stack's groups, pinned groups, instances its bindings name.
            result = execute(plan, client, scope=scope_of(ws),
                             progress=step_printer(client),
                             parallelism=parallelism, thread_safe=is_thread_safe(client))
        finally:
            client.close()
        if not result.ok:
            for message in result.errors:
                print(f"error: {visible(message)}", file=sys.stderr)
            print("Apply failed. Run `sgplan plan` to see the remaining work; `sgplan apply` resumes it.", file=sys.stderr)
            raise typer.Exit(1)
        s = plan.summary
        typer.echo(f"\nApply complete! Resources: {s['create']} added, {s['update']} changed, {s['delete']} destroyed.")
        report = render_applied(result.created, applied_outputs(ws, plan, result.created))
        if report:
            typer.echo("\n" + report, nl=False)
