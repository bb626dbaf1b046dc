"""Smoke test of the benchmark pieces at tiny sizes: estates, floors, tables, one measurement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import measure
from benchmarks.estate import make_estate, write_estate
from benchmarks.floor import apply_floor, edit_runs, rate_floor_seconds, refresh_floor
from benchmarks.report import growth_table, table


def test_refresh_floor() -> None:
    assert refresh_floor(0, 0) == 2
    assert refresh_floor(2000, 5000) == 20 + 2000 + 50
    assert refresh_floor(101, 1) == 2 + 101 + 1


def test_edit_runs() -> None:
    a, b, c, d = ({"Port": str(n), "Protocol": "tcp"} for n in range(4))
    assert edit_runs([a, b, c], [a, b, c]) == 0
    assert edit_runs([a, b, c], [a, d, c]) == 1  # one replace run
    assert edit_runs([a, b, c, d], [b, d]) == 2  # two separate deletes
    assert edit_runs([a], [dict(a, Protocol="TCP", PolicyIndex=3)]) == 0  # case and index do not count


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=12), st.lists(st.integers(0, 5), max_size=12))
def test_edit_runs_bounds(live: list[int], desired: list[int]) -> None:
    runs = edit_runs([{"Port": str(n)} for n in live], [{"Port": str(n)} for n in desired])
    assert (runs == 0) == (live == desired)
    assert runs <= min(len(live), len(desired)) + 1


def test_rate_floor_is_calls_over_limits() -> None:
    assert rate_floor_seconds({"DescribeSecurityGroupPolicies": 200, "ModifyInstancesAttribute": 5}) == pytest.approx(2.5)


@pytest.mark.parametrize("variant", ["identical", "drift", "heavy"])
def test_estate_variants(variant: str) -> None:
    estate = make_estate(12, 9, 30, variant=variant)
    assert len(estate.state["SecurityGroups"]) == 12 and len(estate.state["Instances"]) == 30
    need = apply_floor(estate.state, estate.desired)
    assert (need["total"] == 0) == (variant == "identical")
    assert estate.config.count('security_group "') == 12
    for group in estate.state["SecurityGroups"]:
        for direction in ("Ingress", "Egress"):
            rules = group["SecurityGroupPolicySet"][direction]
            assert [p["PolicyIndex"] for p in rules] == list(range(len(rules)))


def test_one_cloud_measurement_meets_the_refresh_floor(tmp_path: Path) -> None:
    estate = make_estate(6, 5, 15, variant="drift")
    write_estate(estate, tmp_path)
    got = measure.cloud({"dir": str(tmp_path)})
    json.dumps(got)
    refresh = sum(n for a, n in got["refresh_calls"].items() if "Template" not in a)
    assert refresh == refresh_floor(6, 15)
    writes = sum(n for a, n in got["apply_calls"].items() if not a.startswith("Describe"))
    need = apply_floor(estate.state, estate.desired)
    assert writes >= need["total"]
    # Tag changes are counted and sit at their floor: one ModifyResourceTags per drifted group.
    assert need["tags"] >= 1 and got["apply_calls"].get("ModifyResourceTags") == need["tags"]
    assert got["apply_errors"] == []


def test_tables() -> None:
    text = table("T", [{"a": 1, "b": None}, {"a": 22, "b": 0.5}], [("a", "A"), ("b", "B"), ("z", "Z")])
    assert text.splitlines() == ["T", "A   B", "--  ----", "1", "22  0.50"]
    grown = growth_table({"local": {"wall": {"1x": 1.0, "10x": 9.5}}})
    assert "local.wall" in grown and "9.50" in grown


def test_fmt_check_measurement_and_tables(tmp_path: Path) -> None:
    """Issue 18's figures: fmt --check (both paths) on a generated estate, and their tables."""
    from benchmarks.runner import render

    write_estate(make_estate(5, 4, 10, variant="drift"), tmp_path)
    got = measure.fmt_check({"dir": str(tmp_path)})
    assert got["changed"] == 0 and got["errors"] == 0 and got["wall"] >= 0
    results = {"profile": "t", "machine": {},
               "fmt": {"G": 5, "R": 4, "I": 10, "fmt_check": {"wall": 0.1, "peak_rss_mb": 30.0},
                       "plan_cold": {"wall": 0.3, "peak_rss_mb": 40.0}, "fmt_over_cold_plan": 0.33},
               "import_http": {"G": 5, "R": 4, "I": 10, "refresh_seconds": 1.0, "import_seconds": 1.1,
                               "import_sequential_seconds": 4.0, "import_over_refresh": 1.1}}
    text = render(results)
    assert "fmt/plan = 0.33" in text and "one-at-a-time s" in text


def test_goals_section_pieces(tmp_path: Path) -> None:
    """Issue 18's goals section: one whole command measured in a fresh process, and its table."""
    from benchmarks.bench_goals import best, child_env, goals_table, run_command
    from benchmarks.runner import render

    write_estate(make_estate(4, 3, 8, variant="drift"), tmp_path)
    got = run_command(["validate", str(tmp_path / "config")], child_env(tmp_path), timeout=60)
    assert got["exit"] == 0 and got["wall"] > 0 and got["peak_rss_mb"] > 0 and not got.get("status")
    assert best([{"wall": 2.0}, {"wall": 1.0}, {"status": "x", "wall": 0.1}]) == {"wall": 1.0}
    goals = {"target_size": [2000, 50, 5000], "mid_size": [500, 20, 1500], "load_average_start": [1.0],
             "target": {"plan_cold": {"wall": 9.0, "peak_rss_mb": 500.0}, "plan_warm": {"wall": 1.5, "peak_rss_mb": 250.0},
                        "validate_warm": {"wall": 1.6}, "check_over_plan": 1.1},
             "mid": {"plan_warm": {"wall": 0.5}}}
    rows = {r["figure"]: r for r in goals_table(goals, {"fmt": {"fmt_over_cold_plan": 0.4}})}
    assert rows["plan warm, G=2000 R=50 I=5000"]["met"] == "yes"
    assert rows["validate warm, G=2000 R=50 I=5000"]["met"] == "no"
    assert rows["import reads / refresh (section import_http)"]["met"] == "not measured"
    text = render({"profile": "t", "machine": {}, "goals": goals, "fmt": {"fmt_over_cold_plan": 0.4}})
    assert "Issue 18 goals" in text and "check warm / plan warm" in text
