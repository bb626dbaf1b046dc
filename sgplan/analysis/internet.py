"""What counts as "open to the internet": public address space and a size threshold, per port.

A port is open to the internet on an instance when the addresses its stacked groups allow on
that port include at least a /8 of public IPv4 or a /16 of public IPv6 (a single office address
is a decision; a /8 or 0.0.0.0/0 is the internet).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from sgplan.analysis.layers import Layer, stack_key
from sgplan.analysis.space import V4, V6, Box, Traffic, canonical, merge_intervals, network_interval

Ports = tuple[tuple[int, int], ...]

# Not reachable from the internet: RFC 1918, loopback, link-local, CGNAT, multicast, reserved…
_NOT_PUBLIC_V4 = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
]  # fmt: skip
_PUBLIC_V6 = [(0x2000 << 112, (0x4000 << 112) - 1)]  # 2000::/3, global unicast
THRESHOLD = {V4: 1 << 24, V6: 1 << 112}


def _public_v4() -> list[tuple[int, int]]:
    blocked = merge_intervals(network_interval(n)[1:] for n in _NOT_PUBLIC_V4)
    out, start = [], 0
    for lo, hi in blocked:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= (1 << 32) - 1:
        out.append((start, (1 << 32) - 1))
    return out


PUBLIC = {V4: _public_v4(), V6: _PUBLIC_V6}


def public_size(realm: str, peers: Iterable[tuple[int, int]]) -> int:
    """How many public addresses these (disjoint) peer intervals hold."""
    total = 0
    public = PUBLIC[realm]
    for lo, hi in peers:
        for p_lo, p_hi in public:
            if lo <= p_hi and p_lo <= hi:
                total += min(hi, p_hi) - max(lo, p_lo) + 1
    return total


def internet_ports(allowed: Traffic, protocol: str) -> list[tuple[int, int]]:
    """Port intervals of `protocol` reachable from the internet in an allowed set."""
    out: list[tuple[int, int]] = []
    for realm in (V4, V6):
        for ports, peers in canonical(allowed.boxes(protocol, realm)):
            if public_size(realm, peers) >= THRESHOLD[realm]:
                out.append(ports)
    return merge_intervals(out)


def _mass(realm: str, boxes: Sequence[Box]) -> int:
    # Disjoint boxes: the sum bounds the public addresses allowed on any single port.
    return public_size(realm, ((b[0], b[1]) for b in boxes))


def open_ports(layers: Sequence[Layer], protocol: str, wanted: Ports) -> list[tuple[int, int]]:
    """The ports among `wanted` that stacked layers leave open to the internet.

    Each layer's allowed boxes are clipped to `wanted` first, and a list whose clipped boxes
    cannot add up to the threshold is dismissed without stacking: most group lists never touch
    the watched ports, so they cost a few cached look-ups.
    """
    out: list[tuple[int, int]] = []
    for realm in (V4, V6):
        key = (protocol, realm)
        clipped = [layer.allows_in_ports(key, wanted) for layer in layers]
        if not any(clipped):
            continue
        if sum(_mass(realm, c) for c in clipped) < THRESHOLD[realm]:
            continue
        for ports, peers in canonical(stack_key(layers, key, clipped)):
            if public_size(realm, peers) >= THRESHOLD[realm]:
                out.append(ports)
    return merge_intervals(out)
