"""Exact sets of traffic: disjoint boxes over (peer interval, port interval) per (protocol, realm).

This is the algebra the access engine, exposure changes and checks share. A realm is `v4`,
`v6`, or a symbolic peer (`sg-…`, an unresolved `ipm-…`) that stands for addresses we cannot
see; the realm `*` stands for every symbolic peer that a set does not name explicitly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

V4 = "v4"
V6 = "v6"
OTHERS = "*"  # every symbolic peer (or symbolic service) not named explicitly in a set

PROTOCOL_ORDER = ("TCP", "UDP", "ICMP", "ICMPv6", "GRE")
PORTED = frozenset({"TCP", "UDP"})
PORT_MIN, PORT_MAX = 1, 65535
V4_MAX = (1 << 32) - 1
V6_MAX = (1 << 128) - 1

# A box: (peer_lo, peer_hi, port_lo, port_hi), all inclusive.
Box = tuple[int, int, int, int]
Key = tuple[str, str]  # (protocol, realm)


def is_symbolic(realm: str) -> bool:
    return realm not in (V4, V6)


def is_symbolic_protocol(protocol: str) -> bool:
    """A service template we could not resolve (`ppm-…`), or `*` for every unnamed one."""
    return protocol not in PROTOCOL_ORDER


def peer_bounds(realm: str) -> tuple[int, int]:
    """The whole peer interval of a realm (a symbolic realm is one point)."""
    if realm == V4:
        return 0, V4_MAX
    if realm == V6:
        return 0, V6_MAX
    return 0, 0


def port_bounds(protocol: str) -> tuple[int, int]:
    """The whole port interval of a protocol; protocols without ports have the single point 0."""
    return (PORT_MIN, PORT_MAX) if protocol in PORTED else (0, 0)


def full_box(protocol: str, realm: str) -> Box:
    return (*peer_bounds(realm), *port_bounds(protocol))


# ---------------------------------------------------------------------------------------------
# Box lists (each list holds disjoint boxes)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] <= b[1] and b[0] <= a[1] and a[2] <= b[3] and b[2] <= a[3]


def clip(boxes: Iterable[Box], cut: Box) -> list[Box]:
    """The parts of `boxes` inside `cut`."""
    out = []
    for b in boxes:
        if _overlaps(b, cut):
            out.append((max(b[0], cut[0]), min(b[1], cut[1]), max(b[2], cut[2]), min(b[3], cut[3])))
    return out


def cut_out(boxes: Iterable[Box], cut: Box) -> list[Box]:
    """The parts of `boxes` outside `cut`: each overlapping box splits into at most four."""
    out = []
    for b in boxes:
        if not _overlaps(b, cut):
            out.append(b)
            continue
        p_lo, p_hi, q_lo, q_hi = b
        if p_lo < cut[0]:
            out.append((p_lo, cut[0] - 1, q_lo, q_hi))
        if p_hi > cut[1]:
            out.append((cut[1] + 1, p_hi, q_lo, q_hi))
        mid_lo, mid_hi = max(p_lo, cut[0]), min(p_hi, cut[1])
        if q_lo < cut[2]:
            out.append((mid_lo, mid_hi, q_lo, cut[2] - 1))
        if q_hi > cut[3]:
            out.append((mid_lo, mid_hi, cut[3] + 1, q_hi))
    return out


def subtract(boxes: Iterable[Box], cuts: Iterable[Box]) -> list[Box]:
    result = list(boxes)
    for c in cuts:
        if not result:
            break
        result = cut_out(result, c)
    return result


def intersect(boxes: Iterable[Box], others: Iterable[Box]) -> list[Box]:
    others = list(others)
    out: list[Box] = []
    for b in boxes:
        out.extend(clip(others, b))
    return out


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping, non-adjacent intervals covering the same points."""
    ordered = sorted(intervals)
    if len(ordered) < 2:
        return ordered
    out: list[tuple[int, int]] = []
    cur_lo, cur_hi = ordered[0]
    for lo, hi in ordered:
        if lo <= cur_hi + 1:
            if hi > cur_hi:
                cur_hi = hi
        else:
            out.append((cur_lo, cur_hi))
            cur_lo, cur_hi = lo, hi
    out.append((cur_lo, cur_hi))
    return out


Canonical = tuple[tuple[tuple[int, int], tuple[tuple[int, int], ...]], ...]


def canonical(boxes: Iterable[Box]) -> Canonical:
    """One form per point set: port intervals (maximal) each with its merged peer intervals.

    Two box lists cover the same points exactly when their canonical forms are equal. A sweep
    over the port axis keeps only the boxes active at each cut.
    """
    boxes = list(boxes)
    if not boxes:
        return ()
    if len(boxes) == 1:
        b = boxes[0]
        return (((b[2], b[3]), ((b[0], b[1]),)),)
    cuts = sorted({b[2] for b in boxes} | {b[3] + 1 for b in boxes})
    pending = sorted(boxes, key=lambda b: b[2])
    count = len(pending)
    k = 0
    active: list[Box] = []
    segments: list[tuple[tuple[int, int], tuple[tuple[int, int], ...]]] = []
    for lo, nxt in zip(cuts, cuts[1:]):
        while k < count and pending[k][2] <= lo:
            active.append(pending[k])
            k += 1
        active = [b for b in active if b[3] >= lo]
        if not active:
            continue
        peers = tuple(merge_intervals([(b[0], b[1]) for b in active]))
        if segments and segments[-1][1] == peers and segments[-1][0][1] == lo - 1:
            segments[-1] = ((segments[-1][0][0], nxt - 1), peers)
        else:
            segments.append(((lo, nxt - 1), peers))
    return tuple(segments)


def compact(boxes: Iterable[Box]) -> list[Box]:
    """Fewer, larger boxes for the same points (keeps working sets small)."""
    return [(p_lo, p_hi, q_lo, q_hi) for (q_lo, q_hi), peers in canonical(boxes) for p_lo, p_hi in peers]


# ---------------------------------------------------------------------------------------------
# Traffic sets


@dataclass(frozen=True, slots=True, eq=False)
class Traffic:
    """An exact set of flows for one direction.

    `parts` maps (protocol, realm) to disjoint boxes. `symbols` are the symbolic realms and
    symbolic services this set names; any other symbolic realm holds what realm `*` holds, and
    any other symbolic service what protocol `*` holds (so two sets built from rule lists that
    name different groups or templates still compare correctly).
    """

    parts: Mapping[Key, tuple[Box, ...]] = field(default_factory=dict)
    symbols: frozenset[str] = frozenset()

    def boxes(self, protocol: str, realm: str) -> tuple[Box, ...]:
        if is_symbolic(realm) and realm not in self.symbols:
            realm = OTHERS
        if is_symbolic_protocol(protocol) and protocol not in self.symbols:
            protocol = OTHERS
        return self.parts.get((protocol, realm), ())

    def keys(self) -> set[Key]:
        return {k for k, v in self.parts.items() if v}

    def is_empty(self) -> bool:
        return not any(self.parts.values())

    def _keys_with(self, other: "Traffic") -> set[Key]:
        keys = self.keys() | other.keys()
        symbols = self.symbols | other.symbols
        services = [s for s in symbols if _is_service_symbol(s)] + [OTHERS]
        peers = [s for s in symbols if not _is_service_symbol(s)] + [OTHERS]
        # A symbol named by only one side still needs comparing against the other's `*`.
        for protocol, realm in list(keys):
            protocols = services if protocol == OTHERS else [protocol]
            realms = peers if realm == OTHERS else [realm]
            keys.update((p, r) for p in protocols for r in realms)
        return keys

    def _combine(self, other: "Traffic", op) -> "Traffic":
        parts: dict[Key, tuple[Box, ...]] = {}
        for key in self._keys_with(other):
            boxes = op(list(self.boxes(*key)), list(other.boxes(*key)))
            if boxes:
                parts[key] = tuple(compact(boxes))
        return Traffic(parts, self.symbols | other.symbols)

    def __sub__(self, other: "Traffic") -> "Traffic":
        return self._combine(other, subtract)

    def __and__(self, other: "Traffic") -> "Traffic":
        return self._combine(other, intersect)

    def __or__(self, other: "Traffic") -> "Traffic":
        return self._combine(other, lambda a, b: a + subtract(b, a))

    def same_as(self, other: "Traffic") -> bool:
        return all(
            canonical(self.boxes(*key)) == canonical(other.boxes(*key)) for key in self._keys_with(other)
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Traffic) and self.same_as(other)

    __hash__ = None  # type: ignore[assignment]

    def contains(self, protocol: str, realm: str, peer: int, port: int) -> bool:
        return any(b[0] <= peer <= b[1] and b[2] <= port <= b[3] for b in self.boxes(protocol, realm))

    def items(self) -> Iterator[tuple[Key, tuple[Box, ...]]]:
        for key in sorted(self.keys(), key=_key_order):
            yield key, self.parts[key]


def _is_service_symbol(symbol: str) -> bool:
    return symbol.startswith("ppm")


def _key_order(key: Key) -> tuple:
    protocol, realm = key
    rank = PROTOCOL_ORDER.index(protocol) if protocol in PROTOCOL_ORDER else len(PROTOCOL_ORDER)
    realm_rank = {V4: 0, V6: 1}.get(realm, 2)
    return (realm_rank, realm, rank, protocol)


# ---------------------------------------------------------------------------------------------
# Addresses


def network_interval(text: str) -> tuple[str, int, int]:
    """`10.0.0.0/8` or `10.0.0.1-10.0.0.9` or `::1` → (realm, lo, hi)."""
    text = text.strip()
    if "-" in text and "/" not in text:
        first, _, last = text.partition("-")
        lo_addr, hi_addr = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
        if lo_addr.version != hi_addr.version or int(lo_addr) > int(hi_addr):
            raise ValueError(f"invalid address range {text!r}")
        return (V4 if lo_addr.version == 4 else V6), int(lo_addr), int(hi_addr)
    network = ipaddress.ip_network(text, strict=False)
    realm = V4 if network.version == 4 else V6
    return realm, int(network.network_address), int(network.broadcast_address)


def interval_cidrs(realm: str, lo: int, hi: int) -> list[str]:
    """The fewest CIDR blocks covering exactly [lo, hi]."""
    make = ipaddress.IPv4Address if realm == V4 else ipaddress.IPv6Address
    return [n.compressed for n in ipaddress.summarize_address_range(make(lo), make(hi))]


def address_realm(text: str) -> tuple[str, int]:
    """A single address → (realm, integer)."""
    address = ipaddress.ip_address(text.strip())
    return (V4 if address.version == 4 else V6), int(address)


def ports_text(intervals: Iterable[tuple[int, int]]) -> str:
    """`22`, `8000-8010`, `80,443`, `ALL`: the port spelling users write."""
    intervals = merge_intervals(intervals)
    if intervals == [(PORT_MIN, PORT_MAX)]:
        return "ALL"
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in intervals)


def parse_ports(text: str | None) -> list[tuple[int, int]]:
    """A canonical rule port (`ALL`, `22`, `8000-8010`, `80,443`) → port intervals."""
    if text is None or text.strip().upper() in ("", "ALL"):
        return [(PORT_MIN, PORT_MAX)]
    out = []
    for part in text.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        out.append((int(lo), int(hi or lo)))
    return merge_intervals(out)
