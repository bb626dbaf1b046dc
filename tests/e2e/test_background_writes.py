"""Cache entries written by the forked writer, end to end: a fresh `sgplan` process (no other
thread, so the writer is forked) leaves its entries in place when it exits, and the warm run
that reads them prints the plan an uncached run prints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.estate import make_estate, write_estate
from sgplan.cachestore import CACHE_DIR
from tests.e2e.cli import run_subprocess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="writers are forked only on Linux")


def test_a_cold_run_leaves_its_entries_and_the_warm_run_plans_the_same(tmp_path: Path) -> None:
    live, config = write_estate(make_estate(20, 8, 30, variant="drift"), tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "user-cache"), "SGPLAN_NO_CACHE": ""}
    args = ("plan", config, "--cloud", f"file:{live}", "--json")
    uncached = run_subprocess(*args, env={**env, "SGPLAN_NO_CACHE": "1"})
    assert uncached.code == 0, uncached.err
    assert not (config / CACHE_DIR).exists()

    cold = run_subprocess(*args, env=env)
    assert cold.code == 0 and cold.out == uncached.out, cold.err
    names = [p.name for p in (config / CACHE_DIR).iterdir()]
    # In place when the command has returned: the parse and evaluated entries (the child's),
    # the state entry and the analysis memo (the parent's); no temporary file left behind.
    assert any(n.endswith(".entry") for n in names) and any(n.endswith(".eval") for n in names), names
    assert any(n.endswith(".state") for n in names), names
    assert not [n for n in names if n.endswith(".tmp")], names

    warm = run_subprocess(*args, env=env)
    assert warm.code == 0 and warm.out == uncached.out, warm.err
