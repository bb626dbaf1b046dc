"""The entry points: `load_configuration` (files, modules, variable values) and
`Configuration.evaluate` (known ids → `DesiredState`), both returning `(value, diagnostics)`."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from sgplan.cachestore import cache_disabled
from sgplan.config.build import (
    binding_scope,
    build_binding,
    build_expect,
    build_group,
    build_outputs,
    build_settings,
    force_all,
)
from sgplan.config.evaluate import Evaluator
from sgplan.config.instance import Context, ModuleInstance, group_default_name
from sgplan.config.modules import ModuleConfig, load_module
from sgplan.config.moved import Move, build_moves, moved_blocks, resolve_moves
from sgplan.config.rules import GROUP_ID
from sgplan.config.template_blocks import build_templates
from sgplan.config.validate import validate
from sgplan.config.values import EvalError, Unknown
from sgplan.config.variables import MISSING, finalize, root_values
from sgplan.diagnostics import Diagnostic, error, has_errors
from sgplan.hcl.cache import ParseCache
from sgplan.hcl.load import file_hash, gc_paused
from sgplan.hcl.syntax import Block, SourceFile
from sgplan.model import Binding, DesiredState, Expect, GroupRef, Output, Rule, SecurityGroup, Settings, TemplateSpec


@dataclass(frozen=True)
class _Substitutable:
    """What an evaluation with no known ids leaves for a later one to substitute ids into:
    its result, its diagnostics before and after the root outputs (re-evaluated each time),
    and the id each referenced group had."""

    desired: DesiredState
    diags_before_outputs: tuple[Diagnostic, ...]
    diags_after_outputs: tuple[Diagnostic, ...]
    group_ids: dict[str, Any]
    # The root outputs' own diagnostics, and whether they read an unknown id: when they did not,
    # no known id can change them, so a cached result substitutes without the configuration.
    output_diags: tuple[Diagnostic, ...] = ()
    outputs_read_unknown: bool = True


# The evaluated-state cache (evaluated_cache.py) stores and rebuilds these.
Substitutable = _Substitutable


@dataclass
class Configuration:
    """A loaded configuration: the module tree, the root variable values and the config hash."""

    directory: Path
    root: ModuleConfig
    variables: dict[str, Any]
    config_hash: str
    load_failed: bool = False  # load_configuration reported errors: evaluate gives no state
    _substitutable: _Substitutable | None = field(default=None, repr=False, compare=False)
    # How to read the same configuration again (load_configuration with the same arguments),
    # and whether the rule blocks were released (see `_release`).
    _reload: Callable[[], tuple["Configuration | None", list[Diagnostic]]] | None = field(
        default=None, repr=False, compare=False)
    _released: bool = field(default=False, repr=False, compare=False)

    def evaluate(self, known_ids: Mapping[str, str] | None = None, *, previous: DesiredState | None = None
                 ) -> tuple[DesiredState | None, list[Diagnostic]]:
        """See `_evaluate`. With `previous` (an earlier result of this method with no known ids),
        the ids are substituted into it when that evaluation saw unknown ids only where a
        substitution settles them exactly (`instance.Context`), else everything is evaluated again."""
        with gc_paused():
            if previous is not None and self._substitutable is not None and self._substitutable.desired is previous:
                fast = self._substitute(self._substitutable, known_ids or {})
                if fast is not None:
                    return fast
            if self._released:
                problem = self._restore()
                if problem is not None:
                    return None, [problem]
            result = self._evaluate(known_ids)
            if not known_ids and self._substitutable is not None and self._reload is not None:
                self._release()
            return result

    def _release(self) -> None:
        """Drop the rule blocks (the nested blocks of `security_group` blocks) once an evaluation
        has left a result to substitute ids into (issue 18): the substitution re-evaluates only
        the root outputs, and a group reference reads only the group's own attributes (`name`,
        `id`, `for_each`, `count`), never its rules. At G=2,000 × R=50 these records are
        ~100 MB that plan kept to the end. Only large configurations are released
        (`RELEASE_MIN_BLOCKS`); a later full evaluation reads the files again (`_restore`)."""
        if _rule_blocks(self.root) < RELEASE_MIN_BLOCKS:
            return
        self.root = _stripped(self.root, {})
        self._released = True

    def _restore(self) -> Diagnostic | None:
        """The released blocks back, by loading the same files again: the same bytes (the
        configuration hash) or an error, never a different configuration mid-run."""
        assert self._reload is not None
        again, _diags = self._reload()
        if again is None or again.config_hash != self.config_hash:
            return error(f"{self.directory}: the configuration files changed while sgplan was running; run it again")
        self.root = again.root
        self._released = False
        return None

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
        expects: list[Expect] = []
        templates: list[TemplateSpec] = []
        outputs_start, uses_before = len(diags), ctx.unknown_uses
        outputs = build_outputs(root)
        # Reads of unknown ids made for the root outputs are settled by evaluating them again.
        outputs_end, output_uses = len(diags), ctx.unknown_uses - uses_before
        for inst in _instances(root):
            force_all(inst)
            for label, block in inst.config.groups.items():
                expanded = inst.expansion(block, f"{inst.prefix}security_group.{label}")
                if expanded is None:
                    group = build_group(inst, label, block)
                    if group is not None:
                        groups.append(group)
                    continue
                for suffix, key, names in expanded:  # ordered by key (Terraform's order)
                    group = build_group(inst.keyed(names), label + suffix, block, group_default_name(label, key))
                    if group is not None:
                        groups.append(group)
            for label, block in inst.config.bindings.items():
                expanded = inst.expansion(block, f"{inst.prefix}binding.{label}")
                if expanded is None:
                    bindings.extend(build_binding(inst, label, block))
                    continue
                for suffix, _key, names in expanded:
                    bindings.extend(build_binding(inst.keyed(names), label + suffix, block))
            templates.extend(build_templates(inst, diags))
            expect_blocks = _expect_blocks(inst.config, diags)
            scope = binding_scope(inst) if expect_blocks else None
            for label, block in expect_blocks.items():
                expect = build_expect(inst, label, block, scope)
                if expect is not None:
                    expects.append(expect)
            if inst is not root:
                for name in inst.config.outputs:
                    try:
                        inst.output(name)
                    except EvalError as exc:  # a reference error inside was reported already
                        if not exc.reported:
                            diags.append(error(exc.message, inst.config.outputs[name].range))
        spelled: list[Move] = []
        for inst in _instances(root):
            blocks = [b for f in inst.config.files if f.body is not None for b in moved_blocks(f.body.blocks)]
            spelled.extend(build_moves(inst.prefix, blocks, diags))
        moves = resolve_moves(spelled, {g.address for g in groups if g.address}, diags)
        validated = len(diags)
        diags.extend(validate(tuple(groups), tuple(bindings)))
        diags.extend(_require_stack(settings, groups, bindings, templates))
        desired = DesiredState(
            settings=settings,
            groups=tuple(groups),
            bindings=tuple(bindings),
            outputs=tuple(outputs),
            config_hash=self.config_hash,
            expects=tuple(expects),
            templates=tuple(templates),
            moves=tuple(moves),
        )
        failed = self.load_failed or has_errors(diags)
        if not known_ids and not failed and not ctx.opaque and ctx.unknown_uses - output_uses == ctx.plain_uses:
            self._substitutable = _Substitutable(desired, tuple(diags[:outputs_start]),
                                                 tuple(diags[outputs_end:validated]), dict(ctx.group_ids),
                                                 tuple(diags[outputs_start:outputs_end]), output_uses != 0)
        _unlink(root)
        return (None if failed else desired), _dedupe(diags)

    def _substitute(self, first: _Substitutable, known_ids: Mapping[str, str]
                    ) -> tuple[DesiredState | None, list[Diagnostic]] | None:
        """`first.desired` with GroupRefs replaced by `known_ids` and the root outputs evaluated
        again: exactly what `_evaluate(known_ids)` gives, or None when that cannot be promised."""

        def outputs(diags: list[Diagnostic]) -> list[Output]:
            root = ModuleInstance(self.root, "", self.variables, Context(Evaluator(), known_ids, diags))
            values = build_outputs(root)
            _unlink(root)
            return values

        return substitute(first, known_ids, outputs)

    def pinned_ids(self) -> dict[str, str]:
        """Root-module addresses of groups pinned with a literal `id = "sg-…"`."""
        desired, _ = self.evaluate()
        return {g.address: g.id for g in desired.groups if g.id and g.address} if desired else {}


def substitute(first: _Substitutable, known_ids: Mapping[str, str],
               outputs: Callable[[list[Diagnostic]], list[Output]]) -> tuple[DesiredState | None, list[Diagnostic]] | None:
    """`first.desired` with GroupRefs replaced by `known_ids` and the root outputs from
    `outputs` (which appends its diagnostics to the list it is given); None when a full
    evaluation is needed (`Configuration._substitute`)."""
    ids: dict[str, str] = {}
    for address, group_id in known_ids.items():
        seen = first.group_ids.get(address)
        if seen is None:
            continue  # never referenced: the id changes nothing
        if type(seen) is not Unknown:
            if seen != group_id:
                return None  # a pinned group's references would change value
            continue
        if not isinstance(group_id, str) or not GROUP_ID.match(group_id):
            return None  # a full evaluation would report it
        ids[address] = group_id
    desired = first.desired
    groups = desired.groups
    # The first evaluation validated everything without an error (else it would not be
    # substitutable), and validation only reports errors: what substitution did not change
    # (groups by identity, pinned ids, bindings' instances and addresses) has none now either,
    # nor a changed group in which no two rules naming ids are now equal.
    changed: list[SecurityGroup] = []
    if ids:
        resolved_groups: list[SecurityGroup] = []
        for group in groups:
            resolved_group, may_repeat = _resolve_group(group, ids)
            resolved_groups.append(resolved_group)
            if may_repeat:
                changed.append(resolved_group)
        groups = tuple(resolved_groups)
    bindings: list[Binding] = []
    for binding in desired.bindings:
        if ids and any(type(g) is GroupRef and g.address in ids for g in binding.security_groups):
            resolved = tuple(ids.get(g.address, g) if type(g) is GroupRef else g for g in binding.security_groups)
            if len({str(g) for g in resolved}) != len(resolved):
                return None  # now listed twice: a full evaluation reports it
            # Built directly: dataclasses.replace costs several times more (5,000 bindings here).
            binding = Binding(binding.address, binding.instance_id, resolved, binding.origin)
        bindings.append(binding)
    diags: list[Diagnostic] = list(first.diags_before_outputs)
    values = outputs(diags)
    diags.extend(first.diags_after_outputs)
    diags.extend(validate(tuple(changed), ()))
    result = replace(desired, groups=groups, bindings=tuple(bindings), outputs=tuple(values))
    return (None if has_errors(diags) else result), _dedupe(diags)


# Rule blocks from which a configuration's are released after the first evaluation (a few
# hundred kB of records below this; G=2,000 × R=50 has 100,000).
RELEASE_MIN_BLOCKS = 20_000


def _rule_blocks(module: ModuleConfig) -> int:
    count = sum(len(b.blocks) for b in module.groups.values())
    return count + sum(_rule_blocks(c) for c in module.children.values() if c is not None)


def _stripped(module: ModuleConfig, memo: dict[int, Block]) -> ModuleConfig:
    """`module` (and its children) with every `security_group` block's nested blocks and the
    files' bytes dropped, the same records otherwise (`memo`: one stripped block per original)."""

    def strip(block: Block) -> Block:
        if block.type != "security_group" or not block.blocks:
            return block
        done = memo.get(id(block))
        if done is None:
            done = memo[id(block)] = Block(block.type, block.labels, block.attributes, (), block.range)
        return done

    # The files' bytes go too (hashed and cached at load, read by nothing after; 17 MB here).
    files = [f if f.body is None else SourceFile(f.path, b"", Block(
        f.body.type, f.body.labels, f.body.attributes, tuple([strip(b) for b in f.body.blocks]), f.body.range))
        for f in module.files]
    return replace(module, files=files, groups={label: strip(b) for label, b in module.groups.items()},
                   children={name: None if c is None else _stripped(c, memo) for name, c in module.children.items()})


def _require_stack(settings: Settings, groups: list[SecurityGroup], bindings: list[Binding],
                   templates: Sequence[TemplateSpec] = ()) -> list[Diagnostic]:
    """DESIGN §2: `stack` is required once anything is declared (groups, templates, bindings):
    the stack tag is what a plan may delete, so there is no shared fallback name."""
    if settings.stack is not None or not (groups or bindings or templates):
        return []
    where = settings.origin or next((g.origin for g in [*groups, *templates] if g.origin), None)
    if where is None:
        where = next((b.origin for b in bindings if getattr(b, "origin", None)), None)
    return [error('stack is required: add `sgplan { stack = "<name>" }` (it names the groups this '
                  "configuration owns; plans delete that stack's groups that are no longer declared)", where)]


def _expect_blocks(config: ModuleConfig, diags: list[Diagnostic]) -> dict[str, Block]:
    """A module's `expect` blocks by label, in file order; a repeated label is an error."""
    found: dict[str, Block] = {}
    for source in config.files:
        for block in source.body.blocks if source.body is not None else ():
            if block.type != "expect" or len(block.labels) != 1:
                continue
            label = block.labels[0]
            if label in found:
                first = found[label].range
                diags.append(error(f'duplicate expect "{label}" (first declared at {first.file}:{first.line})',
                                   block.range))
                continue
            found[label] = block
    return found


def _resolve_group(group: SecurityGroup, ids: Mapping[str, str]) -> tuple[SecurityGroup, bool]:
    """`group` with the references `ids` knows resolved (`group` itself when none is), and
    whether two of its rules may now be equal (a DuplicatePolicy error validation reports)."""
    ingress, ingress_may_repeat = _resolve_rules(group.ingress, ids)
    egress, egress_may_repeat = _resolve_rules(group.egress, ids)
    if ingress is group.ingress and egress is group.egress:
        return group, False
    return replace(group, ingress=ingress, egress=egress), ingress_may_repeat or egress_may_repeat


def _resolve_rules(rules: tuple[Rule, ...], ids: Mapping[str, str]) -> tuple[tuple[Rule, ...], bool]:
    """`rules` with the references `ids` knows resolved (the same tuple when none is), and
    whether two of them may now be equal. Only a resolved reference changed, and it now names
    an id: a rule it can equal names the same id in the same field, so only the rules naming an
    id are compared (unchanged rules were distinct in the first evaluation)."""
    out: list[Rule] | None = None
    naming: list[Rule] = []
    for index, rule in enumerate(rules):
        # The common rule names neither a group nor a template: no call for it (100,000
        # rules at G=2,000 × R=50, issue 18).
        if (rule.security_group_id is None and rule.address_template_id is None
                and rule.address_template_group_id is None and rule.service_template_id is None
                and rule.service_template_group_id is None):
            continue
        resolved = _resolve_rule(rule, ids)
        if resolved is not rule:
            if out is None:
                out = list(rules)
            out[index] = resolved
        if (type(resolved.security_group_id) is str or type(resolved.address_template_id) is str
                or type(resolved.address_template_group_id) is str or type(resolved.service_template_id) is str
                or type(resolved.service_template_group_id) is str):
            naming.append(resolved)
    if out is None:
        return rules, False
    seen = set()
    for rule in naming:
        key = (rule.key(), rule.description)
        if key in seen:
            return tuple(out), True
        seen.add(key)
    return tuple(out), False


def _resolve_rule(rule: Rule, ids: Mapping[str, str]) -> Rule:
    # Most rules name no group or template: skip `Rule.resolved`'s five lookups (issue 18).
    sg = rule.security_group_id
    if (rule.address_template_id is None and rule.address_template_group_id is None
            and rule.service_template_id is None and rule.service_template_group_id is None):
        if type(sg) is not GroupRef:
            return rule
        if sg.address in ids:  # the common reference: built directly (dataclasses.replace is slow)
            return Rule(rule.action, rule.protocol, rule.port, rule.cidr_block, rule.ipv6_cidr_block, ids[sg.address],
                        None, None, None, None, rule.description, rule.origin)
        return rule
    return rule.resolved(ids)


def _unlink(inst: ModuleInstance) -> None:
    """Empty the module instances of a finished evaluation (`inst` and the children it made).
    Each is in a reference cycle with its scope (the namespaces hold its bound methods), which
    reference counting cannot free and which `gc_paused` freezes: without this, every
    evaluation's instances, their caches and the configuration records they point to stayed
    alive to the end of the run (issue 18)."""
    for child in inst.__dict__.get("_children", {}).values():
        if child is not None:
            _unlink(child)
    inst.__dict__.clear()


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
        root = load_module(directory, str(directory), evaluator, diags, cache=parse_cache, env=env)
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
    reload = functools.partial(load_configuration, directory, var_inputs=tuple(var_inputs), env=env, cache=cache)
    return Configuration(directory, root, values, digest, has_errors(diags), _reload=reload), _dedupe(diags)

