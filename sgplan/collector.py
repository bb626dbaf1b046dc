"""`gc_paused`: hold the cyclic garbage collector while building many acyclic values at once."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

# Objects allocated inside a paused block above which its exit freezes them (gc.freeze) rather
# than leaving them to the collector. Small blocks (a test's tiny configuration) keep the
# ordinary behaviour, so their cyclic garbage is still collected. At 100,000 the live-state
# read of a 2,000-group estate (which frees its answers as it goes) ended below it, and the next
# allocation ran a young collection over everything it kept (25-60 ms; issue 18).
FREEZE_AFTER = 20_000


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause automatic collections inside the block, restoring the previous setting on exit.

    Loading or reading a big estate allocates a value per group and rule and makes no
    reference cycles; each automatic collection would rescan the whole heap, so the cost grew
    faster than the estate (issue 8). Reference counting still frees everything.

    Re-enabling alone is not enough (issue 18): the allocation count kept growing while paused,
    so the first allocation after the block ran a young collection over everything the block
    built (millions of objects at G=2,000), which then went on to the older generations and
    was scanned again: 0.8-1.4 s per run. When the block allocated more than `FREEZE_AFTER`
    objects, its exit moves every tracked object to the permanent generation instead
    (`gc.freeze`, constant time, and it resets the young count): those values live for the
    run, reference counting still frees them, and only cyclic garbage made before the exit is
    left uncollected (these blocks make none).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # The count is allocations minus deallocations: a block that also freed much (a
            # configuration releasing its records) can end with a low count over a large young
            # generation, so that is counted when the count alone does not decide.
            if gc.get_count()[0] > FREEZE_AFTER or len(gc.get_objects(0)) > FREEZE_AFTER:
                gc.freeze()
            gc.enable()
