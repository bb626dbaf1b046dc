"""Reachability contracts (`expect` blocks, issue 16): exact verdicts with a counterexample.

A contract names a space of flows — instances × one direction × peers × protocol × ports —
and a decision. `deny` holds when the effective policy (groups in binding order, first match,
default drop) accepts nothing in the space; `allow` when it accepts all of it. The check is a
set computation over the same boxes the access engine uses, so it is a proof, not a sample.
A violation comes with the largest box around one violating flow that a single rule (or the
default drop) decides, named by group, direction, index and configuration line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from sgplan.analysis.access import Evaluator, gc_paused
from sgplan.analysis.exposure import AccessView
from sgplan.analysis.internet import PUBLIC
from sgplan.analysis.layers import Layer, stack_key
from sgplan.analysis.space import (
    PORTED,
    PROTOCOL_ORDER,
    V4,
    V6,
    Box,
    Key,
    canonical,
    interval_cidrs,
    intersect,
    merge_intervals,
    network_interval,
    parse_ports,
    port_bounds,
    ports_text,
    subtract,
)
from sgplan.model import Direction, Expect, Rule, SourceRange

PASS = "pass"
FAIL = "fail"
INTERNET = "internet"

Space = dict[Key, list[Box]]


def contract_space(expect: Expect) -> Space:
    """The flows a contract speaks about, as disjoint boxes per (protocol, realm).

    ICMP goes with IPv4 peers and ICMPv6 with IPv6 (API reference §1.4), so those pairings
    are left out of the space rather than reported as never accepted.

    >>> from sgplan.model import Direction
    >>> space = contract_space(Expect("expect.x", Direction.INGRESS, ("10.0.0.0/8",), "TCP", "22", "deny"))
    >>> space[("TCP", "v4")]
    [(167772160, 184549375, 22, 22)]
    """
    peers: dict[str, list[tuple[int, int]]] = {V4: [], V6: []}
    for peer in expect.peers:
        if peer == INTERNET:
            for realm in (V4, V6):
                peers[realm].extend(PUBLIC[realm])
        else:
            realm, lo, hi = network_interval(peer)
            peers[realm].append((lo, hi))
    protocols = PROTOCOL_ORDER if expect.protocol == "ALL" else (expect.protocol,)
    space: Space = {}
    for protocol in protocols:
        if protocol in PORTED:
            ports = parse_ports(expect.ports) if expect.protocol != "ALL" else [port_bounds(protocol)]
        else:
            ports = [port_bounds(protocol)]
        for realm in (V4, V6):
            if (protocol == "ICMP" and realm == V6) or (protocol == "ICMPv6" and realm == V4):
                continue
            boxes = [(lo, hi, q_lo, q_hi) for lo, hi in merge_intervals(peers[realm]) for q_lo, q_hi in ports]
            if boxes:
                space[(protocol, realm)] = boxes
    return space


@dataclass(frozen=True, slots=True)
class Counterexample:
    """Flows that break a contract on one instance, and what decides them.

    `peer` is a CIDR (or an `a-b` address range) and `ports` a port spelling (`ALL` for
    protocols without ports); every flow in peer × ports is decided by the same rule —
    `group_id`/`address` `direction`[`policy_index`] — or by the default drop when
    `policy_index` is None. `sample_peer`/`sample_port` is one concrete flow of the box.
    """

    instance_id: str
    direction: str
    protocol: str
    peer: str
    ports: str
    accepted: bool  # what the policy does to these flows
    sample_peer: str
    sample_port: int | None
    group_id: str | None = None
    address: str | None = None
    policy_index: int | None = None
    rule: Rule | None = None
    more_instances: int = 0
    origin: SourceRange | None = field(default=None, compare=False)

    @property
    def decided_by(self) -> str:
        if self.policy_index is None:
            return "the default drop (no rule matches)"
        where = self.address or self.group_id
        return f"{where} {self.direction}[{self.policy_index}]"

    def flow(self) -> str:
        service = f"{self.protocol} {self.ports}" if self.protocol in PORTED else self.protocol
        word = "from" if self.direction == Direction.INGRESS.value else "to"
        return f"{service} {word} {self.peer}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "instance_id": self.instance_id,
            "direction": self.direction,
            "protocol": self.protocol,
            "ports": self.ports,
            "peer": self.peer,
            "decision": "ACCEPT" if self.accepted else "DROP",
            "reason": "default-drop" if self.policy_index is None else "rule",
            "sample": {"peer": self.sample_peer, "port": self.sample_port},
            "more_instances": self.more_instances,
            "rule": None,
        }
        if self.policy_index is not None:
            rule: dict[str, Any] = {
                "security_group_id": self.group_id,
                "address": self.address,
                "direction": self.direction,
                "policy_index": self.policy_index,
            }
            if self.rule is not None:
                rule["rule"] = self.rule.to_hcl()
            if self.origin is not None:
                rule["file"], rule["line"] = self.origin.file, self.origin.line
            out["rule"] = rule
        return out


@dataclass(frozen=True, slots=True)
class ContractResult:
    """One contract's verdict on the planned state, and (in a plan) on the live state before it.

    `before` is None when only one state was evaluated (`sgplan verify`).
    """

    address: str
    decision: str
    status: str  # PASS | FAIL
    instances: int  # how many instances the contract covers
    counterexample: Counterexample | None = None
    before: str | None = None
    description: str = ""
    origin: SourceRange | None = field(default=None, compare=False)
    missing: tuple[str, ...] = ()  # named instances the state does not have (a typo proves nothing)

    @property
    def violated(self) -> bool:
        return self.status == FAIL

    @property
    def change(self) -> str:
        """`violated-by-change`, `already-violated`, `fixed`, `holds` (or `violated` without a before)."""
        if self.status == FAIL:
            if self.before is None:
                return "violated"
            return "already-violated" if self.before == FAIL else "violated-by-change"
        return "fixed" if self.before == FAIL else "holds"

    def message(self) -> str:
        """One line: what the contract is and, when violated, the counterexample."""
        if not self.violated:
            unknown = f"; not in the cloud: {', '.join(self.missing)}" if self.missing else ""
            return f"contract {self.address} holds ({self.decision}, {self.instances} instance(s){unknown})"
        cx = self.counterexample
        when = {"already-violated": "was already violated before this change",
                "violated-by-change": "this change violates it"}.get(self.change, "violated")
        if cx is None:
            return f"contract {self.address} is violated ({when})"
        verb = "accepts" if cx.accepted else "does not accept"
        more = f" (and {cx.more_instances} more instance(s))" if cx.more_instances else ""
        return (f"contract {self.address} is violated ({when}): {cx.instance_id}{more} {verb} "
                f"{cx.flow()}, decided by {cx.decided_by}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "address": self.address,
            "decision": self.decision,
            "status": self.status,
            "before": self.before,
            "change": self.change,
            "instances": self.instances,
            "description": self.description,
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "missing_instances": list(self.missing),
        }
        if self.origin is not None:
            out["file"], out["line"] = self.origin.file, self.origin.line
        return out


# ---------------------------------------------------------------------------------------------
# Evaluation


class ContractChecker:
    """Contracts on views that share one `Evaluator`: each group's layer is evaluated once, each
    layer is clipped to each contract's space once, and each (group list, contract) is decided
    once, so the before and after states cost little more than one.

    Most group lists accept nothing inside a contract's space (a `deny` on one port): they are
    dismissed by a look-up of their layers' clipped parts, without stacking.
    """

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self._clips: list[dict[Layer, dict[Key, list[Box]]]] = []
        self._verdicts: dict[tuple[tuple[Layer, ...], int], bool] = {}
        self._spaces: list[Space] = []
        self._numbers: dict[Expect, int] = {}
        self._spans: list[dict[Key, tuple[list[Box], int, int]]] = []  # per contract: boxes, port span

    def check(self, view: AccessView, expects: Sequence[Expect], bound: Iterable[str]) -> list[ContractResult]:
        """Every contract's verdict on `view`; `bound` is the instances a contract without
        `instances` covers (those the configuration's bindings name)."""
        bound_ids = tuple(sorted(set(bound)))
        lists = _Lists(view, self.evaluator)
        with gc_paused():
            return [self._one(lists, expect, self._number(expect), bound_ids) for expect in expects]

    def _number(self, expect: Expect) -> int:
        """A small number per distinct contract: its space and clips are computed once."""
        n = self._numbers.get(expect)
        if n is None:
            n = self._numbers[expect] = len(self._spaces)
            space = contract_space(expect)
            self._spaces.append(space)
            self._spans.append({key: (boxes, min(b[2] for b in boxes), max(b[3] for b in boxes))
                                for key, boxes in space.items()})
            self._clips.append({})
        return n

    def _one(self, lists: "_Lists", expect: Expect, n: int, bound: tuple[str, ...]) -> ContractResult:
        space = self._spaces[n]
        if expect.security_groups is not None:
            ids = lists.carrying(expect.security_groups)
        elif expect.instances is not None:
            ids = tuple(sorted(set(expect.instances)))
        else:
            ids = bound
        missing = tuple(i for i in ids if i not in lists.view.instances) if expect.instances is not None else ()
        failing: list[tuple[str, tuple[str, ...]]] = []
        count = 0
        for keys, members in lists.subjects(ids).items():
            if self._violates(lists.layers(keys, expect.direction), space, n, expect.decision):
                failing.append((members[0], keys))
                count += len(members)
        if not failing:
            return ContractResult(expect.address, expect.decision, PASS, len(ids),
                                  description=expect.description, origin=expect.origin, missing=missing)
        first, keys = min(failing)
        layers = lists.layers(keys, expect.direction)
        bad = self._violations(layers, space, n, expect.decision)
        cx = _counterexample(lists.view, first, keys, layers, bad, expect)
        return ContractResult(expect.address, expect.decision, FAIL, len(ids), _with_more(cx, count - 1),
                              description=expect.description, origin=expect.origin, missing=missing)

    def _violates(self, layers: tuple[Layer, ...], space: Space, n: int, decision: str) -> bool:
        """Does a policy of these layers break contract n? (Stops at the first violating flow.)"""
        memo = (layers, n)
        found = self._verdicts.get(memo)
        if found is not None:  # the same group list in the other state, or another instance
            return found
        if not space:  # a contract about no flows holds vacuously
            found = False
        else:
            clips = [self._clip(layer, space, n) for layer in layers]
            if not any(clips):  # nothing in the space is accepted at all
                found = decision == "allow"
            else:
                found = _breaks(layers, space, clips, decision)
        self._verdicts[memo] = found
        return found

    def _violations(self, layers: tuple[Layer, ...], space: Space, n: int, decision: str) -> Space:
        """The whole part of the space that breaks the contract (for the counterexample)."""
        clips = [self._clip(layer, space, n) for layer in layers]
        bad: Space = {}
        for key, boxes in space.items():
            clipped = [c.get(key, ()) for c in clips]
            allowed = stack_key(layers, key, clipped) if any(clipped) else []
            wrong = allowed if decision == "deny" else subtract(boxes, allowed)
            if wrong:
                bad[key] = wrong
        return bad

    def _clip(self, layer: Layer, space: Space, n: int) -> dict[Key, list[Box]]:
        """What one layer accepts inside contract n's space, by key (cached per layer)."""
        table = self._clips[n]
        found = table.get(layer)
        if found is None:
            found = table[layer] = {}
            for key, (boxes, port_lo, port_hi) in self._spans[n].items():
                allows = layer.allows(key)
                if allows:
                    inside = _intersect(allows, boxes, port_lo, port_hi)
                    if inside:
                        found[key] = inside
        return found


class _Lists:
    """One view's distinct group lists and their layers (per direction), computed once."""

    def __init__(self, view: AccessView, evaluator: Evaluator) -> None:
        self.view = view
        self.evaluator = evaluator
        self._layers: dict[tuple[str, Direction], Layer] = {}
        self._stacks: dict[tuple[tuple[str, ...], Direction], tuple[Layer, ...]] = {}
        self._subjects: dict[tuple[str, ...], dict[tuple[str, ...], list[str]]] = {}

    def subjects(self, ids: tuple[str, ...]) -> dict[tuple[str, ...], list[str]]:
        """The instances `ids` grouped by their ordered group list (an unknown instance: no groups)."""
        found = self._subjects.get(ids)
        if found is None:
            found = self._subjects[ids] = {}
            instances = self.view.instances
            for instance_id in ids:
                found.setdefault(tuple(instances.get(instance_id, ())), []).append(instance_id)
        return found

    def carrying(self, selectors: tuple[str, ...]) -> tuple[str, ...]:
        """The instances that carry a group named by id or (for a configured group) address."""
        wanted = set(selectors)
        keys = {k for k, g in self.view.groups.items() if k in wanted or g.id in wanted or g.address in wanted}
        return tuple(sorted(i for i, groups in self.view.instances.items() if any(k in keys for k in groups)))

    def layers(self, keys: tuple[str, ...], direction: Direction) -> tuple[Layer, ...]:
        found = self._stacks.get((keys, direction))
        if found is None:
            found = self._stacks[(keys, direction)] = tuple(self._layer(k, direction) for k in keys)
        return found

    def _layer(self, key: str, direction: Direction) -> Layer:
        found = self._layers.get((key, direction))
        if found is None:
            view, evaluator = self.view, self.evaluator
            rules = view.group_rules(key, direction)
            signature = evaluator.signature(rules, view.access_key(key, direction))
            found = self._layers[(key, direction)] = evaluator.layer_of(signature)
        return found


def _breaks(layers: Sequence[Layer], space: Space, clips: Sequence[dict[Key, list[Box]]], decision: str) -> bool:
    for key, boxes in space.items():
        clipped = [c.get(key, ()) for c in clips]
        if decision == "allow":
            allowed = stack_key(layers, key, clipped) if any(clipped) else []
            if subtract(boxes, allowed):
                return True
            continue
        # deny: any accepted box that no upper layer decides is a violation; stop at the first.
        for k, own in enumerate(clipped):
            for upper in layers[:k]:
                if not own:
                    break
                own = upper.cut(key, own)
            if own:
                return True
    return False


def _intersect(boxes: Sequence[Box], space: Sequence[Box], port_lo: int, port_hi: int) -> list[Box]:
    """`boxes` ∩ `space`, skipping boxes outside the space's port span [port_lo, port_hi] first
    (the common case: a contract names a few ports, a group accepts many others)."""
    out: list[Box] = []
    for b0, b1, b2, b3 in boxes:
        if b3 < port_lo or b2 > port_hi:
            continue
        for s0, s1, s2, s3 in space:
            if b0 <= s1 and s0 <= b1 and b2 <= s3 and s2 <= b3:
                out.append((b0 if b0 > s0 else s0, b1 if b1 < s1 else s1, b2 if b2 > s2 else s2, b3 if b3 < s3 else s3))
    return out


def check_contracts(view: AccessView, expects: Sequence[Expect], bound: Iterable[str],
                    evaluator: Evaluator | None = None) -> list[ContractResult]:
    """Every contract's verdict on one state (see `ContractChecker`)."""
    return ContractChecker(evaluator or Evaluator(view.templates)).check(view, expects, bound)


def with_before(after: Sequence[ContractResult], before: Sequence[ContractResult]) -> list[ContractResult]:
    """The planned verdicts, each told whether it held on the live state."""
    return [replace(a, before=b.status) for a, b in zip(after, before)]


def _with_more(cx: Counterexample, more: int) -> Counterexample:
    return replace(cx, more_instances=more) if more else cx


def _key_rank(key: Key) -> tuple[int, int]:
    protocol, realm = key
    return (0 if realm == V4 else 1, PROTOCOL_ORDER.index(protocol))


def _decider(layers: Sequence[Layer], key: Key, peer: int, port: int) -> tuple[int, int] | None:
    """(layer, rule index) of the rule that decides this flow, None for the default drop."""
    for g, layer in enumerate(layers):
        for i, pieces in enumerate(layer.decided):
            for k, b in pieces:
                if k == key and b[0] <= peer <= b[1] and b[2] <= port <= b[3]:
                    return g, i
    return None


def _decided_region(layers: Sequence[Layer], key: Key, where: tuple[int, int] | None, around: list[Box]) -> list[Box]:
    """The part of `around` that the rule `where` (or the default drop) decides in the stack."""
    if where is None:
        region = list(around)
        for layer in layers:
            region = layer.cut(key, region)
        return region
    g, i = where
    mine = [b for k, b in layers[g].decided[i] if k == key]
    for upper in layers[:g]:
        mine = upper.cut(key, mine)
    return intersect(mine, around)


def _counterexample(view: AccessView, instance_id: str, keys: tuple[str, ...], layers: tuple[Layer, ...],
                    bad: Space, expect: Expect) -> Counterexample:
    key = min(bad, key=_key_rank)
    protocol, realm = key
    (q_lo, _), peers = canonical(bad[key])[0]
    peer, port = peers[0][0], q_lo
    where = _decider(layers, key, peer, port)
    region = _decided_region(layers, key, where, bad[key])
    box = _box_around(region, peer, port)
    direction = expect.direction
    group_key = keys[where[0]] if where else None
    rule = view.group_rules(group_key, direction)[where[1]] if where else None
    group = view.groups.get(group_key) if group_key else None
    sample = interval_cidrs(realm, peer, peer)[0].split("/")[0]
    return Counterexample(
        instance_id=instance_id,
        direction=direction.value,
        protocol=protocol,
        peer=_peer_text(realm, box[0], box[1]),
        ports=ports_text([(box[2], box[3])]) if protocol in PORTED else "ALL",
        accepted=expect.decision == "deny",
        sample_peer=sample,
        sample_port=port if protocol in PORTED else None,
        group_id=group_key,
        address=(group.address if group is not None and group.address else group_key),
        policy_index=where[1] if where else None,
        rule=rule,
        origin=_origin(rule, group),
    )


def _origin(rule: Rule | None, group: Any) -> SourceRange | None:
    if rule is not None and rule.origin is not None:
        return rule.origin
    return getattr(group, "origin", None)


def _box_around(region: list[Box], peer: int, port: int) -> Box:
    """The largest canonical box of `region` that holds the flow (peer, port)."""
    for (q_lo, q_hi), peers in canonical(region):
        if q_lo <= port <= q_hi:
            for p_lo, p_hi in peers:
                if p_lo <= peer <= p_hi:
                    return p_lo, p_hi, q_lo, q_hi
    return peer, peer, port, port  # unreachable: the flow is in the region by construction


def _peer_text(realm: str, lo: int, hi: int) -> str:
    cidrs = interval_cidrs(realm, lo, hi)
    if len(cidrs) == 1:
        return cidrs[0]
    return f"{cidrs[0].split('/')[0]}-{interval_cidrs(realm, hi, hi)[0].split('/')[0]}"


def bound_instances(bindings: Iterable[Any]) -> tuple[str, ...]:
    """The instances a binding of the configuration names (a contract's default scope)."""
    return tuple(dict.fromkeys(b.instance_id for b in bindings))


__all__ = [
    "ContractChecker",
    "ContractResult",
    "Counterexample",
    "FAIL",
    "INTERNET",
    "PASS",
    "bound_instances",
    "check_contracts",
    "contract_space",
    "with_before",
]
