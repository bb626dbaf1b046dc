"""`gc_paused`: hold the cyclic garbage collector while building many acyclic values at once."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause automatic collections inside the block, restoring the previous setting on exit.

    Loading or reading a big estate allocates a value per group and rule and makes no
    reference cycles; each automatic collection would rescan the whole heap, so the cost grew
    faster than the estate (issue 8). Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
