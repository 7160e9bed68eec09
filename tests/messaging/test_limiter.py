"""The rate limiter: requests leave evenly spaced at the rate, shared by all who send."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import text

from core.db import Database
from core.errors import ConfigurationError
from messaging.outbox.limiter import (
    HEADROOM,
    BlockLimiter,
    LocalLimiter,
    PostgresLimiter,
    RedisLimiter,
    acquire,
    limiter_for,
)
from tests.cli_runner import Cli
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
    other_client = redis.Redis.from_url(REDIS_URL)
    other_client.ping()  # connected, as a running worker is: a connect takes milliseconds
    first, second = RedisLimiter(redis_client), RedisLimiter(other_client)

    slots = [
        time.monotonic() + w.reserve("test:multicast", 10.0) for w in (first, second, first, second)
    ]

    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert gaps == pytest.approx([0.1, 0.1, 0.1], abs=0.05)


def slot_of(limiter: BlockLimiter, rate: float) -> float:
    wait = limiter.reserve("test:multicast", rate)
    return time.monotonic() + wait


def stored_next_slot(client: redis.Redis) -> int:
    value = client.get("tsunagu:rate:test:multicast")
    assert isinstance(value, bytes), value
    return int(value)


class CountingRedisLimiter(RedisLimiter):
    round_trips = 0

    def _reserve_block(self, key: str, interval_us: int, count: int) -> int:
        self.round_trips += 1
        return super()._reserve_block(key, interval_us, count)


def test_a_worker_takes_its_redis_slots_a_few_milliseconds_at_a_time(
    redis_client: redis.Redis,
) -> None:
    # The first worker's clock moves only as it waits: a loaded machine's pauses cannot make
    # its slots stale (dropped, and a new block reserved) in the middle of the test.
    clock = FakeClock()
    first = CountingRedisLimiter(redis_client, clock=clock)
    second = RedisLimiter(redis.Redis.from_url(REDIS_URL))

    waits = [acquire(first, "test:multicast", 2000.0 / HEADROOM, sleep=clock.sleep)]
    end_of_first_block = stored_next_slot(redis_client)
    second.reserve("test:multicast", 2000.0)
    waits += [
        acquire(first, "test:multicast", 2000.0 / HEADROOM, sleep=clock.sleep) for _ in range(9)
    ]

    # The first worker's ten slots are one block, in order: the second worker's come after it.
    assert first.round_trips == 1
    assert waits[1:] == pytest.approx([0.0005] * 9)
    assert stored_next_slot(redis_client) >= end_of_first_block + 10 * 500


def test_a_slot_left_unused_is_dropped_instead_of_sent_late(redis_client: redis.Redis) -> None:
    clock = FakeClock()
    slow = RedisLimiter(redis_client, clock=clock)
    other = RedisLimiter(redis.Redis.from_url(REDIS_URL))
    slow.reserve("test:multicast", 2000.0)  # a block of ten slots; nine left unused
    clock.sleep(0.03)
    other.reserve("test:multicast", 20.0)  # meanwhile another worker takes the next 50 ms

    wait = slow.reserve("test:multicast", 2000.0)

    assert wait > 0.02  # a fresh slot after the other worker's, not a stale one at once


@pytest.fixture
def postgres_url(db: Database) -> Iterator[str]:
    """The test database, when it is PostgreSQL, its test key's slots forgotten."""
    if db.is_sqlite:
        skip_or_fail("the limiter in PostgreSQL needs it: set TSUNAGU_TEST_DATABASE_URL")
    yield db.url
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM rate_slots WHERE key LIKE 'test:%'"))


def connected(*limiters: PostgresLimiter) -> None:
    """Open each limiter's connection, as a running worker has: a connect takes milliseconds."""
    for limiter in limiters:
        limiter.reserve("test:push", 2000.0)


def test_two_workers_share_one_channels_slots_through_postgresql(postgres_url: str) -> None:
    first, second = PostgresLimiter(postgres_url), PostgresLimiter(postgres_url)
    connected(first, second)

    slots = [
        time.monotonic() + w.reserve("test:multicast", 10.0) for w in (first, second, first, second)
    ]

    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert gaps == pytest.approx([0.1, 0.1, 0.1], abs=0.05)
    first.close()
    second.close()


class CountingLimiter(PostgresLimiter):
    round_trips = 0

    def _reserve_block(self, key: str, interval_us: int, count: int) -> int:
        self.round_trips += 1
        return super()._reserve_block(key, interval_us, count)


def next_slot_us(database: Database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(
            text("SELECT next_slot_us FROM rate_slots WHERE key = 'test:multicast'")
        ).scalar_one()


def test_a_worker_takes_its_postgresql_slots_a_few_milliseconds_at_a_time(
    postgres_url: str, db: Database
) -> None:
    clock = FakeClock()  # as for Redis: no stale slots from the machine's pauses
    first, second = CountingLimiter(postgres_url, clock=clock), PostgresLimiter(postgres_url)
    connected(first, second)
    first.round_trips = 0

    waits = [acquire(first, "test:multicast", 2000.0 / HEADROOM, sleep=clock.sleep)]
    end_of_first_block = next_slot_us(db)
    second.reserve("test:multicast", 2000.0)
    waits += [
        acquire(first, "test:multicast", 2000.0 / HEADROOM, sleep=clock.sleep) for _ in range(9)
    ]

    # The first worker's ten slots are one block, in order: the second worker's come after it.
    assert first.round_trips == 1
    assert waits[1:] == pytest.approx([0.0005] * 9)
    assert next_slot_us(db) >= end_of_first_block + 10 * 500
    first.close()
    second.close()


def test_a_postgresql_slot_left_unused_is_dropped_instead_of_sent_late(
    postgres_url: str,
) -> None:
    clock = FakeClock()
    slow = PostgresLimiter(postgres_url, clock=clock)
    other = PostgresLimiter(postgres_url)
    connected(slow, other)
    slow.reserve("test:multicast", 2000.0)  # a block of ten slots; nine left unused
    clock.sleep(0.03)
    other.reserve("test:multicast", 20.0)  # meanwhile another worker takes the next 50 ms

    wait = slow.reserve("test:multicast", 2000.0)

    assert wait > 0.02  # a fresh slot after the other worker's, not a stale one at once
    slow.close()
    other.close()


@pytest.mark.parametrize(
    ("broker_url", "database_url", "kind"),
    [
        ("redis://127.0.0.1:6379/9", "sqlite:///hub.db", RedisLimiter),
        ("redis://127.0.0.1:6379/9", "postgresql+psycopg://hub@db/hub", RedisLimiter),
        ("amqp://guest@mq//", "postgresql+psycopg://hub@db/hub", PostgresLimiter),
        (None, "postgresql+psycopg://hub@db/hub", PostgresLimiter),
        (None, "sqlite:///hub.db", LocalLimiter),
    ],
)
def test_the_limiter_is_shared_wherever_the_workers_can_share_it(
    broker_url: str | None, database_url: str, kind: type
) -> None:
    assert isinstance(limiter_for(broker_url, database_url), kind)


def test_an_amqp_broker_on_sqlite_has_no_shared_limiter() -> None:
    with pytest.raises(ConfigurationError, match="TSUNAGU_BROKER_URL to redis://"):
        limiter_for("amqp://guest@mq//", "sqlite:///hub.db")


def test_a_worker_on_an_amqp_broker_and_sqlite_refuses_to_start(cli: Cli, tmp_path) -> None:
    result = cli(
        "worker",
        extra_env={
            "TSUNAGU_BROKER_URL": "amqp://guest:guest@127.0.0.1:1//",
            "TSUNAGU_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        },
    )

    assert result.exit_code == 1
    assert "no rate limiter shared by the workers" in result.output
    assert "postgresql+psycopg://" in result.output


def test_a_postgresql_limiter_reconnects_when_its_connection_was_lost(
    postgres_url: str, db: Database
) -> None:
    limiter = PostgresLimiter(postgres_url)
    limiter.reserve("test:multicast", 10.0)
    with limiter._engine.connect() as connection:  # its one pooled connection
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with db.engine.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})

    wait = limiter.reserve("test:multicast", 10.0)

    assert 0.05 < wait <= 0.1  # the next slot, from the same table
    limiter.close()
