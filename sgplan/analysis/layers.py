"""One group's first-match result as a layer, and layers stacked in binding order.

An instance's policy is its groups' rules concatenated (API reference §5), so what it allows is
A1 ∪ (A2 − D1) ∪ (A3 − D1 − D2) …, with A what a group accepts and D everything it decides.
Each group is evaluated once, however many instances carry it, and the subtractions use the
upper group's cached cut index: estates of thousands of distinct group lists stay cheap.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from sgplan.analysis.matching import NO_TEMPLATES, RuleBoxes, RuleTraffic, Templates, symbols_of
from sgplan.analysis.space import OTHERS, PROTOCOL_ORDER, V4, V6, Box, Key, Traffic, compact, cut_out, subtract
from sgplan.model import Rule

Parts = Mapping[Key, tuple[Box, ...]]
_NARROW = 64  # ports: cuts at most this wide are found by bisection, wider ones by a scan
_REFRAGMENT = 64  # pieces: past this many, re-merge so that long rule lists stay fast


def _hits(box: Box, cuts: Iterable[Box]) -> list[Box]:
    a0, a1, a2, a3 = box
    return [c for c in cuts if c[0] <= a1 and a0 <= c[1] and c[2] <= a3 and a2 <= c[3]]


def _minus(box: Box, hits: Sequence[Box]) -> list[Box]:
    """`box` less the boxes `hits` (already known to overlap it)."""
    a0, a1, a2, a3 = box
    for c in hits:
        if c[0] <= a0 and a1 <= c[1] and c[2] <= a2 and a3 <= c[3]:
            return []  # wholly inside one cut: the common case when groups repeat rules
    pieces = [box]
    for cut in hits:
        pieces = cut_out(pieces, cut)
        if not pieces:
            break
        if len(pieces) > _REFRAGMENT:
            pieces = compact(pieces)
    return pieces


class _CutIndex:
    """The boxes a group decides on one key, indexed by port for fast overlap queries."""

    __slots__ = ("narrow", "starts", "wide")

    def __init__(self, boxes: Iterable[Box]) -> None:
        boxes = list(boxes)
        self.narrow = sorted((b for b in boxes if b[3] - b[2] <= _NARROW), key=lambda b: b[2])
        self.starts = [b[2] for b in self.narrow]
        self.wide = [b for b in boxes if b[3] - b[2] > _NARROW]

    def cut(self, boxes: Iterable[Box]) -> list[Box]:
        out: list[Box] = []
        starts, narrow, wide = self.starts, self.narrow, self.wide
        for box in boxes:
            lo = bisect_left(starts, box[2] - _NARROW)
            hi = bisect_right(starts, box[3])
            hits = _hits(box, narrow[lo:hi]) if hi > lo else []
            if wide:
                hits += _hits(box, wide)
            out.extend(_minus(box, hits) if hits else (box,))
        return out


def _lookup(parts: Parts, symbols: frozenset[str], key: Key) -> tuple[Box, ...]:
    """`parts[key]`, where a symbol the layer does not name holds what `*` holds (space.Traffic)."""
    return parts.get(_named(symbols, key), ())


def _named(symbols: frozenset[str], key: Key) -> Key:
    """The key a layer naming `symbols` holds `key` under (`*` for a symbol it does not name)."""
    protocol, realm = key
    if realm not in (V4, V6) and realm not in symbols:
        realm = OTHERS
    if protocol not in PROTOCOL_ORDER and protocol not in symbols:
        protocol = OTHERS
    return protocol, realm


Pieces = tuple[tuple[Key, Box], ...]  # what one rule decides: (key, box) pairs, boxes disjoint


@dataclass(frozen=True, slots=True, eq=False)
class Layer:
    """What one ordered rule list (one group, one direction) decides.

    `allowed` and `denied` hold disjoint boxes; `covered` holds the boxes of every rule that
    decides anything (they may overlap, and carry their rule's index as a fifth item: they only
    serve as cuts). `decided[i]` is what rule i
    decides, `matches[i]` the raw boxes rule i matches, `overlapped[i]` whether a later rule's
    box touches one of rule i's. Layers compare by identity: equal rule lists share one layer
    through `Evaluator.layer`.
    """

    allowed: Parts
    denied: Parts
    covered: Parts
    symbols: frozenset[str]
    decided: tuple[Pieces, ...] = ()
    matches: tuple[RuleTraffic, ...] = ()
    overlapped: tuple[bool, ...] = ()
    _cuts: dict[Key, _CutIndex] = field(default_factory=dict, repr=False)
    _clips: dict[tuple, tuple[Box, ...]] = field(default_factory=dict, repr=False)

    def allows(self, key: Key) -> tuple[Box, ...]:
        return _lookup(self.allowed, self.symbols, key)

    def covers(self, key: Key) -> tuple[Box, ...]:
        return _lookup(self.covered, self.symbols, key)

    def decided_parts(self, index: int) -> dict[Key, list[Box]]:
        """What rule `index` decides, by key."""
        out: dict[Key, list[Box]] = {}
        for key, box in self.decided[index]:
            out.setdefault(key, []).append(box)
        return out

    def cut(self, key: Key, boxes: Sequence[Box]) -> list[Box]:
        """`boxes` less everything this layer decides on `key` (what falls through it)."""
        if not boxes:
            return []
        index = self._cuts.get(key)
        if index is None:
            # One index per key the layer holds: every symbol it does not name shares `*`'s.
            named = _named(self.symbols, key)
            index = self._cuts.get(named)
            if index is None:
                index = self._cuts[named] = _CutIndex(self.covered.get(named, ()))
            self._cuts[key] = index
        if not index.narrow and not index.wide:
            return list(boxes)
        return index.cut(boxes)

    def allows_in_ports(self, key: Key, ports: tuple[tuple[int, int], ...]) -> tuple[Box, ...]:
        """The allowed boxes of `key` clipped to these port intervals (cached)."""
        memo = (key, ports)
        found = self._clips.get(memo)
        if found is None:
            out = []
            for b in self.allows(key):
                for lo, hi in ports:
                    if b[2] <= hi and lo <= b[3]:
                        out.append((b[0], b[1], max(b[2], lo), min(b[3], hi)))
            found = self._clips[memo] = tuple(out)
        return found

    def allowed_traffic(self) -> Traffic:
        return Traffic(dict(self.allowed), self.symbols)

    def denied_traffic(self) -> Traffic:
        return Traffic(dict(self.denied), self.symbols)


def first_match(rules: Sequence[Rule], templates: Templates = NO_TEMPLATES,
                symbols: frozenset[str] | None = None) -> Layer:
    """Evaluate an ordered rule list: each rule decides what it matches less what earlier rules matched.

    Only the earlier boxes that overlap a rule are subtracted from it, so disjoint rules (the
    common case) cost one overlap scan each.
    """
    if symbols is None:
        symbols = symbols_of(rules, templates)
    traffic = RuleBoxes(templates, symbols)
    # Cover boxes carry their rule's index as a fifth item (cuts only read the first four).
    seen: dict[Key, list[tuple[int, int, int, int, int]]] = {}
    allowed: dict[Key, list[Box]] = {}
    denied: dict[Key, list[Box]] = {}
    decided: list[Pieces] = []
    matches: list[RuleTraffic] = []
    overlapped = [False] * len(rules)
    for index, rule in enumerate(rules):
        boxes = traffic(rule)
        target = allowed if rule.action == "ACCEPT" else denied
        mine: list[tuple[Key, Box]] = []
        for key, box in boxes:
            earlier = seen.get(key)
            a0, a1, a2, a3 = box
            if earlier is None:
                seen[key] = [(a0, a1, a2, a3, index)]
                mine.append((key, box))
                continue
            hits = [c for c in earlier if c[0] <= a1 and a0 <= c[1] and c[2] <= a3 and a2 <= c[3]]
            if not hits:
                earlier.append((a0, a1, a2, a3, index))
                mine.append((key, box))
                continue
            for c in hits:
                overlapped[c[4]] = True
            pieces = _minus(box, hits)
            if pieces:  # a box wholly decided before adds nothing to the cover
                earlier.append((a0, a1, a2, a3, index))
                mine.extend((key, piece) for piece in pieces)
        for key, box in mine:
            found = target.get(key)
            if found is None:
                target[key] = [box]
            else:
                found.append(box)
        decided.append(tuple(mine))
        matches.append(boxes)
    return Layer(
        allowed={k: tuple(v) for k, v in allowed.items()},
        denied={k: tuple(v) for k, v in denied.items()},
        covered={k: tuple(v) for k, v in seen.items()},
        symbols=symbols,
        decided=tuple(decided),
        matches=tuple(matches),
        overlapped=tuple(overlapped),
    )


def stack_keys(layers: Sequence[Layer]) -> tuple[set[Key], frozenset[str]]:
    """Every key on which stacked layers may allow something, and all the symbols they name."""
    symbols = frozenset().union(*(layer.symbols for layer in layers))
    keys: set[Key] = set()
    for layer in layers:
        keys.update(k for k, v in layer.allowed.items() if v)
    _expand(keys, symbols)
    return keys, symbols


def _expand(keys: set[Key], symbols: frozenset[str]) -> None:
    """Add to `keys` each key with `*` spelled as each symbol (a symbol not named where `*` is)."""
    if symbols:
        peers = [s for s in symbols if not s.startswith("ppm")] + [OTHERS]
        services = [s for s in symbols if s.startswith("ppm")] + [OTHERS]
        for protocol, realm in list(keys):
            protocols = services if protocol == OTHERS else (protocol,)
            realms = peers if realm == OTHERS else (realm,)
            keys.update((p, r) for p in protocols for r in realms)


def stack_key(layers: Sequence[Layer], key: Key, allowed: Sequence[Sequence[Box]] | None = None) -> list[Box]:
    """What the stacked layers allow on one key: each layer's allowed boxes less the layers above.

    `allowed` replaces each layer's own allowed boxes (e.g. clipped to some ports).
    """
    out: list[Box] = []
    for k, layer in enumerate(layers):
        boxes: Sequence[Box] = layer.allows(key) if allowed is None else allowed[k]
        for upper in layers[:k]:
            if not boxes:
                break
            boxes = upper.cut(key, boxes)
        out.extend(boxes)
    return out


def _profile(layers: Sequence[Layer], key: Key) -> tuple:
    """What `stack_key(layers, key)` depends on: the allowed and covered boxes of each layer that
    decides anything on `key` (a layer deciding nothing there neither adds nor cuts)."""
    out = []
    for layer in layers:
        covered = layer.covers(key)
        if covered:
            out.append((layer.allows(key), covered))
    return tuple(out)


def stack_difference(old: Sequence[Layer], new: Sequence[Layer]) -> tuple[Traffic, Traffic]:
    """(`stack(new) - stack(old)`, `stack(old) - stack(new)`), the same sets, worked out only on
    the keys where the two stacks can differ.

    When one of an instance's groups changes, or its groups are reordered, most keys see the same
    boxes layer by layer on both sides (`_profile`: a key only one group decides on keeps its
    boxes in any order) and stack the same: only the others are stacked and subtracted (issue 18:
    analysis in proportion to the change). `stack_key` reads a key the layers do not
    name as `*`, as `Traffic.boxes` does, so every key of either stack is compared here.
    """
    old_keys, old_symbols = stack_keys(old)
    new_keys, new_symbols = stack_keys(new)
    symbols = old_symbols | new_symbols
    keys = old_keys | new_keys
    _expand(keys, symbols)  # a symbol named on one side only is compared against the other's `*`
    opened: dict[Key, tuple[Box, ...]] = {}
    closed: dict[Key, tuple[Box, ...]] = {}
    for key in keys:
        if _profile(old, key) == _profile(new, key):
            continue
        before, after = stack_key(old, key), stack_key(new, key)
        gained = subtract(after, before)
        if gained:
            opened[key] = tuple(compact(gained))
        lost = subtract(before, after)
        if lost:
            closed[key] = tuple(compact(lost))
    return Traffic(opened, symbols), Traffic(closed, symbols)


def stack(layers: Sequence[Layer]) -> Traffic:
    """What an instance carrying these groups (in this order) allows."""
    if len(layers) == 1:
        return layers[0].allowed_traffic()
    keys, symbols = stack_keys(layers)
    parts: dict[Key, tuple[Box, ...]] = {}
    for key in keys:
        boxes = stack_key(layers, key)
        if boxes:
            parts[key] = tuple(boxes)
    return Traffic(parts, symbols)
