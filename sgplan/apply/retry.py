"""Calling the cloud with jittered exponential backoff on the codes DESIGN §6 names retryable.

The SDK's own retryer is not used (reference §6.7: it re-sends writes and raises stale errors).
Sleep and randomness are passed in so tests run without waiting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from sgplan.cloud.base import RETRYABLE_CODES, ApiClient, CloudError

MAX_ATTEMPTS = 6
BASE_DELAY = 0.5  # seconds before the first retry (before jitter)
MAX_DELAY = 20.0

# Failures after which a write may or may not have happened: the request may have reached the
# service before the connection dropped or the server failed (throttling codes mean "not done").
AMBIGUOUS_CODES = frozenset({"ClientNetworkError", "ServerNetworkError", "InternalError"})


@dataclass
class Counters:
    calls: int = 0
    retries: int = 0


def backoff(attempt: int, rng: random.Random) -> float:
    """Delay before retry number `attempt` (1-based): half fixed, half random ("equal jitter")."""
    delay = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


def call_with_retry(
    client: ApiClient,
    service: str,
    action: str,
    params: dict[str, Any],
    *,
    sleep: Callable[[float], None],
    rng: random.Random,
    counters: Counters,
    settled: Callable[[CloudError], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """`client.call` with retries; raises the last CloudError when attempts run out.

    Before retrying after an ambiguous failure, `settled(error)` may look at the cloud and
    return a response to treat the call as done (it already happened), or None to retry.
    """
    attempt = 0
    while True:
        counters.calls += 1
        try:
            return client.call(service, action, params)
        except CloudError as exc:
            attempt += 1
            if exc.code not in RETRYABLE_CODES or attempt >= MAX_ATTEMPTS:
                raise
            counters.retries += 1
            sleep(backoff(attempt, rng))
            if settled is not None and exc.code in AMBIGUOUS_CODES:
                done = settled(exc)
                if done is not None:
                    return done
