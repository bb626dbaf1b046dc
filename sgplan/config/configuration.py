"""The entry points: `load_configuration` (files, modules, variable values) and
`Configuration.evaluate` (known ids → `DesiredState`), both returning `(value, diagnostics)`."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from sgplan.config.build import build_binding, build_group, build_outputs, build_settings, force_all
from sgplan.config.cache import ParseCache, cache_disabled
from sgplan.config.evaluate import Evaluator
from sgplan.config.instance import Context, ModuleInstance
from sgplan.config.load import file_hash, gc_paused
from sgplan.config.modules import ModuleConfig, load_module
from sgplan.config.validate import validate
from sgplan.config.values import EvalError
from sgplan.config.variables import MISSING, finalize, root_values
from sgplan.diagnostics import Diagnostic, error, has_errors
from sgplan.model import DesiredState, SecurityGroup


@dataclass
class Configuration:
    """A loaded configuration: the module tree, the root variable values and the config hash."""

    directory: Path
    root: ModuleConfig
    variables: dict[str, Any]
    config_hash: str
    load_failed: bool = False  # load_configuration reported errors: evaluate gives no state

    def evaluate(self, known_ids: Mapping[str, str] | None = None) -> tuple[DesiredState | None, list[Diagnostic]]:
        with gc_paused():
            return self._evaluate(known_ids)

    def _evaluate(self, known_ids: Mapping[str, str] | None) -> tuple[DesiredState | None, list[Diagnostic]]:
        """The desired state, with `security_group.x.id` resolved from `known_ids` (address → id)
        or the pinned id, else left as a `GroupRef`. None when there are errors, here or in
        `load_configuration` (whose diagnostics are not repeated)."""
        diags: list[Diagnostic] = []
        ctx = Context(Evaluator(), known_ids or {}, diags)
        root = ModuleInstance(self.root, "", self.variables, ctx)
        settings = build_settings(root)
        groups: list[SecurityGroup] = []
        bindings = []
        outputs = build_outputs(root)
        for inst in _instances(root):
            force_all(inst)
            for label, block in inst.config.groups.items():
                group = build_group(inst, label, block)
                if group is not None:
                    groups.append(group)
            for label, block in inst.config.bindings.items():
                bindings.extend(build_binding(inst, label, block))
            if inst is not root:
                for name in inst.config.outputs:
                    try:
                        inst.output(name)
                    except EvalError as exc:  # a reference error inside was reported already
                        if not exc.reported:
                            diags.append(error(exc.message, inst.config.outputs[name].range))
        diags.extend(validate(tuple(groups), tuple(bindings)))
        desired = DesiredState(
            settings=settings,
            groups=tuple(groups),
            bindings=tuple(bindings),
            outputs=tuple(outputs),
            config_hash=self.config_hash,
        )
        return (None if self.load_failed or has_errors(diags) else desired), _dedupe(diags)

    def pinned_ids(self) -> dict[str, str]:
        """Root-module addresses of groups pinned with a literal `id = "sg-…"`."""
        desired, _ = self.evaluate()
        return {g.address: g.id for g in desired.groups if g.id and g.address} if desired else {}


def _instances(root: ModuleInstance) -> list[ModuleInstance]:
    out = [root]
    for child in root.children():
        out.extend(_instances(child))
    return out


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    return list(dict.fromkeys(diags))


def load_configuration(
    directory: Path,
    *,
    var_inputs: Sequence[tuple[str, str]] = (),
    env: Mapping[str, str] | None = None,
    cache: bool = True,
) -> tuple[Configuration | None, list[Diagnostic]]:
    """Read every configuration file under `directory` (and its modules) and settle the root
    variables. Returns None as configuration when a file does not parse.

    Parsed files are cached in `directory/.sgplan/cache` (cache.py) unless `cache` is False or
    `SGPLAN_NO_CACHE=1` is set in `env` (default: the process environment).
    """
    directory = Path(directory)
    env = os.environ if env is None else env
    diags: list[Diagnostic] = []
    if not directory.is_dir():
        return None, [error(f"{directory}: not a directory")]
    evaluator = Evaluator()
    parse_cache = ParseCache(directory) if cache and not cache_disabled(env) else None
    with gc_paused():
        root = load_module(directory, str(directory), evaluator, diags, cache=parse_cache)
    if root is None or any(d.message.startswith("syntax error") for d in diags):
        return None, diags
    if not root.files:
        diags.append(error(f"{directory}: no configuration files (*.sg.hcl, *.hcl, *.tf)"))
    raw, extra = root_values(root.variables, directory, var_inputs, env, evaluator, diags)
    values: dict[str, Any] = {}
    for name, var in root.variables.items():
        value, where = raw.get(name, (MISSING, None))
        where = where or var.range
        values[name] = finalize(var, value, evaluator, where, diags)
    files = root.all_files()
    digest = file_hash(files)
    if extra:
        digest = hashlib.sha256(digest.encode() + b"".join(hashlib.sha256(d).digest() for d in extra)).hexdigest()
    return Configuration(directory, root, values, digest, has_errors(diags)), _dedupe(diags)

