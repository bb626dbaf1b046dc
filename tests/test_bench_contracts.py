"""Smoke test of the contracts benchmark figure (issue 16) at a tiny size."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.bench_contracts import contracts_hcl
from sgplan.config import load_configuration


def test_the_benchmark_contracts_are_valid_and_twenty(tmp_path: Path) -> None:
    (tmp_path / "main.sg.hcl").write_text('sgplan { stack = "b" }\n' + contracts_hcl(["ins-a1", "ins-b2"]))
    cfg, diags = load_configuration(tmp_path, cache=False)
    assert cfg is not None and not diags
    desired, more = cfg.evaluate({})
    assert desired is not None and not more, [str(d) for d in more]
    assert len(desired.expects) == 20
    assert {e.decision for e in desired.expects} == {"allow", "deny"}
    assert json.loads(json.dumps([e.address for e in desired.expects]))[0] == "expect.no_public_22"
