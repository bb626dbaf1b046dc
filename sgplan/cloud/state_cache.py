"""The live-state cache of `file:` clouds (issue 18): what `read_live` made of a state file,
stored in `<config dir>/.sgplan/cache/*.state`, so a warm plan against an unchanged file skips
parsing, normalising and reading it through the fake engine.

Keyed on the file's bytes (sha256) and every parameter of the read (requested region, stack,
pinned ids, template reads, neighbour instances), with the sgplan version, the mtimes of its
source files and the python version. Signed and decoded exactly like the evaluated-state cache
(sgplan/cachestore.py, sgplan/modelcodec.py): a forged, corrupt or moved entry is a miss.
State files hold no secrets; nothing else is stored. `SGPLAN_NO_CACHE=1` turns it off.
"""

from __future__ import annotations

import hashlib
import marshal
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

import sgplan
from sgplan.cachestore import SignedStore, code_stamp
from sgplan.collector import gc_paused
from sgplan.model import CloudState
from sgplan.modelcodec import Uncacheable, decode_state, encode_state

FORMAT = b"sgplan-state-cache-1"  # bump when modelcodec's live-state encoding changes shape
SUFFIX = ".state"
_PLAIN = b"S"


def state_key(data: bytes, region: str | None, stack: str | None, pinned: Sequence[str], templates: bool | None,
              neighbours: Iterable[str] | None) -> str:
    digest = hashlib.sha256()
    for part in (FORMAT, sgplan.__version__.encode(), sys.version.encode(), code_stamp(),
                 hashlib.sha256(data).digest(), repr((region, stack, tuple(pinned), templates,
                                                      None if neighbours is None else tuple(neighbours))).encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest() + SUFFIX


def cached_read(directory: Path, data: bytes, region: str | None, stack: str | None, pinned: Sequence[str],
                templates: bool | None, neighbours: Iterable[str] | None,
                read: Callable[[], CloudState]) -> tuple[CloudState, str | None]:
    """The live state for these bytes and parameters: from the cache, else `read()` (stored);
    with the entry name (None when it could not be stored), which names this state."""
    neighbours = None if neighbours is None else tuple(neighbours)
    name = state_key(data, region, stack, pinned, templates, neighbours)
    store = SignedStore(directory)
    payload = store.get(name)
    if payload is not None and payload[:1] == _PLAIN:
        try:
            with gc_paused():
                return decode_state(marshal.loads(payload[1:])), name
        except Exception:  # a corrupt entry: read for real (and overwrite it)
            pass
    live = read()
    try:
        store.put(name, _PLAIN + marshal.dumps(encode_state(live)))
    except (Uncacheable, ValueError, RecursionError):
        return live, None
    return live, name
