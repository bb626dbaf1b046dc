"""`--cloud file:PATH`: the fake engine running in-process on a state file (DESIGN §4).

The file is created (empty state) when missing and written back atomically by `close()` only
when a call changed something.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from sgplan.cloud.snapshot import empty_state, invalid_state, read_state_file, write_state
from sgplan.collector import gc_paused
from sgplan.fakecloud.engine import Engine


class FileCloud:
    """An ApiClient over `Engine` whose state lives in a JSON file."""

    def __init__(
        self,
        path: Path | str,
        region: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        bind_delay: float = 0.0,
        rng_seed: int | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            write_state(self.path, empty_state(region or ""))
        # The file's JSON goes to the engine as read: the engine normalises it (once) into its
        # own structures, and nothing here keeps the raw dict (issue 8: it was normalised twice).
        # Parsing and normalising build a value per group and rule, and no cycles (see gc_paused).
        with gc_paused():
            raw = read_state_file(self.path)
            if region and isinstance(raw, dict) and not raw.get("Region"):
                raw["Region"] = region
            try:
                self.engine = Engine(raw, clock=clock, bind_delay=bind_delay, rng_seed=rng_seed)
            except ValueError as exc:
                raise invalid_state(self.path, exc) from None
            del raw
        self.region: str = region or self.engine.region
        self.calls = 0
        self.retries = 0  # nothing to retry in-process; kept for the ApiClient protocol

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one action on the engine; CloudError propagates as the API would raise it."""
        self.calls += 1
        return self.engine.handle(service, action, params)

    def close(self) -> None:
        """Write the state back (temp file + os.replace) if any call changed it."""
        if self.engine.changed:
            write_state(self.path, self.engine.state)
            self.engine.changed = False

    def __enter__(self) -> "FileCloud":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
