"""Calling the cloud with jittered exponential backoff on the codes DESIGN §6 names retryable.

The SDK's own retryer is not used (reference §6.7: it re-sends writes and raises stale errors).
Sleep and randomness are passed in so tests run without waiting.

A write is never re-sent after an ambiguous failure (InternalError, lost connection, timeout,
garbled answer: base.AMBIGUOUS_CODES) until `settled` has looked at the cloud and found that it
did not take effect; a write without a `settled` is not re-sent at all (issue 12 §3).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from sgplan.cloud.base import AMBIGUOUS_CODES, RETRYABLE_CODES, ApiClient, CloudError, is_read, unsettled

MAX_ATTEMPTS = 6
BASE_DELAY = 0.5  # seconds before the first retry (before jitter)
MAX_DELAY = 20.0

Settled = Callable[[CloudError], "dict[str, Any] | None"]


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
    settled: Settled | None = None,
) -> dict[str, Any]:
    """`client.call` with retries; raises the last CloudError when attempts run out.

    After an ambiguous failure of a write, `settled(error)` looks at the cloud (after the backoff
    pause) and returns a response to treat the call as done (it already happened), or None when
    it did not happen — only then is the write sent again. It may also raise (a conflict, or a
    read that failed: the outcome stays unknown and the write is not repeated).

    A client with `handles_retries` has already re-sent what is safe to re-send (reads, refused
    calls), so here only its ambiguous writes are settled and repeated.
    """
    own_retries = bool(getattr(client, "handles_retries", False))
    write = not is_read(action)
    attempt = 0
    while True:
        counters.calls += 1
        try:
            return client.call(service, action, params)
        except CloudError as exc:
            attempt += 1
            if write and exc.code in AMBIGUOUS_CODES:
                if settled is None:
                    raise unsettled(exc, action) from None
                counters.retries += 1
                sleep(backoff(attempt, rng))
                done = settled(exc)
                if done is not None:
                    return done
                if attempt >= MAX_ATTEMPTS:
                    raise  # settled: it did not happen, and attempts ran out
                continue
            if own_retries or exc.code not in RETRYABLE_CODES or attempt >= MAX_ATTEMPTS:
                raise
            counters.retries += 1
            sleep(backoff(attempt, rng))
