"""The rate limiter: requests leave evenly spaced at the rate, shared by all who send."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator

import pytest
import redis

from messaging.outbox.limiter import HEADROOM, LocalLimiter, RedisLimiter, acquire
from tests.conftest import skip_or_fail

REDIS_URL = os.environ.get("TSUNAGU_TEST_BROKER_URL", "")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_requests_over_the_rate_wait_for_their_slot_in_order() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)

    waits = [limiter.reserve("123:multicast", 200.0) for _ in range(5)]

    assert waits == pytest.approx([0.0, 0.005, 0.010, 0.015, 0.020])
    assert limiter.reserve("123:push", 2000.0) == 0.0  # another endpoint has its own slots


def test_no_window_of_one_second_holds_more_than_lines_limit() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(clock)
    sent = []
    for _ in range(1000):
        acquire(limiter, "123:multicast", 200.0, sleep=clock.sleep)
        sent.append(clock.now)

    busiest = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert 190 <= busiest <= 200
    assert HEADROOM < 1


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    if not REDIS_URL.startswith("redis"):
        skip_or_fail("the shared limiter needs Redis: set TSUNAGU_TEST_BROKER_URL")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        skip_or_fail(f"no Redis at {REDIS_URL}")
    client.delete("tsunagu:rate:test:multicast")
    yield client
    client.delete("tsunagu:rate:test:multicast")
    client.close()


def test_two_workers_share_one_channels_slots_through_redis(redis_client: redis.Redis) -> None:
    first, second = RedisLimiter(redis_client), RedisLimiter(redis.Redis.from_url(REDIS_URL))

    slots = [
        time.monotonic() + w.reserve("test:multicast", 10.0) for w in (first, second, first, second)
    ]

    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert gaps == pytest.approx([0.1, 0.1, 0.1], abs=0.05)


def slot_of(limiter: RedisLimiter, rate: float) -> float:
    wait = limiter.reserve("test:multicast", rate)
    return time.monotonic() + wait


def test_a_worker_takes_its_redis_slots_a_few_milliseconds_at_a_time(
    redis_client: redis.Redis,
) -> None:
    first, second = RedisLimiter(redis_client), RedisLimiter(redis.Redis.from_url(REDIS_URL))

    firsts = [slot_of(first, 2000.0)]
    after = slot_of(second, 2000.0)
    firsts += [slot_of(first, 2000.0) for _ in range(9)]

    # The first worker's ten slots are one block, in order: the second worker's comes after.
    gaps = [later - earlier for earlier, later in itertools.pairwise([*firsts, after])]
    assert gaps == pytest.approx([0.0005] * 10, abs=0.002)
    assert after - firsts[0] >= 0.004


def test_a_slot_left_unused_is_dropped_instead_of_sent_late(redis_client: redis.Redis) -> None:
    clock = FakeClock()
    slow = RedisLimiter(redis_client, clock=clock)
    other = RedisLimiter(redis.Redis.from_url(REDIS_URL))
    slow.reserve("test:multicast", 2000.0)  # a block of ten slots; nine left unused
    clock.sleep(0.03)
    other.reserve("test:multicast", 20.0)  # meanwhile another worker takes the next 50 ms

    wait = slow.reserve("test:multicast", 2000.0)

    assert wait > 0.02  # a fresh slot after the other worker's, not a stale one at once
