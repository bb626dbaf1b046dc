"""Model values ↔ plain tuples of builtins, for the caches of a warm run (issue 18): the
evaluated configuration (config/evaluated_cache.py) and the live state read from a state file
(cloud/state_cache.py).

Decoding is by an explicit schema: each position of each tuple has one expected type, checked,
and the model class is chosen by where the tuple sits, never by a name found in the data. Rules
shared by identity (the live side shares identical rules, cloud/reader.py) are written once
(marshal keeps the identity of a tuple written twice) and decoded once.
"""

from __future__ import annotations

from typing import Any, Callable

from sgplan.model import (AddressTemplate, AddressTemplateGroup, Binding, CloudState, Instance, Rule, SecurityGroup,
                          ServiceTemplate, ServiceTemplateGroup, SourceRange, GroupRef, TemplateSpec)


class Uncacheable(Exception):
    """A value the codec does not cover: the run goes without the cache."""


class Bad(ValueError):
    """An entry that does not have the shape the codec writes."""


_OPT_STR = frozenset({str, type(None)})


def want(value: Any, *types: type) -> Any:
    if type(value) not in types:
        raise Bad(f"unexpected {type(value).__name__}")
    return value


def opt_str(value: Any) -> str | None:
    if type(value) not in _OPT_STR:
        raise Bad("expected a string")
    return value


def strs(value: Any) -> tuple[str, ...]:
    for v in want(value, tuple):
        if type(v) is not str:
            raise Bad("expected strings")
    return value


def opt_strs(value: Any) -> tuple[str, ...] | None:
    return None if value is None else strs(value)


def enc_origin(r: SourceRange | None) -> tuple:
    return (None, 0, 0) if r is None else (r.file, r.line, r.column)


def dec_origin(file: Any, line: Any, column: Any) -> SourceRange | None:
    if file is None:
        return None
    if type(file) is not str or type(line) is not int or type(column) is not int:
        raise Bad("bad position")
    return SourceRange(file, line, column)


def enc_ref(value: Any) -> Any:
    """A rule/binding/template reference: a string id, None, or a GroupRef as (address,)."""
    if value is None or type(value) is str:
        return value
    if type(value) is GroupRef:
        return (value.address,)
    raise Uncacheable("unexpected reference value")


def dec_ref(value: Any) -> str | GroupRef | None:
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is tuple and len(value) == 1 and type(value[0]) is str:
        return GroupRef(value[0])
    raise Bad("bad reference")


def tags(value: Any) -> tuple[tuple[str, str], ...]:
    for pair in want(value, tuple):
        if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) is not str or type(pair[1]) is not str:
            raise Bad("bad tag")
    return value


def enc_rule(r: Rule) -> tuple:
    """One rule as a tuple of builtins, its position last (`Codec.dec_rule` reads it)."""
    # Fields read one by one (slot reads are the cheapest access) and no call for the common
    # rule, which names no group or template: 100,000 rules at G=2,000 × R=50 (issue 18).
    action, protocol, port, cidr, cidr6, description = (r.action, r.protocol, r.port, r.cidr_block,
                                                        r.ipv6_cidr_block, r.description)
    sg, at, atg, st, stg = (r.security_group_id, r.address_template_id, r.address_template_group_id,
                            r.service_template_id, r.service_template_group_id)
    if (type(action) not in _OPT_STR or type(protocol) not in _OPT_STR or type(port) not in _OPT_STR
            or type(cidr) not in _OPT_STR or type(cidr6) not in _OPT_STR or type(description) not in _OPT_STR):
        raise Uncacheable("unexpected rule field")
    if not ((sg is None or type(sg) is str) and at is None and atg is None and st is None and stg is None):
        sg, at, atg, st, stg = enc_ref(sg), enc_ref(at), enc_ref(atg), enc_ref(st), enc_ref(stg)
    origin = r.origin
    if origin is None:
        return (action, protocol, port, cidr, cidr6, sg, at, atg, st, stg, description, None, 0, 0)
    return (action, protocol, port, cidr, cidr6, sg, at, atg, st, stg, description, origin.file, origin.line,
            origin.column)


def dec_rule(t: Any) -> Rule:
    """The rule `enc_rule` wrote, every field's type checked; `Bad` for anything else."""
    if type(t) is not tuple or len(t) != 14:
        raise Bad("bad rule")
    action, protocol, port, cidr, cidr6, sg, at, atg, st, stg, description, file, line, column = t
    if (type(action) is not str or type(protocol) not in _OPT_STR or type(port) not in _OPT_STR
            or type(cidr) not in _OPT_STR or type(cidr6) not in _OPT_STR or type(description) is not str):
        raise Bad("bad rule field")
    if sg is not None and type(sg) is not str:
        sg = dec_ref(sg)
    if not (at is None and atg is None and st is None and stg is None):  # templates are rare
        at, atg, st, stg = dec_ref(at), dec_ref(atg), dec_ref(st), dec_ref(stg)
    if file is None:
        origin = None
    elif type(file) is str and type(line) is int and type(column) is int:
        origin = SourceRange(file, line, column)
    else:
        raise Bad("bad position")
    return Rule(action, protocol, port, cidr, cidr6, sg, at, atg, st, stg, description, origin)


class Codec:
    """One encode or decode pass; remembers rules by identity so shared rules stay shared.

    `share_rules=False` encodes and decodes each rule where it appears, without the memo: the
    desired state shares none (each rule is its own block's), and the memo cost a third of its
    encoding."""

    def __init__(self, share_rules: bool = True) -> None:
        self._rules: dict[int, Any] = {}
        self._keep: list[Any] = []  # keeps memo keys (ids) alive for the pass
        self._enc_rule = self.enc_rule if share_rules else enc_rule
        self._dec_rule = self.dec_rule if share_rules else dec_rule

    # -- rules
    def enc_rule(self, r: Rule) -> tuple:
        done = self._rules.get(id(r))
        if done is not None:
            return done
        t = self._rules[id(r)] = enc_rule(r)
        self._keep.append(r)
        return t

    def dec_rule(self, t: Any) -> Rule:
        done = self._rules.get(id(t))
        if done is not None:
            return done
        rule = self._rules[id(t)] = dec_rule(t)
        self._keep.append(t)
        return rule

    # -- groups
    def enc_group(self, g: SecurityGroup) -> tuple:
        enc = self._enc_rule
        return (g.name, g.description, g.project_id, g.tags, tuple(map(enc, g.ingress)), tuple(map(enc, g.egress)),
                g.id, g.address, g.stack, g.is_default, g.version, g.prevent_destroy, g.ignore_findings,
                *enc_origin(g.origin))

    def dec_group(self, t: Any) -> SecurityGroup:
        (name, description, project_id, tag_pairs, ingress, egress, id_, address, stack, is_default, version,
         prevent_destroy, ignore_findings, file, line, column) = want(t, tuple)
        dec = self._dec_rule
        return SecurityGroup(want(name, str), want(description, str), want(project_id, str), tags(tag_pairs),
                             tuple(map(dec, want(ingress, tuple))), tuple(map(dec, want(egress, tuple))),
                             opt_str(id_), opt_str(address), opt_str(stack), want(is_default, bool), opt_str(version),
                             want(prevent_destroy, bool), strs(ignore_findings), dec_origin(file, line, column))


def enc_binding(b: Binding) -> tuple:
    return (b.address, b.instance_id, tuple(enc_ref(g) for g in b.security_groups), *enc_origin(b.origin))


def dec_binding(t: Any) -> Binding:
    address, instance_id, groups, file, line, column = want(t, tuple)
    refs = tuple(dec_ref(g) for g in want(groups, tuple))
    if None in refs:
        raise Bad("bad binding")
    return Binding(want(address, str), want(instance_id, str), refs, dec_origin(file, line, column))


def enc_template_spec(t: TemplateSpec) -> tuple:
    return (t.kind, t.address, t.name, tuple(enc_ref(m) for m in t.members), t.id, *enc_origin(t.origin))


def dec_template_spec(t: Any) -> TemplateSpec:
    kind, address, name, members, id_, file, line, column = want(t, tuple)
    refs = tuple(dec_ref(m) for m in want(members, tuple))
    if None in refs:
        raise Bad("bad template member")
    return TemplateSpec(want(kind, str), want(address, str), want(name, str), refs, opt_str(id_),
                        dec_origin(file, line, column))


# -- the live state ----------------------------------------------------------------------------

_LIVE_TEMPLATES: tuple[tuple[str, type, str], ...] = (
    ("address_templates", AddressTemplate, "addresses"),
    ("address_template_groups", AddressTemplateGroup, "template_ids"),
    ("service_templates", ServiceTemplate, "services"),
    ("service_template_groups", ServiceTemplateGroup, "template_ids"),
)


def encode_state(state: CloudState) -> tuple:
    codec = Codec()
    templates = []
    for field_name, cls, members in _LIVE_TEMPLATES:
        items = []
        for t in getattr(state, field_name):
            if type(t) is not cls:
                raise Uncacheable("unexpected template value")
            items.append((t.id, t.name, strs(getattr(t, members)), tags(t.tags)))
        templates.append(tuple(items))
    instances = tuple((i.instance_id, strs(i.security_group_ids), i.name, tags(i.tags)) for i in state.instances)
    return (state.region, tuple(map(codec.enc_group, state.groups)), instances, tuple(templates))


def decode_state(t: Any) -> CloudState:
    region, groups, instances, templates = want(t, tuple)
    codec = Codec()
    lists: dict[str, tuple] = {}
    for (field_name, cls, _members), items in zip(_LIVE_TEMPLATES, want(templates, tuple), strict=True):
        made: Callable[..., Any] = cls
        lists[field_name] = tuple(made(want(i, str), want(n, str), strs(m), tags(tg))
                                  for i, n, m, tg in (want(x, tuple) for x in want(items, tuple)))
    return CloudState(
        region=want(region, str),
        groups=tuple(map(codec.dec_group, want(groups, tuple))),
        instances=tuple(Instance(want(i, str), strs(g), want(n, str), tags(tg))
                        for i, g, n, tg in (want(x, tuple) for x in want(instances, tuple))),
        **lists,
    )
