"""`sgplan apply`: make the planned changes, from a directory or from a saved plan."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from sgplan.cli import options
from sgplan.cli.plan import render
from sgplan.cli.workflow import load_workspace, make_plan_for, print_diagnostics, var_inputs_in_order
from sgplan.cloud import open_client
from sgplan.diagnostics import UserError


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
        var: options.StrList = options.Vars,
        var_file: options.StrList = options.VarFiles,
        cloud: options.OptStr = options.Cloud,
        region: options.OptStr = options.Region,
        no_color: bool = options.NoColor,
    ) -> None:
        """Apply the changes of a fresh plan (DIR) or of a saved plan (PLANFILE)."""
        from sgplan.apply import check_fresh, execute

        limits = parse_rate_limits(list(rate_limit or []))
        if target.is_file():
            from sgplan.plan.planfile import read_plan

            plan = read_plan(target)
            client = open_apply_client(cloud or plan.cloud, region or plan.region or None, limits)
            stale = check_fresh(plan, client)
            if stale:
                client.close()
                print_diagnostics(stale)
                raise UserError(f"the saved plan {target} is stale: the cloud changed since it was made; plan again")
        else:
            ws = load_workspace(target, var_inputs_in_order(var, var_file), cloud_flag=cloud, region_flag=region)
            client = open_apply_client(ws.cloud_spec, ws.region, limits)
            try:
                plan, _live = make_plan_for(ws, client)
            except BaseException:
                client.close()
                raise
        try:
            typer.echo(render(plan, "text", color=not no_color and sys.stdout.isatty()))
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
            result = execute(plan, client, progress=lambda line: print(line, file=sys.stderr, flush=True),
                             parallelism=parallelism, thread_safe=is_thread_safe(client))
        finally:
            client.close()
        if not result.ok:
            for message in result.errors:
                print(f"error: {message}", file=sys.stderr)
            print("Apply failed. Run `sgplan plan` to see the remaining work; `sgplan apply` resumes it.", file=sys.stderr)
            raise typer.Exit(1)
        s = plan.summary
        typer.echo(f"\nApply complete! Resources: {s['create']} added, {s['update']} changed, {s['delete']} destroyed.")
