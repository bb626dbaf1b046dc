"""The evaluated-state cache: the first evaluation of a configuration (ids unknown) and what the
second one needs to substitute ids into it, stored in `<config dir>/.sgplan/cache/*.eval`, so a
warm run skips parsing and evaluating entirely (issue 18).

Keyed (the entry's name) on everything the evaluation depends on, computed without parsing:
the sgplan version and the mtimes of its source files, the python, python-hcl2 and lark
versions, the configuration directory (as given and resolved), the working directory, the
repository root, every configuration and tfvars file of the root directory (bytes), the
`--var`/`--var-file` inputs in order (with the var files' bytes), the `TF_VAR_*`,
`SGPLAN_VAR_*` and `SGPLAN_MODULE_PATH` environment. The module directories the tree used are
only known after a parse: the entry lists them (with their files' hashes, and how each call's
source resolved), and a hit re-checks that list before it is trusted.

Safety is the parse cache's (sgplan/hcl/cache.py, issue 12): the same per-user MAC key, over the entry's
name and payload, so a forged, corrupt or moved entry is a miss; the same directory handling
(no links followed, O_EXCL writes renamed into place). Entries are `marshal` of plain tuples and
decoded by an explicit schema into the model classes, never by names found in the file.
Nothing is cached when a link is among the files, when a variable or output is sensitive (a
secret must not reach the cache), or when evaluation reported an error. `SGPLAN_NO_CACHE=1`
turns it off, like the parse cache.

Format: marshal of flat tuples, decoded field by field. Measured side by side on the
2,000 × 50 estate's entry (5.8 MB; 15 MB as JSON) on the shared 2-core machine: `marshal.loads`
0.40 s against `json.loads` 0.93 s (which would also give lists to turn back into tuples);
building the 100,000 rule objects is most of the 2.9 s decode either way. orjson is not a
dependency (installed for the comparison, it parses the 15 MB state file in 0.9 s against
json's 1.3 s, but only cold runs parse it now, and it rejects the lone-surrogate escapes the
state format reads back), so it was not added.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import lark

import sgplan
from sgplan.cachestore import SignedStore, cache_disabled, code_stamp, flush_writes
from sgplan.collector import gc_paused
from sgplan.config.configuration import Configuration, Substitutable, load_configuration, substitute
from sgplan.config.modules import MODULE_PATH_ENV, ModuleConfig, bundled_modules_dir, repository_root
from sgplan.config.moved import Move
from sgplan.config.values import Unknown
from sgplan.diagnostics import Diagnostic, Severity, error, has_errors
from sgplan.hcl.load import CONFIG_SUFFIXES, config_files
from sgplan.hcl.parser import hcl2_version
from sgplan.model import DesiredState, Direction, Expect, Output, Settings
from sgplan.modelcodec import (
    Bad,
    Codec,
    Uncacheable,
    dec_binding,
    dec_origin,
    dec_template_spec,
    enc_binding,
    enc_origin,
    enc_template_spec,
    opt_str,
    opt_strs,
    strs,
    want,
)

FORMAT = b"sgplan-evaluated-cache-2"  # bump when the encoding below changes shape
SUFFIX = ".eval"
_PLAIN = b"E"  # first payload byte: the codec (marshal of plain tuples)
_TFVARS = ("terraform.tfvars", "terraform.tfvars.json", "sgplan.tfvars", "sgplan.tfvars.json")
_AUTO_TFVARS = (".auto.tfvars", ".auto.tfvars.json")
_ENV_PREFIXES = ("TF_VAR_", "SGPLAN_VAR_")

VarInputs = Sequence[tuple[str, str]]


# Something the cache does not cover (a link among the files, a sensitive value, a value type
# the codec does not write): the run goes without the cache. / An entry of the wrong shape.
_Uncacheable, _Bad = Uncacheable, Bad
_want, _opt_str, _strs, _opt_strs, _enc_origin, _dec_origin = want, opt_str, strs, opt_strs, enc_origin, dec_origin


# -- the key -----------------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    """sha256 of a regular file's bytes; links (and anything but a regular file) are not covered."""
    st = os.lstat(path)
    if not _is_regular(st.st_mode):
        raise _Uncacheable(f"{path}: not a regular file")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _root_listing(directory: Path) -> list[str]:
    """Every configuration and tfvars file directly in `directory`, with its content hash."""
    parts = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(CONFIG_SUFFIXES) or name.endswith(_AUTO_TFVARS) or name in _TFVARS:
            path = directory / name
            if os.path.isdir(path) and not os.path.islink(path):
                parts.append(f"{name}:dir")  # not configuration, but a change of kind is a change
                continue
            parts.append(f"{name}:{_file_digest(path)}")
    return parts


def cache_key(directory: Path, var_inputs: VarInputs, env: Mapping[str, str]) -> str | None:
    """The entry name for this directory, inputs and environment; None when not cacheable."""
    digest = hashlib.sha256()

    def part(value: str | bytes) -> None:
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        digest.update(len(data).to_bytes(8, "big") + data)

    try:
        for value in (FORMAT, sgplan.__version__, sys.version, hcl2_version(), lark.__version__, code_stamp(),
                      str(directory), str(directory.resolve()), os.getcwd(), str(repository_root(directory)),
                      env.get(MODULE_PATH_ENV, "")):
            part(value)
        for entry in _root_listing(directory):
            part(entry)
        part(b"vars")
        for kind, text in var_inputs:
            part(kind)
            part(text)
            if kind == "var_file":
                path = Path(text)
                part(os.path.abspath(path))
                try:
                    with open(path, "rb") as f:  # operator-chosen: followed like the loader does
                        part(hashlib.sha256(f.read()).digest())
                except OSError:
                    raise _Uncacheable(f"{text}: unreadable") from None  # the loader reports it
        part(b"env")
        for key in sorted(k for k in env if k.startswith(_ENV_PREFIXES)):
            part(key)
            part(hashlib.sha256(env[key].encode("utf-8", "surrogateescape")).digest())  # never the value itself
    except (OSError, _Uncacheable):
        return None
    return digest.hexdigest() + SUFFIX


# -- the module manifest -----------------------------------------------------------------------


def _source_dir(parent: str, source: str) -> str | None:
    """Where a module call's source resolves now, as modules._load_child resolves it."""
    if source.startswith(("./", "../")):
        return str((Path(parent) / source).resolve())
    if source.startswith("sgplan/"):
        return str((bundled_modules_dir() / source[len("sgplan/") :]).resolve())
    return None


def _manifest(root: ModuleConfig) -> tuple[tuple, tuple]:
    """(directories of the child modules with their files' hashes, each call's parent
    directory, source and resolved directory)."""
    from sgplan.config.evaluate import Evaluator, Scope

    dirs: dict[str, tuple] = {}
    calls: list[tuple[str, str, str]] = []

    def walk(module: ModuleConfig, parent: str) -> None:
        for name, child in module.children.items():
            if child is None:
                raise _Uncacheable("a module did not load")
            attr = module.calls[name].attributes.get("source")
            source = Evaluator().evaluate(attr.expr, Scope({})) if attr is not None else None
            resolved = str(Path(child.directory).resolve())
            if not isinstance(source, str) or _source_dir(parent, source) != resolved:
                raise _Uncacheable("a module source resolves in a way the cache cannot re-check")
            calls.append((parent, source, resolved))
            if resolved not in dirs:
                # The files as loaded, which must also be what the directory holds now (no links).
                loaded = tuple((Path(f.path).name, hashlib.sha256(f.data).hexdigest()) for f in child.files)
                if _dir_files(Path(resolved)) != loaded:
                    raise _Uncacheable("a module directory changed while it was loaded")
                dirs[resolved] = loaded
            walk(child, resolved)

    walk(root, str(Path(root.directory).resolve()))
    return tuple(sorted(dirs.items())), tuple(calls)


def _dir_files(directory: Path) -> tuple:
    return tuple((p.name, _file_digest(p)) for p in config_files(directory))


def _manifest_holds(dirs: Any, calls: Any) -> bool:
    """The module directories and sources an entry recorded are still what they were."""
    for parent, source, resolved in _want(calls, tuple):
        if _source_dir(_want(parent, str), _want(source, str)) != _want(resolved, str):
            return False
    for directory, files in _want(dirs, tuple):
        if _dir_files(Path(_want(directory, str))) != files:
            return False
    return True


# -- the codec (model values: sgplan/modelcodec.py) ------------------------------------------

_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any, error: type[Exception]) -> Any:
    """An output value: builtins only (a subclass or any other type is refused)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list or kind is tuple:
        for v in value:
            _plain(v, error)
        return value
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise error("bad key")
            _plain(v, error)
        return value
    raise error(f"unexpected {kind.__name__}")


def _enc_output(o: Output) -> tuple:
    if o.sensitive:
        raise _Uncacheable("a sensitive output is never cached")
    return (o.name, _plain(o.value, _Uncacheable), o.known)


def _dec_output(t: Any) -> Output:
    name, value, known = _want(t, tuple)
    return Output(_want(name, str), _plain(value, _Bad), _want(known, bool), False)


def _enc_expect(e: Expect) -> tuple:
    return (e.address, e.direction.value, e.peers, e.protocol, e.ports, e.decision, e.instances, e.description,
            e.security_groups, *_enc_origin(e.origin))


def _dec_expect(t: Any) -> Expect:
    address, direction, peers, protocol, ports, decision, instances, description, groups, file, line, column = \
        _want(t, tuple)
    return Expect(_want(address, str), Direction(_want(direction, str)), _strs(peers), _want(protocol, str),
                  _opt_str(ports), _want(decision, str), _opt_strs(instances), _want(description, str),
                  _dec_origin(file, line, column), _opt_strs(groups))


def encode_desired(d: DesiredState) -> tuple:
    s = d.settings
    codec = Codec(share_rules=False)
    return ((s.region, s.stack, s.cloud, *_enc_origin(s.origin)),
            tuple(map(codec.enc_group, d.groups)), tuple(map(enc_binding, d.bindings)),
            tuple(map(_enc_output, d.outputs)), d.config_hash, tuple(map(_enc_expect, d.expects)),
            tuple(map(enc_template_spec, d.templates)), tuple(map(_enc_move, d.moves)))


def _enc_move(move: tuple) -> tuple:
    """A `moved` pair with the positions of its `from` and `to` lines (moved.Move)."""
    source, target = move
    return (source, target, *enc_origin(getattr(move, "origin", None)),
            *enc_origin(getattr(move, "target_origin", None)))


def _dec_move(t: Any) -> Move:
    if type(t) is not tuple or len(t) != 8:
        raise _Bad("bad move")
    source, target, file, line, column, to_file, to_line, to_column = t
    return Move(_want(source, str), _want(target, str), _dec_origin(file, line, column),
                _dec_origin(to_file, to_line, to_column))


def decode_desired(t: Any) -> DesiredState:
    settings, groups, bindings, outputs, config_hash, expects, templates, moves = _want(t, tuple)
    region, stack, cloud, file, line, column = _want(settings, tuple)
    codec = Codec(share_rules=False)
    return DesiredState(
        settings=Settings(_opt_str(region), _opt_str(stack), _opt_str(cloud), _dec_origin(file, line, column)),
        groups=tuple(map(codec.dec_group, _want(groups, tuple))),
        bindings=tuple(map(dec_binding, _want(bindings, tuple))),
        outputs=tuple(map(_dec_output, _want(outputs, tuple))),
        config_hash=_want(config_hash, str),
        expects=tuple(map(_dec_expect, _want(expects, tuple))),
        templates=tuple(map(dec_template_spec, _want(templates, tuple))),
        moves=tuple(map(_dec_move, _want(moves, tuple))),
    )


def _enc_diags(diags: Sequence[Diagnostic]) -> tuple:
    return tuple((d.severity.value, d.message, *_enc_origin(d.range), d.address) for d in diags)


def _dec_diags(t: Any) -> tuple[Diagnostic, ...]:
    out = []
    for d in _want(t, tuple):
        severity, message, file, line, column, address = _want(d, tuple)
        out.append(Diagnostic(Severity(_want(severity, str)), _want(message, str), _dec_origin(file, line, column),
                              _opt_str(address)))
    return tuple(out)


def _enc_group_ids(ids: Mapping[str, Any]) -> tuple:
    out = []
    for address, value in sorted(ids.items()):
        if type(value) is str:
            out.append((address, "s", value, ()))
        elif type(value) is Unknown:
            out.append((address, "u", value.address, tuple(sorted(value.refs))))
        else:
            raise _Uncacheable("unexpected id value")
    return tuple(out)


def _dec_group_ids(t: Any) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for address, kind, value, refs in (_want(x, tuple) for x in _want(t, tuple)):
        if kind == "s":
            ids[_want(address, str)] = _want(value, str)
        elif kind == "u":
            ids[_want(address, str)] = Unknown(_strs(refs), _opt_str(value))
        else:
            raise _Bad("bad id kind")
    return ids


@dataclass
class Entry:
    """A decoded entry: the first evaluation, the diagnostics a run shows (warnings only: an
    evaluation with errors is never stored) and what substituting ids needs."""

    desired: DesiredState
    diags: tuple[Diagnostic, ...]
    substitutable: Substitutable | None


def cacheable(cfg: Configuration) -> bool:
    """Whether this configuration's evaluation may be stored at all (and so give its entry name
    to the caches of later stages): a sensitive variable must never reach the cache."""
    return not any(getattr(v, "sensitive", False) for v in cfg.root.variables.values())


def encode_entry(cfg: Configuration, desired: DesiredState, diags: Sequence[Diagnostic],
                 manifest: tuple[tuple, tuple]) -> bytes:
    """The payload for an entry (`manifest` from `_manifest`, taken before the evaluation, which
    may release the files' bytes); raises _Uncacheable when something is not covered."""
    if not cacheable(cfg):
        raise _Uncacheable("a sensitive variable is never cached")
    dirs, calls = manifest
    first = cfg._substitutable if cfg._substitutable is not None and cfg._substitutable.desired is desired else None
    subst = None
    if first is not None:
        subst = (_enc_diags(first.diags_before_outputs), _enc_diags(first.output_diags),
                 _enc_diags(first.diags_after_outputs), _enc_group_ids(first.group_ids), first.outputs_read_unknown)
    return _PLAIN + marshal.dumps((dirs, calls, encode_desired(desired), _enc_diags(diags), subst))


def decode_entry(payload: bytes) -> Entry | None:
    """The entry, or None when its module manifest no longer holds; raises on a bad shape."""
    if payload[:1] != _PLAIN:
        raise _Bad("unknown entry codec")
    dirs, calls, desired_t, diags_t, subst_t = _want(marshal.loads(payload[1:]), tuple)
    if not _manifest_holds(dirs, calls):
        return None
    desired = decode_desired(desired_t)
    diags = _dec_diags(diags_t)
    if has_errors(diags):
        raise _Bad("an entry with errors")
    subst = None
    if subst_t is not None:
        before, outputs, after, ids, read_unknown = _want(subst_t, tuple)
        subst = Substitutable(desired, _dec_diags(before), _dec_diags(after), _dec_group_ids(ids), _dec_diags(outputs),
                              _want(read_unknown, bool))
    return Entry(desired, diags, subst)


# -- the configuration a warm run works with ---------------------------------------------------


@dataclass
class CachedConfiguration:
    """Stands in for `Configuration` when the first evaluation came from the cache: `evaluate`
    substitutes known ids without the configuration when the entry allows it, and otherwise
    loads the configuration for real (once) and asks it."""

    directory: Path
    var_inputs: VarInputs
    env: Mapping[str, str]
    entry: Entry
    _real: Configuration | None = field(default=None, repr=False)

    @property
    def config_hash(self) -> str:
        return self.entry.desired.config_hash

    def real(self) -> tuple[Configuration | None, list[Diagnostic]]:
        """The configuration loaded for real, or None with the diagnostics that say why (its
        files changed since the key was taken)."""
        if self._real is None:
            cfg, diags = load_configuration(self.directory, var_inputs=self.var_inputs, env=self.env)
            if cfg is None or has_errors(diags):
                return None, diags
            if cfg.config_hash != self.config_hash:
                return None, [error("the configuration changed while sgplan was running; run it again")]
            if self.entry.substitutable is not None:
                cfg._substitutable = self.entry.substitutable
            self._real = cfg
        return self._real, []

    def evaluate(self, known_ids: Mapping[str, str] | None = None, *, previous: DesiredState | None = None
                 ) -> tuple[DesiredState | None, list[Diagnostic]]:
        first = self.entry.substitutable
        if previous is not None and first is not None and previous is first.desired:
            if not first.outputs_read_unknown:
                stored = first.desired.outputs

                def outputs(diags: list[Diagnostic]) -> list[Output]:
                    diags.extend(first.output_diags)
                    return list(stored)

                with gc_paused():
                    fast = substitute(first, known_ids or {}, outputs)
                if fast is not None:
                    return fast
        elif not known_ids and previous is None:
            return self.entry.desired, list(self.entry.diags)
        real, diags = self.real()
        if real is None:
            return None, diags
        if previous is not None and previous is not self.entry.desired:
            previous = None  # not a result of this configuration's first evaluation
        return real.evaluate(known_ids, previous=previous)

    def pinned_ids(self) -> dict[str, str]:
        desired = self.entry.desired
        return {g.address: g.id for g in desired.groups if g.id and g.address}


def load_evaluated(directory: Path, var_inputs: VarInputs, env: Mapping[str, str]
                   ) -> tuple[Configuration | CachedConfiguration | None, DesiredState | None, list[Diagnostic], str | None]:
    """(configuration, first evaluation, diagnostics, entry name) as `load_configuration` then
    `evaluate({})` give them, from the cache when an entry for exactly these inputs exists. The
    entry name (None when nothing is cached) names these inputs for caches of later stages."""
    name = None if cache_disabled(env) else cache_key(directory, var_inputs, env)
    store = SignedStore(directory) if name is not None else None
    if store is not None and name is not None:
        entry = _decoded(store.get(name))
        if entry is not None:
            return CachedConfiguration(directory, list(var_inputs), env, entry), entry.desired, list(entry.diags), name
    cfg, diags = load_configuration(directory, var_inputs=var_inputs, env=env)
    flush_writes()  # the parse cache's entries, encoded by a child while this process evaluates
    if cfg is None or has_errors(diags):
        return cfg, None, diags, None
    manifest = None
    if store is not None:
        try:  # now, while the module files' bytes are loaded (the evaluation may release them)
            manifest = _manifest(cfg.root)
        except (_Uncacheable, OSError):
            manifest = None
    desired, more = cfg.evaluate({})
    diags = list(diags) + list(more)
    if desired is None or has_errors(diags):
        return cfg, desired, diags, None
    if store is not None and name is not None and manifest is not None and cache_key(directory, var_inputs, env) == name:
        if cacheable(cfg):
            store.put_later(name, lambda: encode_entry(cfg, desired, diags, manifest))
            flush_writes()  # encoded and written by a child while this process reads the cloud
            return cfg, desired, diags, name
    return cfg, desired, diags, None


def _decoded(payload: bytes | None) -> Entry | None:
    """A stored entry, or None when there is none or it is not one this codec wrote."""
    if payload is None:
        return None
    try:
        with gc_paused():
            return decode_entry(payload)
    except Exception:  # a corrupt entry (under a valid MAC only if the key leaked): a miss
        return None
