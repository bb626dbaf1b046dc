"""Token buckets, backoff and the parallel map that pace sgplan's calls to the Tencent API."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgplan.cloud.ratelimit import (
    DEFAULT_RATE_LIMITS,
    UNKNOWN_ACTION_RATE,
    RateLimiter,
    TokenBucket,
    backoff_delay,
    map_parallel,
)


class FakeTime:
    """A clock that only moves when slept on (or told to)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_bucket_allows_a_burst_then_paces() -> None:
    t = FakeTime()
    bucket = TokenBucket(10, clock=t.clock, sleep=t.sleep)
    waits = [bucket.acquire() for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.1)
    assert t.now == pytest.approx(0.2)  # the 12th token is due two tenths after the burst


def test_bucket_refills_while_idle_but_not_beyond_burst() -> None:
    t = FakeTime()
    bucket = TokenBucket(5, burst=2, clock=t.clock, sleep=t.sleep)
    assert [bucket.acquire(), bucket.acquire()] == [0.0, 0.0]
    t.now += 100
    assert [bucket.acquire(), bucket.acquire()] == [0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.2)


def test_try_acquire_never_waits() -> None:
    t = FakeTime()
    bucket = TokenBucket(2, clock=t.clock, sleep=t.sleep)
    assert [bucket.try_acquire() for _ in range(3)] == [True, True, False]
    t.now += 0.5
    assert bucket.try_acquire() is True
    assert t.now == 0.5


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(min_value=0.5, max_value=200), gaps=st.lists(st.floats(min_value=0, max_value=0.5), max_size=60))
def test_bucket_never_exceeds_its_rate(rate: float, gaps: list[float]) -> None:
    # Whatever the arrival pattern, by time T at most burst + rate*T tokens have been handed out.
    t = FakeTime()
    bucket = TokenBucket(rate, clock=t.clock, sleep=t.sleep)
    for n, gap in enumerate(gaps, start=1):
        t.now += gap
        bucket.acquire()
        assert n <= bucket.burst + rate * t.now + 1e-6


def test_bucket_is_thread_safe() -> None:
    # A frozen clock: every acquire reserves the next free slot, so 200 acquires from 8 threads
    # at 50/s with a burst of 50 must get exactly the waits 0 (×50), 1/50, 2/50, … 150/50.
    waits: list[float] = []
    bucket = TokenBucket(50, clock=lambda: 0.0, sleep=lambda s: None)
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            w = bucket.acquire()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    expected = [0.0] * 50 + [k / 50 for k in range(1, 151)]
    assert sorted(waits) == pytest.approx(expected)


def test_rate_limiter_uses_the_documented_limits() -> None:
    limiter = RateLimiter()
    assert limiter.bucket("DescribeSecurityGroupPolicies").rate == 100
    assert limiter.bucket("ReplaceSecurityGroupPolicies").rate == 20
    assert limiter.bucket("DescribeSecurityGroupLimits").rate == 20
    assert limiter.bucket("ModifyInstancesAttribute").rate == 10
    assert limiter.bucket("AssociateSecurityGroups").rate == 10
    assert limiter.bucket("DescribeInstances").rate == 40
    assert limiter.bucket("SomethingNew").rate == UNKNOWN_ACTION_RATE == 20
    assert limiter.bucket("DescribeInstances") is limiter.bucket("DescribeInstances")
    assert set(DEFAULT_RATE_LIMITS) >= {"CreateSecurityGroup", "DeleteSecurityGroupPolicies"}


def test_rate_limiter_overrides() -> None:
    limiter = RateLimiter({"DescribeInstances": 5, "*": 7})
    assert limiter.bucket("DescribeInstances").rate == 5
    assert limiter.bucket("Unlisted").rate == 7
    assert limiter.bucket("CreateSecurityGroup").rate == 100


@settings(max_examples=100)
@given(attempt=st.integers(min_value=1, max_value=40), seed=st.integers())
def test_backoff_is_jittered_exponential_and_capped(attempt: int, seed: int) -> None:
    delay = backoff_delay(attempt, random.Random(seed), base=0.2, cap=8.0)
    step = min(8.0, 0.2 * 2 ** (attempt - 1))
    assert step / 2 <= delay <= step
    assert delay <= 8.0


def test_backoff_varies_between_clients() -> None:
    rng = random.Random(1)
    assert len({round(backoff_delay(3, rng), 6) for _ in range(20)}) > 10


def test_map_parallel_keeps_order_and_runs_concurrently() -> None:
    started = time.monotonic()
    out = map_parallel(lambda x: (time.sleep(0.05), x * x)[1], range(16), parallelism=8)
    assert out == [x * x for x in range(16)]
    assert time.monotonic() - started < 0.5  # 16 × 50 ms one at a time would be 0.8 s


def test_map_parallel_raises_the_first_error() -> None:
    def boom(x: int) -> int:
        if x == 3:
            raise KeyError(x)
        return x

    with pytest.raises(KeyError):
        map_parallel(boom, range(10), parallelism=4)
    assert map_parallel(boom, [1, 2], parallelism=1) == [1, 2]
    assert map_parallel(boom, [], parallelism=4) == []
