"""Client-side pacing for the Tencent API: per-action token buckets at the documented limits,
jittered exponential backoff for retries, and a thread-pool `map` for parallel reads.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Mapping, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Documented default per-action limits in requests per second (reference/tencentcloud-sg-api.md
# §2.0, §3, §4). Actions whose limit was not found get UNKNOWN_ACTION_RATE, the lowest VPC limit.
UNKNOWN_ACTION_RATE = 20.0
DEFAULT_RATE_LIMITS: dict[str, float] = {
    "CreateSecurityGroup": 100.0,
    "DescribeSecurityGroups": 100.0,
    "DescribeSecurityGroupPolicies": 100.0,
    "ModifySecurityGroupPolicies": 100.0,
    "CreateSecurityGroupPolicies": 100.0,
    "DeleteSecurityGroupPolicies": 100.0,
    "ReplaceSecurityGroupPolicy": 100.0,
    "DeleteSecurityGroup": 100.0,
    "DescribeSecurityGroupAssociationStatistics": 100.0,
    # The CN page says 50/s, the intl page 100/s: take the lower.
    "ModifySecurityGroupAttribute": 50.0,
    "ReplaceSecurityGroupPolicies": 20.0,
    "DescribeSecurityGroupLimits": 20.0,
    "DescribeSecurityGroupReferences": 20.0,
    "CloneSecurityGroup": 20.0,
    "CreateDefaultSecurityGroup": 20.0,
    # CVM (§3): binding calls are slow and strictly limited.
    "AssociateSecurityGroups": 10.0,
    "DisassociateSecurityGroups": 10.0,
    "ModifyInstancesAttribute": 10.0,
    "DescribeInstances": 40.0,
}


class TokenBucket:
    """A thread-safe token bucket: `rate` tokens a second, at most `burst` saved up.

    `acquire()` reserves a token under the lock (the balance may go negative, which queues
    later callers fairly) and sleeps outside it, so waiting threads never block each other.
    """

    def __init__(self, rate: float, burst: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting as long as needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def try_acquire(self) -> bool:
        """Take one token if one is there now (the server side's throttle check)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class RateLimiter:
    """One token bucket per action, created on first use, at `limits[action]` per second."""

    def __init__(self, limits: Mapping[str, float] | None = None, *,
                 default: float = UNKNOWN_ACTION_RATE,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limits = dict(DEFAULT_RATE_LIMITS)
        self.limits.update(limits or {})
        self.default = float(self.limits.pop("*", default))
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, action: str) -> TokenBucket:
        with self._lock:
            found = self._buckets.get(action)
            if found is None:
                rate = self.limits.get(action, self.default)
                found = TokenBucket(rate, clock=self._clock, sleep=self._sleep)
                self._buckets[action] = found
            return found

    def acquire(self, action: str) -> float:
        return self.bucket(action).acquire()


def backoff_delay(attempt: int, rng: random.Random, *, base: float = 0.2, cap: float = 8.0) -> float:
    """Seconds to wait before retry number `attempt` (1-based): "equal jitter" exponential backoff.

    Half of the exponential step is fixed and half random, so a burst of throttled clients
    spreads out yet none retries at once. The SDK's own backoff has no jitter (API §6.7).
    """
    step = min(cap, base * (2 ** (attempt - 1)))
    return step / 2 + rng.uniform(0, step / 2)


def map_parallel(fn: Callable[[T], R], items: Iterable[T], parallelism: int = 8) -> list[R]:
    """`list(map(fn, items))` on a thread pool, results in input order; the first error raises."""
    items = list(items)
    if parallelism <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(parallelism, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
