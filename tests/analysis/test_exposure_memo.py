"""Exposure differences remembered across runs (issue 18): the remembered answer is the computed
one, only new content is computed, and a stored entry that is not ours is empty."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sgplan.analysis import exposure
from sgplan.analysis.exposure import AccessView, compare
from sgplan.analysis.exposure_memo import ExposureMemo, _decode
from sgplan.model import Rule, SecurityGroup

RULES = [Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0"), Rule("DROP", "TCP", "22", cidr_block="10.0.0.0/8"),
         Rule("ACCEPT", "TCP", "80,443", cidr_block="0.0.0.0/0"), Rule("ACCEPT", "UDP", "53", cidr_block="10.1.0.0/16"),
         Rule("ACCEPT", "ALL", None, ipv6_cidr_block="::/0"), Rule("ACCEPT", "ICMP", None, cidr_block="192.0.2.0/24")]


def _views(seed: int) -> tuple[AccessView, AccessView]:
    rng = random.Random(seed)

    def groups() -> dict[str, SecurityGroup]:
        return {f"sg-{n}": SecurityGroup(f"g{n}", ingress=tuple(rng.sample(RULES, rng.randint(0, 4))),
                                         egress=tuple(rng.sample(RULES, rng.randint(0, 2)))) for n in range(5)}

    def instances() -> dict[str, tuple[str, ...]]:
        return {f"ins-{n}": tuple(rng.sample([f"sg-{k}" for k in range(5)], rng.randint(1, 3))) for n in range(8)}

    before_groups, before_instances = groups(), instances()
    after_groups = dict(before_groups, **{k: g for k, g in groups().items() if rng.random() < 0.4})
    after_instances = dict(before_instances, **{k: v for k, v in instances().items() if rng.random() < 0.3})
    return AccessView(before_groups, before_instances), AccessView(after_groups, after_instances)


@pytest.mark.parametrize("seed", range(8))
def test_remembered_differences_equal_computed_ones(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    plain = compare(*_views(seed))
    first = ExposureMemo(tmp_path)
    assert compare(*_views(seed), memo=first) == plain
    first.save()
    computed: list[int] = []
    real = exposure.stacked_difference
    monkeypatch.setattr(exposure, "stacked_difference", lambda a, b: computed.append(1) or real(a, b))
    again = ExposureMemo(tmp_path)
    assert compare(*_views(seed), memo=again) == plain
    assert computed == []  # every difference came from the previous run


def test_entries_of_the_wrong_shape_are_empty() -> None:
    import marshal

    assert _decode(b"X" + marshal.dumps(((b"k", ((("TCP", "22", "0.0.0.0/0"), "opened"),)),))) == {
        b"k": [(("TCP", "22", "0.0.0.0/0"), "opened")]}
    for bad in ((("k", ()),), ((b"k", ((("TCP", 22, "x"), "opened"),)),), ("x",)):
        assert _decode(b"X" + marshal.dumps(bad)) == {}
    assert _decode(b"Z") == {}
