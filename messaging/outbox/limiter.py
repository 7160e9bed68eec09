"""Rate limits per channel and endpoint, shared by every worker that sends for a channel.

Both limiters are GCRA with reservations: each caller reserves the next free slot of the key
and sleeps until it, so requests leave evenly spaced at the rate, without bursts and without
callers spinning on refusals. With a Redis broker the slots live in Redis (one Lua script, on
Redis's own clock), so all processes share them; embedded, they live in the process.

At high rates a process takes its Redis slots a few milliseconds' worth at a time (10 at
LINE's 2,000 pushes/s) and hands them to its threads in order: one round trip per block, not
per request, which was a seventh of a push's CPU. A slot not used within 20 ms of its time is
dropped rather than sent late: the late ones a second can hold stay inside the 3 % headroom.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import redis

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
redis.call('SET', KEYS[1], tostring(tat + count * interval), 'PX', ttl_ms)
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


# A process reserves this many seconds of a key's slots per round trip to Redis (at least one
# slot), and drops reserved slots it has not used this long after their time.
BLOCK_SECONDS = 0.005
STALE_SECONDS = 0.02


class RedisLimiter:
    """Slots kept in Redis, shared by every worker process on every machine."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "tsunagu:rate:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._script = client.register_script(_RESERVE)
        self._prefix = prefix
        self._clock = clock
        self._slots: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, rate: float) -> float:
        with self._lock:
            now = self._clock()
            slots = self._slots.setdefault(key, deque())
            while slots and slots[0] < now - STALE_SECONDS:
                slots.popleft()
            if not slots:
                count = max(1, int(rate * BLOCK_SECONDS))
                interval_us = max(1, round(1_000_000 / rate))
                wait_us = int(self._script(keys=[self._prefix + key], args=[interval_us, count]))
                # Redis counted the wait from its own now: from the answer, not from the ask.
                now = self._clock()
                first = now + wait_us / 1_000_000
                slots.extend(first + n * interval_us / 1_000_000 for n in range(count))
            return max(0.0, slots.popleft() - now)


@lru_cache(maxsize=8)
def limiter_for(redis_url: str | None) -> RateLimiter:
    """The process's limiter: Redis-backed for a ``redis://`` URL, else in-process."""
    if redis_url and redis_url.startswith(("redis://", "rediss://")):
        return RedisLimiter(redis.Redis.from_url(redis_url, socket_timeout=5))
    return LocalLimiter()
