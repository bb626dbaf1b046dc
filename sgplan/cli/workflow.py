"""The steps every command shares: resolve flags, load the configuration, open the cloud,
read the live state and make the plan. Commands call these and only render and exit.
"""

from __future__ import annotations

import gc
import os
import sys
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

from sgplan.analysis.planned import annotate_plan
from sgplan.backends import open_client
from sgplan.cloud import ApiClient
from sgplan.diagnostics import Diagnostic, Severity, UserError, has_errors, sort_key, warning
from sgplan.model import CloudState, DesiredState
from sgplan.render.escape import visible

VarInputs = list[tuple[str, str]]

# The argv of the running invocation, set by `sgplan.cli.main` (typer does not keep the
# interleaving of different repeated options, which variable precedence needs).
COMMAND_LINE: ContextVar[tuple[str, ...]] = ContextVar("sgplan_command_line", default=())


class ConfigErrors(Exception):
    """The configuration has errors; they were printed already."""


def print_diagnostics(diags: Sequence[Diagnostic]) -> None:
    """One line per problem on stderr, warnings first, then by file and line."""
    for diag in sorted(diags, key=sort_key):
        # Messages quote configuration values and live names: shown escaped (issue 11).
        print(visible(str(diag)), file=sys.stderr)


def var_inputs_in_order(vars_: Sequence[str], var_files: Sequence[str], argv: Sequence[str] | None = None) -> VarInputs:
    """`--var` and `--var-file` values in command-line order (DESIGN §2: later wins).

    typer hands the two options over as separate lists, losing their interleaving; the order is
    recovered from argv when argv holds exactly these values, else files come before vars.
    """
    argv = list(COMMAND_LINE.get() if argv is None else argv)
    ordered: VarInputs = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        for flag, kind in (("--var-file", "var_file"), ("--var", "var")):
            if arg == flag and i + 1 < len(argv):
                ordered.append((kind, argv[i + 1]))
                i += 1
                break
            if arg.startswith(flag + "="):
                ordered.append((kind, arg[len(flag) + 1 :]))
                break
        i += 1
    expected = sorted([("var", v) for v in vars_] + [("var_file", f) for f in var_files])
    if sorted(ordered) == expected:
        return ordered
    return [("var_file", f) for f in var_files] + [("var", v) for v in vars_]


@dataclass
class Workspace:
    """A loaded configuration plus the cloud it plans against."""

    directory: Path
    configuration: object
    settings_desired: DesiredState
    cloud_spec: str
    region: str | None
    warnings: list[Diagnostic] = field(default_factory=list)
    against: tuple[CloudState, DesiredState] | None = field(default=None, repr=False)  # evaluate_against's last
    env: Mapping[str, str] | None = field(default=None, repr=False)  # the environment it was loaded with
    # Cache entry names of this run's inputs: they name the configuration and the live state
    # exactly, so results derived from both alone can be cached under them (`cache_keys`).
    config_entry: str | None = field(default=None, repr=False)
    state_entry: tuple[CloudState, str] | None = field(default=None, repr=False)  # (the state read, its entry)

    def cache_keys(self, live: CloudState) -> dict[str, str]:
        """{"config", "state"} entry names when both name this run's inputs and `live` is the
        state the entry was read for; else {} (nothing derived may be cached)."""
        if self.config_entry is None or self.state_entry is None or self.state_entry[0] is not live:
            return {}
        return {"config": self.config_entry, "state": self.state_entry[1]}


def load_workspace(directory: Path, var_inputs: VarInputs, *, cloud_flag: str | None = None,
                   region_flag: str | None = None, env: Mapping[str, str] | None = None) -> Workspace:
    """Parse and evaluate the configuration (ids unknown); resolve which cloud and region to use."""
    from sgplan.config.evaluated_cache import load_evaluated

    env = os.environ if env is None else env
    if not directory.is_dir():
        raise UserError(f"{directory}: no such configuration directory")
    # Parse and first evaluation, or both from the evaluated-state cache on a warm run (issue 18).
    cfg, desired, diags, entry = load_evaluated(directory, var_inputs, env)
    # The configuration lives for the whole run: keep the collector from rescanning its objects.
    gc.freeze()
    if cfg is None or desired is None or has_errors(diags):
        print_diagnostics(diags)
        raise ConfigErrors()
    settings = desired.settings
    spec = cloud_flag or env.get("SGPLAN_CLOUD") or None
    if spec is None and settings.cloud:
        spec = configured_cloud(settings.cloud, directory, settings.origin)
    region = region_flag or settings.region or env.get("TENCENTCLOUD_REGION") or None
    warnings = [d for d in diags if d.severity is Severity.WARNING]
    ws = Workspace(directory, cfg, desired, spec or "tencent", region, warnings, env=env)
    ws.config_entry = entry
    return ws


def configured_cloud(spec: str, directory: Path, origin) -> str:
    """The `cloud` of an `sgplan {}` block, if a repository may choose it (DESIGN §4, issue 12):
    the real API, a `file:` state inside the configuration tree, or a loopback `http://` server.
    Anything else would let a pull request send the pipeline's credentials (or write a state
    file) where the operator never chose; that needs --cloud or SGPLAN_CLOUD."""
    where = f"{origin.file}:{origin.line}: " if origin is not None else ""
    refuse = (f"{where}cloud = {spec!r}: a configuration may only name tencent, a file: path inside "
              "its directory or a loopback http:// endpoint; pass --cloud (or SGPLAN_CLOUD) to use it")
    if spec == "tencent":
        return spec
    if spec.startswith("file:"):
        path = Path(spec[5:])
        # A file: path in the sgplan block is relative to the configuration directory.
        full = path if path.is_absolute() else directory / path
        root = directory.resolve()
        resolved = full.resolve()
        if not spec[5:] or (resolved != root and root not in resolved.parents):
            raise UserError(refuse)
        return "file:" + str(full)
    if spec.startswith("http://") and _is_loopback_url(spec):
        return spec
    raise UserError(refuse)


def _is_loopback_url(spec: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(spec)
        host = parts.hostname or ""
        if parts.username or parts.password:
            return False
        if host == "localhost":
            return True
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def managed_ids(live: CloudState, stack: str) -> dict[str, str]:
    """Address → id of the live groups this stack manages (DESIGN §3: the tags are the state)."""
    return {g.address: g.id for g in live.groups if stack and g.stack == stack and g.address and g.id}


def read_live_for(ws: Workspace, client: ApiClient) -> CloudState:
    from sgplan.cloud.reader import read_live, references_templates

    pinned = [g.id for g in ws.settings_desired.groups if g.id]
    # Templates are read when the configuration or a live rule names one (None: live decides).
    templates = True if references_templates(ws.settings_desired.groups) or ws.settings_desired.templates else None
    # The other groups on the instances this plan binds or whose groups it manages: their rules
    # are part of each instance's access (read only, for exposure and transient checks).
    bound = [b.instance_id for b in ws.settings_desired.bindings]
    # Instances a contract names are proven on all their groups: read those too (issue 16).
    bound += [i for e in ws.settings_desired.expects for i in (e.instances or ())]
    stack = ws.settings_desired.settings.stack

    def read() -> CloudState:
        # Backends that can run calls concurrently (the SDK client, under its rate limits) offer `map`.
        return read_live(client, stack=stack, pinned_ids=pinned, with_templates=templates,
                         map_fn=getattr(client, "map", map), neighbours_of=bound)

    from sgplan.cachestore import cache_disabled

    data = getattr(client, "state_bytes", None)  # a `file:` cloud opened lazily (open_for)
    if isinstance(data, bytes) and not cache_disabled(ws.env if ws.env is not None else os.environ):
        from sgplan.cloud.state_cache import cached_read

        # The same bytes read with the same parameters give the same state (issue 18).
        live, entry = cached_read(ws.directory, data, ws.region, stack, pinned, templates, bound, read)
        if entry is not None:
            ws.state_entry = (live, entry)
        return live
    return read()


def evaluate_against(ws: Workspace, live: CloudState) -> DesiredState:
    """Evaluate again now that the ids of existing groups are known: the ids are substituted into
    the first evaluation when it shows that settles everything (`Configuration.evaluate`).
    Once per live state: `check` and `explain` ask again after `make_plan_for` did."""
    if ws.against is not None and ws.against[0] is live:
        return ws.against[1]
    desired, diags = ws.configuration.evaluate(managed_ids(live, ws.settings_desired.settings.stack),
                                               previous=ws.settings_desired)
    if desired is None or has_errors(diags):
        print_diagnostics(diags)
        raise ConfigErrors()
    ws.against = (live, desired)
    return desired


def make_plan_for(ws: Workspace, client: ApiClient):
    """Read the live state and plan; returns (plan, live). Errors are printed and raised."""
    from sgplan.cloud.reader import deletion_usage, existing_group_ids, template_deletion_users
    from sgplan.plan import make_plan
    from sgplan.plan.diff import with_template_users, with_usage
    from sgplan.plan.references import missing_references

    live = read_live_for(ws, client)
    desired = evaluate_against(ws, live)
    missing = missing_references(desired, live, lambda ids: existing_group_ids(client, ids))
    if missing:
        print_diagnostics(list(ws.warnings) + missing)
        raise ConfigErrors()
    plan, diags = make_plan(desired, live, cloud=ws.cloud_spec, region=ws.region or live.region)
    added: list[Diagnostic] = []
    if plan is not None:
        planned = set(plan.warnings)
        # Groups this plan deletes that other products (CLB, CDB, ENI) still use: noted, and apply
        # refuses before its first call instead of failing half-way on ResourceInUse.
        plan = with_usage(plan, deletion_usage(client, plan))
        # Templates this plan deletes that rules outside the stack still name (issue 17).
        plan = with_template_users(plan, template_deletion_users(client, plan, live))
        # Warnings are on stderr and in the plan (issue 14): those noted on the plan here, and
        # the configuration's own (file paths relative to the directory: a saved plan compares equal).
        added = [warning(w) for w in dict.fromkeys(plan.warnings) if w not in planned]
        plan = replace(plan, warnings=(*config_warnings(ws), *plan.warnings))
    if has_errors(diags):
        print_diagnostics(list(ws.warnings) + list(diags))
        raise ConfigErrors()
    print_diagnostics(list(ws.warnings) + list(diags) + added)
    # Exposure changes and findings; the desired groups carry source lines and ignore_findings.
    # Contracts are proven on the planned state; their default scope is the bound instances.
    bound = tuple(dict.fromkeys(b.instance_id for b in desired.bindings))
    memo = _exposure_memo(ws)
    remembered = None
    keys = ws.cache_keys(live)
    if memo is not None and keys:
        from sgplan.analysis.findings_cache import cached_findings

        region = ws.region or live.region

        def remembered(compute):  # the plan's findings, when configuration and state are unchanged
            return cached_findings(ws.directory, keys, ws.cloud_spec, region, compute, kind="plan")

    plan = annotate_plan(plan, live, desired.groups, desired.expects, bound, exposure_memo=memo,
                         findings_cache=remembered)
    if memo is not None:
        memo.save()
    return plan, live


def _exposure_memo(ws: Workspace):
    """Exposure differences of earlier runs in this directory (issue 18), unless caching is off."""
    from sgplan.analysis.exposure_memo import ExposureMemo
    from sgplan.cachestore import cache_disabled

    return None if cache_disabled(ws.env if ws.env is not None else os.environ) else ExposureMemo(ws.directory)


def config_warnings(ws: Workspace) -> list[str]:
    """The configuration's warnings as the plan shows them: `main.sg.hcl:10: message`."""
    out = []
    for d in sorted(ws.warnings, key=sort_key):
        where = ""
        if d.range is not None:
            try:
                name = Path(d.range.file).resolve().relative_to(Path(ws.directory).resolve()).as_posix()
            except ValueError:
                name = Path(d.range.file).name
            where = f"{name}:{d.range.line}: "
        elif d.address:
            where = f"{d.address}: "
        out.append(f"{where}{d.message}")
    return out


def open_for(ws: Workspace) -> ApiClient:
    # Lazy: a `file:` state is parsed only if the state cache does not have it (read_live_for).
    return open_client(ws.cloud_spec, ws.region, lazy=True)
