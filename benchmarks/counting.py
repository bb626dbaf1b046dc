"""An ApiClient wrapper that counts calls per action, for backends that do not count them
(the in-process file cloud); the SDK client's own `.actions` counter is used as is.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sgplan.cloud.base import ApiClient


class CountingClient:
    """Passes every call to `inner` and counts it under its action name."""

    def __init__(self, inner: ApiClient) -> None:
        self.inner = inner
        self.region = inner.region
        self.actions: Counter[str] = Counter()

    @property
    def calls(self) -> int:
        return sum(self.actions.values())

    @property
    def retries(self) -> int:
        return int(getattr(self.inner, "retries", 0))

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.actions[action] += 1
        return self.inner.call(service, action, params)

    def reset(self) -> Counter[str]:
        """The counts so far; counting starts again from zero."""
        seen, self.actions = self.actions, Counter()
        return seen

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
