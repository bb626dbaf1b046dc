"""What a change does to network exposure: traffic each instance gains or loses, in readable ranges.

`compare(before, after)` evaluates every instance's effective policy (its groups in binding
order, API reference §5) on both sides and reports the exact difference; a group bound to no
instance is evaluated alone. `transient_exposure` finds what an intermediate state of an apply
allows that neither end allows.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from sgplan.analysis.access import Evaluator, RuleKeys, Templates, gc_paused
from sgplan.analysis.layers import Layer, stack_difference
from sgplan.analysis.space import (
    OTHERS,
    PORTED,
    PROTOCOL_ORDER,
    V4,
    V6,
    Traffic,
    canonical,
    interval_cidrs,
    is_symbolic,
    is_symbolic_protocol,
    merge_intervals,
    network_interval,
    parse_ports,
    ports_text,
    subtract,
)
from sgplan.model import CloudState, Direction, GroupRef, Rule, SecurityGroup

OPENED = "opened"
CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ExposureChange:
    """One readable piece of an access difference (plan JSON `exposure_changes`, DESIGN §5).

    `instance_id` names the instance; for a group bound to no instance it holds the group's id
    (or its placeholder, e.g. `(new)security_group.web`). `ports` is `ALL` for protocols without
    ports. `peer` is a CIDR, or a symbolic peer (`sg-…`, `ipm-…`) whose addresses are not known.
    """

    instance_id: str
    direction: str
    protocol: str
    ports: str
    peer: str
    effect: str  # OPENED | CLOSED

    def to_json(self) -> dict[str, str]:
        return {
            "instance_id": self.instance_id,
            "direction": self.direction,
            "protocol": self.protocol,
            "ports": self.ports,
            "peer": self.peer,
            "effect": self.effect,
        }

    @property
    def flow(self) -> str:
        """`TCP 22 from 0.0.0.0/0` (ingress) or `ALL to 10.0.0.0/8` (egress)."""
        service = f"{self.protocol} {self.ports}" if self.protocol in PORTED else self.protocol
        word = "from" if self.direction == Direction.INGRESS.value else "to"
        return f"{service} {word} {self.peer}"

    def __str__(self) -> str:
        return f"{self.flow}: {self.effect}"


@dataclass(frozen=True, slots=True)
class AccessView:
    """The inputs of an access question, as plain model values.

    `groups` maps a group key (a live `sg-…` id, or a placeholder such as
    `(new)security_group.web` for a group still to be created) to the group; `instances` maps an
    instance id to its group keys in binding order. Rules that reference a group by `GroupRef`
    are resolved to that group's key when a group of the view has that address. A key an
    instance lists but `groups` lacks counts as a group with no rules: give every group.
    A view is read-only: it caches each group's resolved rules.
    """

    groups: Mapping[str, SecurityGroup]
    instances: Mapping[str, tuple[str, ...]]
    templates: Templates = field(default_factory=Templates)
    # Group key → the group of another view whose rules (both directions, as written) equal this
    # view's group's rules there, when the view was derived from that one (planned.after_view
    # knows which groups a plan leaves alone). A comparison with that view then tests identity
    # instead of comparing 100,000 rules field by field (issue 18).
    same_rules_as: Mapping[str, SecurityGroup] = field(default_factory=dict, compare=False, repr=False)
    _resolved: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def from_state(cls, state: CloudState, templates: CloudState | None = None) -> "AccessView":
        """A view of a CloudState (its templates, unless `templates` gives another state's)."""
        return cls(
            groups={g.id or g.address or g.name: g for g in state.groups},
            instances={i.instance_id: tuple(i.security_group_ids) for i in state.instances},
            templates=Templates.from_state(templates or state),
        )

    def group_rules(self, key: str, direction: Direction) -> tuple[Rule, ...]:
        """One group's reference-resolved rules (empty for a key the view lacks)."""
        memo = (key, direction)
        found = self._resolved.get(memo)
        if found is not None:
            return found
        group = self.groups.get(key)
        if group is None:
            found = ()
        else:
            ids = self._ref_ids()
            found = tuple(
                replace(rule, security_group_id=ids[rule.security_group_id.address])
                if isinstance(rule.security_group_id, GroupRef) and rule.security_group_id.address in ids
                else rule
                for rule in group.rules(direction)
            )
        self._resolved[memo] = found
        return found

    def access_key(self, key: str, direction: Direction) -> tuple:
        """`access.access_key` of one group's resolved rules (cached)."""
        memo = ("access", key, direction)
        found = self._resolved.get(memo)
        if found is None:
            # Live groups share identical rule objects (cloud/reader.py): each rule's key once per view.
            keys = self._resolved.get("rule_keys")
            if keys is None:
                keys = self._resolved["rule_keys"] = RuleKeys()
            found = self._resolved[memo] = keys(self.group_rules(key, direction))
        return found

    def rules(self, group_keys: Iterable[str], direction: Direction) -> tuple[Rule, ...]:
        """The concatenated, reference-resolved rules of these groups (one instance's policy)."""
        return tuple(rule for key in group_keys for rule in self.group_rules(key, direction))

    def _ref_ids(self) -> dict[str, str]:
        found = self._resolved.get("refs")
        if found is None:
            found = self._resolved["refs"] = {g.address: key for key, g in self.groups.items() if g.address}
        return found

    def bound_keys(self) -> set[str]:
        found = self._resolved.get("bound")
        if found is None:
            found = self._resolved["bound"] = {key for keys in self.instances.values() for key in keys}
        return found

    def subject_keys(self, subject: str, is_instance: bool) -> tuple[str, ...]:
        """The group keys whose rules make up an instance's (or an unbound group's) policy."""
        if is_instance:
            return tuple(self.instances.get(subject, ()))
        return (subject,) if subject in self.groups else ()

    def layers(self, evaluator: Evaluator, group_keys: Iterable[str], direction: Direction) -> tuple[Layer, ...]:
        """The evaluated layers of these groups, in order (shared through `evaluator`)."""
        return tuple(evaluator.layer(self.group_rules(key, direction)) for key in group_keys)


# ---------------------------------------------------------------------------------------------
# Difference → readable pieces

Piece = tuple[str, str, str]  # (protocol, ports, peer)


def describe(traffic: Traffic) -> list[Piece]:
    """A traffic set as (protocol, ports, peer) pieces, merged: ports by peer, protocols into ALL.

    Parts on symbolic realms that only repeat what realm `*` holds (the reach of a 0.0.0.0/0
    rule, already shown as that CIDR) are left out, and so is realm `*` itself.
    """
    by_peer: dict[str, dict[str, str]] = {}
    peer_order: list[str] = []
    for (protocol, realm), boxes in traffic.items():
        if realm == OTHERS or protocol == OTHERS:
            continue
        if is_symbolic(realm):
            boxes = _minus(boxes, traffic.parts.get((protocol, OTHERS), ()))
        if is_symbolic_protocol(protocol):
            boxes = _minus(boxes, traffic.parts.get((OTHERS, realm), ()))
        groups: dict[tuple, list[tuple[int, int]]] = {}
        for ports, peers in canonical(boxes):
            groups.setdefault(peers, []).append(ports)
        for peers, port_list in groups.items():
            text = ports_text(port_list) if protocol in PORTED else "ALL"
            for lo, hi in peers:
                for peer in interval_cidrs(realm, lo, hi) if realm in (V4, V6) else [realm]:
                    if peer not in by_peer:
                        by_peer[peer] = {}
                        peer_order.append(peer)
                    by_peer[peer].setdefault(protocol, text)
                    if by_peer[peer][protocol] != text:
                        by_peer[peer][protocol] = ports_text(parse_ports(by_peer[peer][protocol]) + parse_ports(text))
    pieces: list[Piece] = []
    for peer in peer_order:
        services = by_peer[peer]
        if _covers_all(peer, services):
            pieces.append(("ALL", "ALL", peer))
            services = {p: t for p, t in services.items() if p not in PROTOCOL_ORDER}
        pieces.extend((protocol, ports, peer) for protocol, ports in services.items())
    return sorted(pieces, key=_piece_order)


def _minus(boxes: Sequence, others: Sequence) -> tuple:
    return tuple(subtract(boxes, others)) if others else tuple(boxes)


def _covers_all(peer: str, services: Mapping[str, str]) -> bool:
    """Does this peer gain/lose every protocol (so `ALL` says it in one line)?"""
    if ":" in peer:
        needed = ("TCP", "UDP", "ICMPv6", "GRE")
    elif "/" in peer:
        needed = ("TCP", "UDP", "ICMP", "GRE")
    else:
        needed = PROTOCOL_ORDER
    return all(services.get(p) == "ALL" for p in needed)


def _piece_order(piece: Piece) -> tuple:
    protocol, ports, peer = piece
    rank = PROTOCOL_ORDER.index(protocol) + 1 if protocol in PROTOCOL_ORDER else (0 if protocol == "ALL" else 9)
    family = 0 if "/" in peer and ":" not in peer else (1 if ":" in peer else 2)
    return (family, rank, _first_port(ports), peer)


def _first_port(ports: str) -> int:
    head = ports.split(",")[0].split("-")[0]
    return int(head) if head.isdigit() else 0


# ---------------------------------------------------------------------------------------------
# Views → changes


def _subjects(*views: AccessView) -> tuple[list[str], list[str]]:
    """Instance ids, then the keys of groups bound to no instance in any of the views."""
    instances = sorted({i for v in views for i in v.instances})
    bound = set().union(*(v.bound_keys() for v in views))
    unbound = sorted({k for v in views for k in v.groups} - bound)
    return instances, unbound


class _Layers:
    """Per view and direction: group key → signature, then layers only where they are needed."""

    def __init__(self, view: AccessView, evaluator: Evaluator, other: "_Layers | None" = None,
                 same: Callable[[str, Direction], bool] | None = None) -> None:
        self.view = view
        self.evaluator = evaluator
        self._memo: dict[tuple[str, Direction], int] = {}
        # The other side of a comparison: a group whose rules equal its rules there (descriptions
        # included, so access too; `same(key, direction)` says so) shares its signature without
        # computing an access key.
        self.other = other
        self.same = same

    def signatures(self, subject: str, is_instance: bool, direction: Direction) -> tuple[int, ...]:
        return tuple(self.signature(key, direction) for key in self.view.subject_keys(subject, is_instance))

    def signature(self, key: str, direction: Direction) -> int:
        """The signature of one group's rules (of no rules, for a key the view lacks)."""
        found = self._memo.get((key, direction))
        if found is None:
            other = self.other
            if other is not None and self.same is not None and self.same(key, direction):
                found = self._memo[(key, direction)] = other.signature(key, direction)
            else:
                rules = self.view.group_rules(key, direction)
                found = self._memo[(key, direction)] = self.evaluator.signature(rules, self.view.access_key(key, direction))
        return found

    def __call__(self, subject: str, is_instance: bool, direction: Direction) -> tuple[int, ...]:
        return self.signatures(subject, is_instance, direction)

    def layers(self, signatures: tuple[int, ...]) -> tuple[Layer, ...]:
        return tuple(self.evaluator.layer_of(s) for s in signatures)

    def stack(self, signatures: tuple[int, ...]) -> Traffic:
        return self.evaluator.allowed(self.layers(signatures))


class Comparison:
    """Two views under one evaluator, compared group by group once: `changes` (exposure) and
    `changed_subjects` (the findings' scope) share which groups' rules differ and their
    signatures (annotate_plan asks both)."""

    def __init__(self, before: AccessView, after: AccessView, evaluator: Evaluator | None = None) -> None:
        self.before, self.after = before, after
        self.evaluator = evaluator or Evaluator(after.templates)
        self._same: dict[tuple[str, Direction], bool] = {}
        self._refs_agree: bool | None = None
        self.old_layers = _Layers(before, self.evaluator)
        self.new_layers = _Layers(after, self.evaluator, other=self.old_layers, same=self.same_rules)

    def same_rules(self, key: str, direction: Direction) -> bool:
        """Does group `key` have equal reference-resolved rules (descriptions included) in both views?"""
        memo = (key, direction)
        found = self._same.get(memo)
        if found is None:
            before, after = self.before, self.after
            group = before.groups.get(key)
            if group is None or key not in after.groups:
                found = False
            elif after.same_rules_as.get(key) is group and (
                    self._references_agree() or not _names_groups(group.rules(direction))):
                found = True  # derived from this very group, references resolved alike
            else:
                found = before.group_rules(key, direction) == after.group_rules(key, direction)
            self._same[memo] = found
        return found

    def _references_agree(self) -> bool:
        """Does every group address resolve to the same key in both views?"""
        if self._refs_agree is None:
            self._refs_agree = self.before._ref_ids() == self.after._ref_ids()
        return self._refs_agree

    def unchanged(self, subject: str, is_instance: bool, direction: Direction) -> bool:
        """The same groups in the same order, each with equal rules on both sides: no signature
        needed (most instances of a plan that changes a few groups)."""
        keys = self.after.subject_keys(subject, is_instance)
        if self.before.subject_keys(subject, is_instance) != keys:
            return False
        return all(self.same_rules(k, direction) for k in keys)

    def group_changed(self, key: str) -> bool:
        """Is group `key` (of the after view) new, or changed in access in either direction?"""
        if key not in self.before.groups:
            return True
        return any(not self.same_rules(key, d)
                   and self.old_layers(key, False, d) != self.new_layers(key, False, d) for d in Direction)

    def changes(self, memo: Any = None) -> list[ExposureChange]:
        """`compare`'s answer; `memo` (an `exposure_memo.ExposureMemo`) keeps differences across
        runs, by content."""
        with gc_paused():
            return self._changes(memo)

    def _changes(self, memo: Any) -> list[ExposureChange]:
        before, after, evaluator = self.before, self.after, self.evaluator
        old_layers, new_layers = self.old_layers, self.new_layers
        instances, unbound = _subjects(before, after)
        cache: dict[tuple, list[tuple[Piece, str]]] = {}
        changes: list[ExposureChange] = []
        if memo is not None:
            from sgplan.analysis.exposure_memo import templates_digest

            templates = templates_digest(after.templates)

            def content(view: AccessView, signatures: tuple[int, ...], subject: str, is_instance: bool,
                        direction: Direction) -> list[bytes]:
                # Equal signatures (one evaluator) are equal access keys: one digest per signature.
                return [memo.signature_digest(evaluator, sig, lambda k=k: view.access_key(k, direction))
                        for k, sig in zip(view.subject_keys(subject, is_instance), signatures)]

        for subject, is_instance in [(i, True) for i in instances] + [(g, False) for g in unbound]:
            for direction in Direction:
                if self.unchanged(subject, is_instance, direction):
                    continue
                old = old_layers(subject, is_instance, direction)
                new = new_layers(subject, is_instance, direction)
                if old == new:  # equal signatures: the same rules in access, in the same order
                    continue
                key = (old, new)
                if key not in cache:
                    if memo is None:
                        cache[key] = stacked_difference(old_layers.layers(old), new_layers.layers(new))
                    else:  # the same ordered access keys gave this difference in an earlier run
                        stored = memo.key(direction.value, templates, content(before, old, subject, is_instance, direction),
                                          content(after, new, subject, is_instance, direction))
                        found = memo.get(stored)
                        if found is None:
                            found = stacked_difference(old_layers.layers(old), new_layers.layers(new))
                            memo.put(stored, found)
                        cache[key] = found
                for (protocol, ports, peer), effect in cache[key]:
                    changes.append(ExposureChange(subject, direction.value, protocol, ports, peer, effect))
        return changes

    def changed_subjects(self) -> tuple[set[str], set[str]]:
        """See `changed_subjects`."""
        groups = {key for key in self.after.groups if self.group_changed(key)}
        before_instances = self.before.instances
        instances = {
            iid for iid, keys in self.after.instances.items()
            if tuple(keys) != tuple(before_instances.get(iid, ())) or any(k in groups for k in keys)
        }
        return instances, groups


def _names_groups(rules: Sequence[Rule]) -> bool:
    """Does any of these rules name a group by address (a `GroupRef` a view resolves)?"""
    return any(isinstance(rule.security_group_id, GroupRef) for rule in rules)


def stacked_difference(old: Sequence[Layer], new: Sequence[Layer]) -> list[tuple[Piece, str]]:
    """`difference` of two stacks of layers (an instance's groups before and after)."""
    opened, closed = stack_difference(old, new)
    return [(piece, OPENED) for piece in describe(opened)] + [(piece, CLOSED) for piece in describe(closed)]


def compare(before: AccessView, after: AccessView, evaluator: Evaluator | None = None,
            memo: Any = None) -> list[ExposureChange]:
    """Every instance's (and unbound group's) exposure difference from `before` to `after`.

    A change that only reorders or renames without changing access yields nothing. Groups are
    evaluated once each and stacked per instance; an instance whose groups are unchanged in
    access (same order, same rules but descriptions) is skipped without any set work.
    `memo` (an `exposure_memo.ExposureMemo`) keeps differences across runs, by content.

    >>> from sgplan.model import Rule, SecurityGroup
    >>> ssh = Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0")
    >>> old = AccessView({"sg-1": SecurityGroup("web")}, {"ins-1": ("sg-1",)})
    >>> new = AccessView({"sg-1": SecurityGroup("web", ingress=(ssh,))}, {"ins-1": ("sg-1",)})
    >>> [str(c) for c in compare(old, new)]
    ['TCP 22 from 0.0.0.0/0: opened']
    """
    return Comparison(before, after, evaluator).changes(memo)


def changed_subjects(before: AccessView, after: AccessView, evaluator: Evaluator | None = None) -> tuple[set[str], set[str]]:
    """(instance ids, group keys) whose policy differs in access between the views.

    A group counts when its own rules changed in access (or it is new); an instance when its
    group list or any of its groups did. Plan-time findings are restricted to these.
    """
    return Comparison(before, after, evaluator).changed_subjects()


def compare_states(before: CloudState, after: CloudState) -> list[ExposureChange]:
    """`compare` on two CloudStates (templates from `before`, the live state)."""
    return compare(AccessView.from_state(before), AccessView.from_state(after, templates=before))


def group_changes(changes: Iterable[ExposureChange]) -> list[tuple[tuple[str, ...], ExposureChange]]:
    """Changes that are the same on several instances, merged: (instance ids, one change).

    For renderers that print `ins-a, ins-b (+3 more): TCP 22 from 0.0.0.0/0: opened`. The
    change returned carries the first instance's id; groups keep first-seen order.

    >>> a = ExposureChange("ins-a", "ingress", "TCP", "22", "0.0.0.0/0", OPENED)
    >>> [(ids, str(c)) for ids, c in group_changes([a, replace(a, instance_id="ins-b")])]
    [(('ins-a', 'ins-b'), 'TCP 22 from 0.0.0.0/0: opened')]
    """
    merged: dict[tuple[str, str, str, str, str], tuple[list[str], ExposureChange]] = {}
    for change in changes:
        key = (change.direction, change.protocol, change.ports, change.peer, change.effect)
        entry = merged.get(key)
        if entry is None:
            merged[key] = ([change.instance_id], change)
        elif change.instance_id not in entry[0]:
            entry[0].append(change.instance_id)
    return [(tuple(ids), change) for ids, change in merged.values()]


@dataclass(frozen=True, slots=True)
class TransientExposure:
    """Traffic that step `step` (0-based, among the intermediate states) allows but neither end does."""

    step: int
    change: ExposureChange

    def __str__(self) -> str:
        return f"step {self.step + 1}: {self.change.instance_id} {self.change.direction} {self.change.flow}"


def transient_exposure(
    before: AccessView,
    after: AccessView,
    intermediates: Sequence[AccessView],
    evaluator: Evaluator | None = None,
) -> list[TransientExposure]:
    """What each intermediate state allows beyond `before ∪ after`, per instance and unbound group."""
    evaluator = evaluator or Evaluator(after.templates)
    old_layers, new_layers = _Layers(before, evaluator), _Layers(after, evaluator)
    found: list[TransientExposure] = []
    cache: dict[tuple, list[Piece]] = {}
    for step, state in enumerate(intermediates):
        mid_layers = _Layers(state, evaluator)
        instances, unbound = _subjects(before, after, state)
        for subject, is_instance in [(i, True) for i in instances] + [(g, False) for g in unbound]:
            for direction in Direction:
                middle = mid_layers(subject, is_instance, direction)
                old = old_layers(subject, is_instance, direction)
                new = new_layers(subject, is_instance, direction)
                if middle == old or middle == new:
                    continue
                key = (old, new, middle)
                if key not in cache:
                    ends = old_layers.stack(old) | new_layers.stack(new)
                    cache[key] = describe(mid_layers.stack(middle) - ends)
                for protocol, ports, peer in cache[key]:
                    change = ExposureChange(subject, direction.value, protocol, ports, peer, OPENED)
                    found.append(TransientExposure(step, change))
    return found


def excess(state: Traffic, before: Traffic, after: Traffic) -> Traffic:
    """The traffic-set core of `transient_exposure`: allowed in `state`, in neither end."""
    return state - (before | after)


# ---------------------------------------------------------------------------------------------
# Pieces → what a person says ("UDP 123 to 0.0.0.0/0 except 10.0.0.10/32: closed")


@dataclass(frozen=True, slots=True)
class ExposureSummary:
    """One line of an exposure section: the same (direction, protocol, ports, effect) on the same
    instances, with its peers given as covering prefixes minus exceptions (`peers` except
    `excepted`), the shortest exact description of the union of the pieces' peers.

    `pieces` keeps the exact `ExposureChange`s it stands for (plan JSON shows both).
    """

    instance_ids: tuple[str, ...]
    direction: str
    protocol: str
    ports: str
    peers: tuple[str, ...]
    excepted: tuple[str, ...]
    effect: str
    pieces: tuple[ExposureChange, ...]

    @property
    def shown_peers(self) -> tuple[str, ...]:
        """`peers` as a reader sees them: a group still to be created is named by its address
        (`security_group.admin`), not the `….id` placeholder that stands for its unknown id."""
        return tuple(p[:-3] if p.endswith(".id") and "security_group." in p else p for p in self.peers)

    @property
    def peer_text(self) -> str:
        text = ", ".join(self.shown_peers)
        return f"{text} except {', '.join(self.excepted)}" if self.excepted else text

    @property
    def flow(self) -> str:
        service = f"{self.protocol} {self.ports}" if self.protocol in PORTED else self.protocol
        word = "from" if self.direction == Direction.INGRESS.value else "to"
        return f"{service} {word} {self.peer_text}"

    def __str__(self) -> str:
        return f"{self.flow}: {self.effect}"

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_ids": list(self.instance_ids),
            "direction": self.direction,
            "protocol": self.protocol,
            "ports": self.ports,
            "peers": list(self.peers),
            "except": list(self.excepted),
            "effect": self.effect,
            "text": str(self),
        }


def summarize(changes: Iterable[ExposureChange]) -> list[ExposureSummary]:
    """Exact exposure pieces merged into the lines a reviewer reads.

    Per instance, the pieces with the same direction, protocol, ports and effect are one line
    whose peers are the shortest `X except Y` form of their union; lines equal on several
    instances are merged. Order: opened before closed, then numeric (direction, protocol, first
    port, first peer), instances in first-seen order.

    >>> pieces = [ExposureChange("ins-1", "egress", "UDP", "123", p, CLOSED)
    ...           for p in ("0.0.0.0/5", "8.0.0.0/7", "10.0.0.0/29", "10.0.0.8/31", "10.0.0.11/32")]
    >>> [str(s) for s in summarize(pieces)][0].startswith("UDP 123 to ")
    True
    """
    per_subject: dict[tuple[str, str, str, str, str], list[ExposureChange]] = {}
    for change in changes:
        key = (change.instance_id, change.direction, change.protocol, change.ports, change.effect)
        per_subject.setdefault(key, []).append(change)
    merged: dict[tuple, tuple[list[str], list[ExposureChange]]] = {}
    order: list[tuple] = []
    for (subject, direction, protocol, ports, effect), pieces in per_subject.items():
        peers, excepted = describe_peers(p.peer for p in pieces)
        key = (direction, protocol, ports, effect, peers, excepted)
        entry = merged.get(key)
        if entry is None:
            merged[key] = ([subject], list(pieces))
            order.append(key)
        else:
            if subject not in entry[0]:
                entry[0].append(subject)
            entry[1].extend(pieces)
    out = [
        ExposureSummary(tuple(merged[k][0]), k[0], k[1], k[2], k[4], k[5], k[3], tuple(merged[k][1]))
        for k in order
    ]
    return sorted(out, key=_summary_order)


def _summary_order(s: ExposureSummary) -> tuple:
    first = s.peers[0] if s.peers else ""
    return (s.effect != OPENED, s.instance_ids, s.direction != Direction.INGRESS.value,
            _piece_order((s.protocol, s.ports, first))[1:3], _peer_key(first))


def _peer_key(peer: str) -> tuple:
    """Numeric order: IPv4, then IPv6, then symbolic peers by name."""
    try:
        realm, lo, hi = network_interval(peer)
    except ValueError:
        return (2, 0, 0, peer)
    return (0 if realm == V4 else 1, lo, -hi, "")


def describe_peers(peers: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The shortest exact `covering prefixes except exceptions` for a union of peers.

    CIDRs are merged per address family; on the binary prefix tree each node is either listed
    piecewise or covered whole with its gaps excepted, whichever takes fewer CIDRs (ties keep
    the plain list). Symbolic peers (`sg-…`, `ipm-…`) are listed as given, after the CIDRs.

    >>> describe_peers(["10.0.0.0/25", "10.0.0.128/25"])
    (('10.0.0.0/24',), ())
    >>> describe_peers(["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4", "240.0.0.0/5",
    ...                 "248.0.0.0/6", "252.0.0.0/7", "254.0.0.0/8"])
    (('0.0.0.0/0',), ('255.0.0.0/8',))
    """
    intervals: dict[str, list[tuple[int, int]]] = {V4: [], V6: []}
    symbolic: list[str] = []
    for peer in peers:
        try:
            realm, lo, hi = network_interval(peer)
        except ValueError:
            if peer not in symbolic:
                symbolic.append(peer)
            continue
        intervals[realm].append((lo, hi))
    covers: list[str] = []
    gaps: list[str] = []
    for realm, bits in ((V4, 32), (V6, 128)):
        merged = merge_intervals(intervals[realm])
        if merged:
            found_covers, found_gaps = _Prefixes(realm, bits, merged).best()
            covers += found_covers
            gaps += found_gaps
    return tuple(covers) + tuple(sorted(symbolic)), tuple(gaps)


class _Prefixes:
    """Dynamic programme on the prefix tree of one family (only nodes a boundary cuts are visited)."""

    def __init__(self, realm: str, bits: int, intervals: list[tuple[int, int]]) -> None:
        self.realm, self.bits, self.intervals = realm, bits, intervals
        self._starts = [lo for lo, _ in intervals]

    def _inside(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The set's intervals clipped to [lo, hi]."""
        i = max(bisect_right(self._starts, lo) - 1, 0)
        out = []
        while i < len(self.intervals) and self.intervals[i][0] <= hi:
            a, b = self.intervals[i]
            if b >= lo:
                out.append((max(a, lo), min(b, hi)))
            i += 1
        return out

    def _cidr(self, lo: int, length: int) -> str:
        make = ipaddress.IPv4Network if self.realm == V4 else ipaddress.IPv6Network
        return make((lo, length)).compressed

    def _gaps(self, lo: int, hi: int, inside: list[tuple[int, int]]) -> list[str]:
        """[lo, hi] minus the set, as the fewest CIDRs."""
        out, cursor = [], lo
        for a, b in inside:
            if a > cursor:
                out += interval_cidrs(self.realm, cursor, a - 1)
            cursor = b + 1
        if cursor <= hi:
            out += interval_cidrs(self.realm, cursor, hi)
        return out

    def _solve(self, lo: int, length: int) -> tuple[list[str], list[str]]:
        hi = lo + (1 << (self.bits - length)) - 1
        inside = self._inside(lo, hi)
        if not inside:
            return [], []
        if inside == [(lo, hi)]:
            return [self._cidr(lo, length)], []
        half = 1 << (self.bits - length - 1)
        left, right = self._solve(lo, length + 1), self._solve(lo + half, length + 1)
        split = (left[0] + right[0], left[1] + right[1])
        gaps = self._gaps(lo, hi, inside)
        if 1 + len(gaps) < len(split[0]) + len(split[1]):
            return [self._cidr(lo, length)], gaps
        return split

    def best(self) -> tuple[list[str], list[str]]:
        covers, gaps = self._solve(0, 0)
        return covers, sorted(gaps, key=_peer_key)
