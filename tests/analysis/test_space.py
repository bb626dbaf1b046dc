"""The box algebra against brute-force point sets on a small grid."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.analysis.space import (
    Traffic,
    canonical,
    clip,
    compact,
    cut_out,
    interval_cidrs,
    network_interval,
    parse_ports,
    ports_text,
    subtract,
)

SIDE = 12


@st.composite
def boxes(draw: st.DrawFn) -> tuple[int, int, int, int]:
    p_lo, p_hi = sorted(draw(st.tuples(st.integers(0, SIDE), st.integers(0, SIDE))))
    q_lo, q_hi = sorted(draw(st.tuples(st.integers(0, SIDE), st.integers(0, SIDE))))
    return p_lo, p_hi, q_lo, q_hi


def points(box_list) -> set[tuple[int, int]]:
    return {(p, q) for b in box_list for p in range(b[0], b[1] + 1) for q in range(b[2], b[3] + 1)}


def disjoint_points(box_list) -> set[tuple[int, int]]:
    seen: set[tuple[int, int]] = set()
    for b in box_list:
        these = points([b])
        assert not (seen & these), "boxes overlap"
        seen |= these
    return seen


@settings(max_examples=300)
@given(st.lists(boxes(), max_size=6), boxes())
def test_cut_out_and_clip(cuts, box) -> None:
    region = subtract([box], cuts)
    assert disjoint_points(region) == points([box]) - points(cuts)
    for c in cuts:
        assert disjoint_points(cut_out(region, c)) == points(region) - points([c])
        assert disjoint_points(clip(region, c)) == points(region) & points([c])


@settings(max_examples=300)
@given(st.lists(boxes(), max_size=6), st.lists(boxes(), max_size=6))
def test_canonical_is_one_form_per_point_set(a, b) -> None:
    region_a = subtract([(0, SIDE, 0, SIDE)], a)
    region_b = subtract([(0, SIDE, 0, SIDE)], b)
    assert disjoint_points(compact(region_a)) == points(region_a)
    assert (canonical(region_a) == canonical(region_b)) == (points(region_a) == points(region_b))
    assert canonical(region_a) == canonical(list(reversed(compact(region_a))))


@settings(max_examples=200)
@given(st.lists(boxes(), max_size=5), st.lists(boxes(), max_size=5))
def test_traffic_operations(a, b) -> None:
    ta = Traffic({("TCP", "v4"): tuple(subtract([(0, SIDE, 0, SIDE)], a))})
    tb = Traffic({("TCP", "v4"): tuple(subtract([(0, SIDE, 0, SIDE)], b))})
    pa, pb = points(ta.boxes("TCP", "v4")), points(tb.boxes("TCP", "v4"))
    assert points((ta - tb).boxes("TCP", "v4")) == pa - pb
    assert points((ta & tb).boxes("TCP", "v4")) == pa & pb
    assert points((ta | tb).boxes("TCP", "v4")) == pa | pb
    assert ta.same_as(tb) == (pa == pb)


def test_symbols_fall_back_to_others() -> None:
    broad = Traffic({("TCP", "*"): ((0, 0, 22, 22),)})
    named = Traffic({("TCP", "sg-a"): ((0, 0, 22, 22),), ("TCP", "*"): ((0, 0, 22, 22),)}, frozenset({"sg-a"}))
    assert broad.same_as(named)
    only_named = Traffic({("TCP", "sg-a"): ((0, 0, 22, 22),)}, frozenset({"sg-a"}))
    assert not broad.same_as(only_named)
    assert (only_named - broad).is_empty()
    assert not (broad - only_named).is_empty()


def test_addresses_and_ports_spelling() -> None:
    realm, lo, hi = network_interval("10.0.0.0/8")
    assert (realm, interval_cidrs(realm, lo, hi)) == ("v4", ["10.0.0.0/8"])
    assert network_interval("198.51.100.1-198.51.100.9")[1:] == (0xC6336401, 0xC6336409)
    assert interval_cidrs("v4", 0, 2**32 - 1) == ["0.0.0.0/0"]
    assert interval_cidrs("v6", 0, 2**128 - 1) == ["::/0"]
    assert parse_ports("80,443") == [(80, 80), (443, 443)]
    assert ports_text([(1, 65535)]) == "ALL"
    assert ports_text([(443, 443), (80, 80), (8000, 8010)]) == "80,443,8000-8010"
