"""Findings remembered across runs (issue 18): `sgplan check`'s (check ≤ 1.2 × plan) and the
ones a plan shows for what it changes.

The findings are a function of the planned state alone, which is a function of the
evaluated configuration and the live state (and the cloud and region the plan names). When
both came from, or went into, the warm-run caches, their entry names name them exactly
(config/evaluated_cache.py, cloud/state_cache.py), so the findings are stored under a digest of
those names: an unchanged configuration against an unchanged state file reports the findings
of the previous run without analysing every group again. Any change to either is a new name.
Signed and decoded by schema like the other caches (sgplan/cachestore.py); a bad entry is a miss.
"""

from __future__ import annotations

import hashlib
import marshal
from pathlib import Path
from typing import Any, Callable, Mapping

from sgplan.analysis.checks import Finding
from sgplan.modelcodec import dec_origin, enc_origin, opt_str, want

FORMAT = b"sgplan-findings-1"
_PLAIN = b"F"


def _name(keys: Mapping[str, str], cloud: str, region: str, kind: str) -> str | None:
    if "config" not in keys or "state" not in keys:
        return None
    parts = (FORMAT, kind.encode(), keys["config"].encode(), keys["state"].encode(), cloud.encode(), region.encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest() + ".findings"


def _decode(payload: bytes) -> list[Finding]:
    if payload[:1] != _PLAIN:
        raise ValueError("unknown codec")
    out = []
    for item in want(marshal.loads(payload[1:]), tuple):
        rule, severity, address, message, group_id, instance_id, file, line, column = want(item, tuple)
        out.append(Finding(want(rule, str), want(severity, str), want(address, str), want(message, str),
                           opt_str(group_id), opt_str(instance_id), dec_origin(file, line, column)))
    return out


def cached_findings(directory: Path, keys: Mapping[str, str], cloud: str, region: str,
                    compute: Callable[[], list[Any]], kind: str = "check") -> list[Any]:
    """The findings for this configuration and state: stored ones, else `compute()` (stored).
    `kind` tells apart the sets one run computes: "check" (every subject), "plan" (the subjects
    the plan changes, `annotate_plan`)."""
    name = _name(keys, cloud, region, kind)
    if name is None:
        return compute()
    from sgplan.cachestore import SignedStore

    store = SignedStore(directory)
    payload = store.get(name)
    if payload is not None:
        try:
            return _decode(payload)
        except Exception:  # not what this codec writes: compute again
            pass
    findings = compute()
    try:
        encoded = tuple((f.rule, f.severity, f.address, f.message, f.group_id, f.instance_id, *enc_origin(f.origin))
                        for f in findings)
        if all(type(x) in (str, int, type(None)) for item in encoded for x in item):
            store.put(name, _PLAIN + marshal.dumps(encoded))
    except (ValueError, AttributeError):
        pass
    return findings
