"""Differential oracle: HashiCorp's HCL parser (hcldump.go, built like tests/hclfmt.py builds
hclfmt) against sgplan's load/parse layer, compared attribute by attribute.

`verdict(oracle, ours)` says how one input went:
- "equal": both read it, same blocks, same attributes, same literal values;
- "refused": HashiCorp reads it, sgplan rejects it (a syntax error, or an attribute sgplan will
  not evaluate) — allowed: sgplan may refuse what it cannot read exactly;
- "both-rejected": neither reads it;
- "accepted-invalid": HashiCorp rejects it, sgplan reads it;
- "different": both read it and something differs — never allowed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

GOPATH = Path("/usr/share/gocode")
HCL_PACKAGE = GOPATH / "src" / "github.com" / "hashicorp" / "hcl" / "v2" / "hclsyntax"
SOURCE = Path(__file__).with_name("hcldump.go")


def _cache_dir() -> Path | None:
    """A per-user build directory under the temp dir that only this user can write, or None:
    a binary someone else planted there must never be run."""
    base = Path(tempfile.gettempdir()) / f"sgplan-hcldump-{os.geteuid()}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(base)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return base


@functools.cache
def hcldump() -> tuple[Path | None, str]:
    """(path to hcldump, "") or (None, why it cannot be built) — tests skip with that reason."""
    cache = _cache_dir()
    if cache is None:
        return None, "hcldump unavailable: no private build directory under the temp dir"
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    binary = cache / f"hcldump-{digest}"
    if binary.exists():
        return binary, ""
    go = shutil.which("go")
    if go is None:
        return None, "hcldump unavailable: `go` not installed (apt-get install golang-go)"
    if not HCL_PACKAGE.is_dir():
        return None, "hcldump unavailable: apt-get install golang-github-hashicorp-hcl-v2-dev"
    env = {**os.environ, "GOPATH": str(GOPATH), "GO111MODULE": "off", "GOCACHE": str(cache / "gocache"),
           "GOFLAGS": ""}
    partial = cache / f"hcldump.{os.getpid()}"
    result = subprocess.run([go, "build", "-o", str(partial), str(SOURCE)], env=env, capture_output=True,
                            text=True, timeout=300, cwd=cache)
    if result.returncode != 0:
        return None, f"hcldump build failed: {result.stderr.strip()[:300]}"
    partial.replace(binary)  # atomic: parallel test runs never see half a binary
    return binary, ""


def read_with_hashicorp(sources: list[str]) -> list[dict]:
    """HashiCorp's reading of each source (see hcldump.go for the shape)."""
    binary, why = hcldump()
    assert binary is not None, why
    proc = subprocess.run([str(binary), "-batch"], input=json.dumps(sources).encode(), capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout, parse_float=Decimal, parse_int=int)


def read_with_sgplan(source: str) -> dict:
    """sgplan's reading, in hcldump's shape: what `load.parse_source` gives, attribute values
    evaluated with no variables (as the configuration would see them)."""
    from sgplan.config.evaluate import Evaluator, Scope
    from sgplan.config.values import EvalError
    from sgplan.diagnostics import Severity
    from sgplan.hcl.load import parse_source

    parsed, diags = parse_source(source.encode("utf-8"), "input.hcl")
    errors = [str(d) for d in diags if d.severity == Severity.ERROR]
    if parsed.body is None or errors:
        return {"ok": False, "errors": errors}
    evaluator = Evaluator()

    def body(block: Any) -> dict:
        attributes = {}
        for name, attr in block.attributes.items():
            try:
                attributes[name] = {"line": attr.range.line, "value": evaluator.evaluate(attr.expr, Scope({}))}
            except EvalError as exc:
                attributes[name] = {"line": attr.range.line, "nonliteral": exc.message}
        blocks = [{"type": b.type, "labels": list(b.labels), "line": b.range.line, "body": body(b)}
                  for b in block.blocks]
        return {"attributes": attributes, "blocks": blocks}

    return {"ok": True, "body": body(parsed.body)}


def verdict(theirs: dict, ours: dict) -> tuple[str, str]:
    """(verdict, what differs) for one input; see the module docstring."""
    if not theirs["ok"]:
        if not ours["ok"] or _declines_something(ours["body"]):
            return "both-rejected", ""  # an attribute sgplan will not evaluate fails the run too
        return "accepted-invalid", "; ".join(theirs["errors"][:1])
    if not ours["ok"]:
        return "refused", "; ".join(ours["errors"][:1])
    problems: list[str] = []
    refused = _compare_body(theirs["body"], ours["body"], "", problems)
    if problems:
        return "different", problems[0]
    return ("refused", "an attribute sgplan will not evaluate") if refused else ("equal", "")


def _compare_body(theirs: dict, ours: dict, where: str, problems: list[str]) -> bool:
    """Record differences in `problems`; True when sgplan declined to evaluate something."""
    refused = False
    if set(theirs["attributes"]) != set(ours["attributes"]):
        problems.append(f"{where}attribute names {sorted(theirs['attributes'])} != {sorted(ours['attributes'])}")
        return refused
    for name, attr in theirs["attributes"].items():
        mine = ours["attributes"][name]
        if "value" in attr and "value" in mine:
            if not same_value(attr["value"], mine["value"]):
                problems.append(f"{where}{name}: HashiCorp {attr['value']!r}, sgplan {mine['value']!r}")
        elif "value" in attr:
            refused = True  # sgplan will not evaluate what HCL does: a refusal
        elif "value" in mine:
            problems.append(f"{where}{name}: HashiCorp cannot evaluate it ({attr['nonliteral']}), sgplan reads {mine['value']!r}")
    if len(theirs["blocks"]) != len(ours["blocks"]):
        problems.append(f"{where}{len(theirs['blocks'])} blocks != {len(ours['blocks'])}")
        return refused
    for i, (a, b) in enumerate(zip(theirs["blocks"], ours["blocks"])):
        here = f"{where}{a['type']}[{i}]."
        if (a["type"], a["labels"]) != (b["type"], b["labels"]):
            problems.append(f"{here} block {a['type']} {a['labels']} != {b['type']} {b['labels']}")
            continue
        refused = _compare_body(a["body"], b["body"], here, problems) or refused
    return refused


def _declines_something(body: dict) -> bool:
    return any("value" not in a for a in body["attributes"].values()) or any(
        _declines_something(b["body"]) for b in body["blocks"])


def same_value(theirs: Any, ours: Any) -> bool:
    """HashiCorp's JSON value (numbers as int or Decimal) equals sgplan's Python value."""
    if theirs is None or isinstance(theirs, (bool, str)):
        return type(ours) is type(theirs) and ours == theirs
    if isinstance(theirs, (int, Decimal)):
        if isinstance(ours, bool) or not isinstance(ours, (int, float)):
            return False
        if isinstance(ours, int):
            return Decimal(ours) == Decimal(theirs)
        return float(theirs) == ours  # sgplan's numbers are doubles: equal when both round alike
    if isinstance(theirs, list):
        return isinstance(ours, list) and len(ours) == len(theirs) and all(map(same_value, theirs, ours))
    if isinstance(theirs, dict):
        return isinstance(ours, dict) and ours.keys() == theirs.keys() and all(
            same_value(v, ours[k]) for k, v in theirs.items())
    return False
