"""Rate limits per channel and endpoint, shared by every worker that sends for a channel.

Every limiter is GCRA with reservations: each caller reserves the next free slot of the key
and sleeps until it, so requests leave evenly spaced at the rate, without bursts and without
callers spinning on refusals. With a Redis broker the slots live in Redis (one Lua script, on
Redis's own clock); on PostgreSQL without Redis (an AMQP broker, say) they live in the
``rate_slots`` table (one ``INSERT … ON CONFLICT … RETURNING``, on the server's clock), so all
processes share them; embedded (SQLite, one process), they live in the process. Any other
combination has no shared store, and a worker refuses to start on it.

At high rates a process takes its shared slots a few milliseconds' worth at a time (10 at
LINE's 2,000 pushes/s) and hands them to its threads in order: one round trip per block, not
per request, which was a seventh of a push's CPU. A slot not used within 20 ms of its time is
dropped rather than sent late: the late ones a second can hold stay inside the 3 % headroom.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import make_engine
from core.errors import ConfigurationError
from messaging.outbox.models import Endpoint

# LINE's documented limits, per channel and endpoint, in requests per second.
LINE_RATE_LIMITS: dict[str, float] = {
    Endpoint.PUSH: 2000.0,
    Endpoint.MULTICAST: 200.0,
    Endpoint.REPLY: 2000.0,
}
# Keep a little under LINE's limit: a request's arrival at LINE jitters around its slot.
HEADROOM = 0.97

_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local count = tonumber(ARGV[2] or '1')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local ttl_ms = math.ceil((tat + count * interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', tat + count * interval), 'PX', ttl_ms)
return tat - now
"""


class RateLimiter(Protocol):
    def reserve(self, key: str, rate: float) -> float:
        """Reserve the next slot of ``key`` at ``rate``/s; return the seconds to wait for it."""
        ...


def acquire(
    limiter: RateLimiter, key: str, rate: float, *, sleep: Callable[[float], None] = time.sleep
) -> float:
    """Block until the caller's slot of ``key``; return how long it waited."""
    wait = limiter.reserve(key, rate * HEADROOM)
    if wait > 0:
        sleep(wait)
    return wait


class LocalLimiter:
    """Slots kept in this process: enough when one process sends (the embedded runtime)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._theoretical_arrival: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, rate: float) -> float:
        with self._lock:
            now = self._clock()
            slot = max(self._theoretical_arrival.get(key, now), now)
            self._theoretical_arrival[key] = slot + 1.0 / rate
            return slot - now


# A process reserves this many seconds of a key's slots per round trip to the shared store (at
# least one slot), and drops reserved slots it has not used this long after their time.
BLOCK_SECONDS = 0.005
STALE_SECONDS = 0.02


class BlockLimiter(ABC):
    """Slots kept in a store every worker shares, taken a block per round trip.

    Subclasses differ only in how they reserve a block: :meth:`_reserve_block` takes ``count``
    consecutive slots ``interval_us`` apart and answers how long until the first, on the store's
    own clock (so the workers' clocks need not agree).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._slots: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def _reserve_block(self, key: str, interval_us: int, count: int) -> int:
        """Reserve ``count`` slots of ``key``; return the µs until the first of them."""

    def reserve(self, key: str, rate: float) -> float:
        with self._lock:
            now = self._clock()
            slots = self._slots.setdefault(key, deque())
            while slots and slots[0] < now - STALE_SECONDS:
                slots.popleft()
            if not slots:
                count = max(1, int(rate * BLOCK_SECONDS))
                interval_us = max(1, round(1_000_000 / rate))
                wait_us = self._reserve_block(key, interval_us, count)
                # The store counted the wait from its own now: from the answer, not from the ask.
                now = self._clock()
                first = now + wait_us / 1_000_000
                slots.extend(first + n * interval_us / 1_000_000 for n in range(count))
            return max(0.0, slots.popleft() - now)


class RedisLimiter(BlockLimiter):
    """Slots kept in Redis, shared by every worker process on every machine."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "tsunagu:rate:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        self._script = client.register_script(_RESERVE)
        self._prefix = prefix

    def _reserve_block(self, key: str, interval_us: int, count: int) -> int:
        return int(self._script(keys=[self._prefix + key], args=[interval_us, count]))


# One statement, on the server's clock: the key's next slot moves on by the block, from now if
# it lay in the past; the answer is how long until the block's first slot.
_RESERVE_SQL = text(
    """
    WITH clock AS (
        SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us
    )
    INSERT INTO rate_slots AS slots (key, next_slot_us)
    SELECT :key, clock.now_us + :span_us FROM clock
    ON CONFLICT (key) DO UPDATE
    SET next_slot_us = GREATEST(slots.next_slot_us, excluded.next_slot_us - :span_us) + :span_us
    RETURNING slots.next_slot_us - :span_us - (SELECT now_us FROM clock)
    """
)


class PostgresLimiter(BlockLimiter):
    """Slots kept in PostgreSQL's ``rate_slots`` table: shared by every worker without Redis.

    It has its own connection, in autocommit: a reservation is one statement, never part of (or
    waiting for) a transaction of the dispatcher's.
    """

    def __init__(self, database_url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        # No ping per checkout (it would double the round trips): a connection found broken is
        # replaced and the reservation tried once more instead.
        self._engine = make_engine(
            database_url,
            pool_size=1,
            max_overflow=0,
            pool_pre_ping=False,
            isolation_level="AUTOCOMMIT",
        )

    def _reserve_block(self, key: str, interval_us: int, count: int) -> int:
        parameters = {"key": key, "span_us": interval_us * count}
        try:
            return self._execute(parameters)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return self._execute(parameters)

    def _execute(self, parameters: dict[str, object]) -> int:
        with self._engine.connect() as connection:
            return int(connection.execute(_RESERVE_SQL, parameters).scalar_one())

    def close(self) -> None:
        self._engine.dispose()


def limiter_kind(broker_url: str | None, database_url: str) -> str:
    """Where the slots are kept for this configuration: ``redis``, ``postgresql`` or ``local``.

    Raises :class:`ConfigurationError` when no store is shared by the processes that may send.
    """
    if broker_url and broker_url.startswith(("redis://", "rediss://")):
        return "redis"
    if database_url.startswith("postgresql"):
        return "postgresql"
    if not broker_url and database_url.startswith("sqlite"):
        return "local"  # the embedded runtime: one process sends
    raise ConfigurationError(
        f"no rate limiter shared by the workers of broker {_scheme(broker_url)} and database "
        f"{_scheme(database_url)}: separate workers keep LINE's per-channel limits through "
        "Redis or PostgreSQL. Set TSUNAGU_BROKER_URL to redis://… or TSUNAGU_DATABASE_URL to "
        "postgresql+psycopg://…, or run `tsunagu serve` embedded (no broker)."
    )


def _scheme(url: str | None) -> str:
    return f"{url.split(':', 1)[0]}://…" if url else "(none)"


@lru_cache(maxsize=8)
def limiter_for(broker_url: str | None, database_url: str) -> RateLimiter:
    """The process's limiter: in Redis for a Redis broker, else in PostgreSQL, else in-process."""
    kind = limiter_kind(broker_url, database_url)
    if kind == "redis":
        return RedisLimiter(redis.Redis.from_url(str(broker_url), socket_timeout=5))
    if kind == "postgresql":
        return PostgresLimiter(database_url)
    return LocalLimiter()
