"""Loading a module tree: the files of one directory merged into a `ModuleConfig` (blocks by
kind, duplicate labels rejected), and `module` sources resolved to child directories.

A configuration is untrusted input (it may come from a pull request), so a module source must
stay inside the repository holding the configuration, or under a directory the operator
allows (`SGPLAN_MODULE_PATH`), and the tree of module calls is bounded in depth and size
(docs/limits.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import sgplan
from sgplan.config.evaluate import Evaluator, Scope
from sgplan.config.schema import check_module_body
from sgplan.config.values import EvalError
from sgplan.config.variables import Variable, declare
from sgplan.diagnostics import Diagnostic, error
from sgplan.hcl.cache import ParseCache
from sgplan.hcl.load import config_files, read_file
from sgplan.hcl.syntax import Attribute, Block, SourceFile
from sgplan.model import SourceRange

META_ARGUMENTS = frozenset({"source", "version", "providers", "depends_on", "count", "for_each"})

MAX_MODULE_DEPTH = 16  # nested module calls below the root module
MAX_MODULE_INSTANCES = 5_000  # module instances in one configuration, the root included
MODULE_PATH_ENV = "SGPLAN_MODULE_PATH"  # extra directories module sources may come from


def module_instances_message() -> str:
    return (f"module limit: the configuration makes more than {MAX_MODULE_INSTANCES:,} module instances "
            "(see docs/limits.md)")


@dataclass
class ModuleConfig:
    """One module directory's configuration (not yet evaluated)."""

    directory: Path
    display: str
    files: list[SourceFile]
    variables: dict[str, Variable] = field(default_factory=dict)
    locals: dict[str, Attribute] = field(default_factory=dict)
    groups: dict[str, Block] = field(default_factory=dict)
    bindings: dict[str, Block] = field(default_factory=dict)
    calls: dict[str, Block] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    settings: Block | None = None
    children: dict[str, "ModuleConfig | None"] = field(default_factory=dict)

    def all_files(self) -> list[SourceFile]:
        """This module's files, then each child's (depth first, call order)."""
        out = list(self.files)
        for child in self.children.values():
            if child is not None:
                out.extend(child.all_files())
        return out


def bundled_modules_dir() -> Path:
    return Path(sgplan.__file__).parent / "modules"


def repository_root(directory: Path) -> Path:
    """The nearest ancestor of `directory` (itself included, symlinks resolved) that holds a
    `.git`, else `directory` itself: the tree module sources may come from."""
    start = directory.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def allowed_module_roots(env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The operator's extra module directories (`SGPLAN_MODULE_PATH`, os.pathsep-separated).
    Only the environment can name them: nothing in a repository widens where sources may be."""
    env = os.environ if env is None else env
    return tuple(Path(p).resolve() for p in env.get(MODULE_PATH_ENV, "").split(os.pathsep) if p.strip())


@dataclass
class _Loading:
    """What one load of a module tree shares: where sources may be, how many module instances
    were made, and the files already read (a module called many times is parsed once)."""

    repository: Path
    extra_roots: tuple[Path, ...]
    instances: int = 1
    over_limit: bool = False
    files: dict[tuple[Path, str], SourceFile] = field(default_factory=dict)  # (path, display) →
    listings: dict[Path, list[Path]] = field(default_factory=dict)  # directory → its config files

    def config_files(self, directory: Path) -> list[Path]:
        listing = self.listings.get(directory)
        if listing is None:
            listing = self.listings[directory] = config_files(directory)
        return listing

    def allows(self, resolved: Path) -> bool:
        return any(resolved == root or root in resolved.parents for root in (self.repository, *self.extra_roots))


def load_module(
    directory: Path,
    display: str,
    evaluator: Evaluator,
    diags: list[Diagnostic],
    *,
    root: bool = True,
    stack: tuple[Path, ...] = (),
    cache: ParseCache | None = None,
    env: Mapping[str, str] | None = None,
    loading: _Loading | None = None,
) -> ModuleConfig | None:
    """Read, parse and index one module directory and its children; None if a file does not parse.

    `env` supplies `SGPLAN_MODULE_PATH` (default: the process environment)."""
    if loading is None:
        loading = _Loading(repository_root(directory), allowed_module_roots(env))
    files: list[SourceFile] = []
    parsed = True
    for path in loading.config_files(directory):
        source = _read(path, os.path.normpath(os.path.join(display, path.name)), cache, loading, diags)
        files.append(source)
        parsed = parsed and source.body is not None
    if not parsed:
        return None
    module = ModuleConfig(directory, display, files)
    blocks = [b for f in files if f.body is not None for b in f.body.blocks]
    for f in files:
        if f.body is not None:
            check_module_body(f.body, root, diags)
    _index(module, blocks, evaluator, diags)
    resolved = directory.resolve() if root else directory  # children come resolved (_load_child)
    for name, call in module.calls.items():
        module.children[name] = _load_child(module, name, call, evaluator, diags, stack + (resolved,), cache, loading)
        if module.children[name] is None and any(d.message.startswith("syntax error") for d in diags):
            return None
    return module


def _read(path: Path, display: str, cache: ParseCache | None, loading: _Loading, diags: list[Diagnostic]) -> SourceFile:
    """A file read once per load and display name (its diagnostics are reported once)."""
    key = (path, display)
    source = loading.files.get(key)
    if source is None:
        source, file_diags = read_file(path, display, cache)
        diags.extend(file_diags)
        loading.files[key] = source
    return source


def _index(module: ModuleConfig, blocks: list[Block], evaluator: Evaluator, diags: list[Diagnostic]) -> None:
    tables: dict[str, dict] = {
        "security_group": module.groups,
        "binding": module.bindings,
        "module": module.calls,
        "output": module.outputs,
    }
    seen_vars: dict[str, SourceRange] = {}
    for block in blocks:
        if block.type == "sgplan":
            if module.settings is not None:
                # A second block would silently replace the first (its `cloud` dropped, the run
                # aimed at the real API): refuse, naming both (issue 11).
                first = module.settings.range
                diags.append(error(f"duplicate sgplan block (the first is at {first.file}:{first.line}); "
                                   "a configuration has at most one", block.range))
            else:
                module.settings = block
        elif block.type == "locals":
            for name, attr in block.attributes.items():
                if name in module.locals:
                    first = module.locals[name].range
                    diags.append(error(f'duplicate local "{name}" (first defined at {first.file}:{first.line})', attr.range))
                else:
                    module.locals[name] = attr
        elif block.type == "variable" and len(block.labels) == 1:
            name = block.labels[0]
            if name in seen_vars:
                first = seen_vars[name]
                diags.append(error(f'duplicate variable "{name}" (first declared at {first.file}:{first.line})', block.range))
                continue
            seen_vars[name] = block.range
            var = declare(block, evaluator, diags)
            if var is not None:
                module.variables[name] = var
        elif block.type in tables and len(block.labels) == 1:
            table, label = tables[block.type], block.labels[0]
            if label in table:
                first = table[label].range
                diags.append(
                    error(f'duplicate {block.type} "{label}" (first declared at {first.file}:{first.line})', block.range)
                )
            else:
                table[label] = block


def _load_child(
    parent: ModuleConfig,
    name: str,
    call: Block,
    evaluator: Evaluator,
    diags: list[Diagnostic],
    stack: tuple[Path, ...],
    cache: ParseCache | None,
    loading: _Loading,
) -> ModuleConfig | None:
    attr = call.attributes.get("source")
    if attr is None:
        return None  # the schema check reported it
    for meta in ("providers", "depends_on"):
        if meta in call.attributes:
            diags.append(error(f'module "{name}": "{meta}" is not supported on module blocks', call.attributes[meta].range))
    try:
        source = evaluator.evaluate(attr.expr, Scope({}))
    except EvalError:
        source = None
    if not isinstance(source, str):
        diags.append(error(f'module "{name}": source must be a literal string', attr.range))
        return None
    if source.startswith(("./", "../")):
        # Resolved (symlinks followed, as the OS would): a link cannot lead out unnoticed, and
        # deep trees do not drag ever longer `a/../b/..` paths along.
        directory = (parent.directory / source).resolve()
        display = os.path.normpath(os.path.join(parent.display, source))
        if not loading.allows(directory):
            diags.append(error(
                f'module "{name}": source "{source}" is outside the repository root ({loading.repository}); '
                f"set {MODULE_PATH_ENV} to allow it", attr.range))
            return None
    elif source.startswith("sgplan/") and "/" not in source[len("sgplan/") :] and len(source) > len("sgplan/"):
        directory = (bundled_modules_dir() / source[len("sgplan/") :]).resolve()
        display = str(bundled_modules_dir() / source[len("sgplan/") :])
    else:
        diags.append(error(f'module "{name}": unsupported source "{source}" (use "./path" or "sgplan/<name>")', attr.range))
        return None
    if len(stack) > MAX_MODULE_DEPTH:
        diags.append(error(f'module "{name}": module limit: calls are nested more than {MAX_MODULE_DEPTH} deep '
                           "(see docs/limits.md)", attr.range))
        return None
    if loading.instances >= MAX_MODULE_INSTANCES:
        if not loading.over_limit:  # one error, not one per call left
            loading.over_limit = True
            diags.append(error(f'module "{name}": {module_instances_message()}', attr.range))
        return None
    if not directory.is_dir():
        diags.append(error(f'module "{name}": source directory "{source}" not found', attr.range))
        return None
    if directory in stack:
        diags.append(error(f'module "{name}": source "{source}" includes itself', attr.range))
        return None
    if not loading.config_files(directory):
        diags.append(error(f'module "{name}": no configuration files in "{source}"', attr.range))
        return None
    loading.instances += 1
    return load_module(directory, display, evaluator, diags, root=False, stack=stack, cache=cache, loading=loading)
