"""Rate limits per channel and endpoint, shared by every worker that sends for a channel.

Both limiters are GCRA with reservations: each caller reserves the next free slot of the key
and sleeps until it, so requests leave evenly spaced at the rate, without bursts and without
callers spinning on refusals. With a Redis broker the slots live in Redis (one Lua script, on
Redis's own clock), so all processes share them; embedded, they live in the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import redis

# LINE's documented limits, per channel and endpoint, in requests per second.
LINE_RATE_LIMITS = {"push": 2000.0, "multicast": 200.0, "reply": 2000.0}
# Keep a little under LINE's limit: a request's arrival at LINE jitters around its slot.
HEADROOM = 0.97

_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local ttl_ms = math.ceil((tat + interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', ttl_ms)
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


class RedisLimiter:
    """Slots kept in Redis, shared by every worker process on every machine."""

    def __init__(self, client: redis.Redis, *, prefix: str = "tsunagu:rate:") -> None:
        self._client = client
        self._script = client.register_script(_RESERVE)
        self._prefix = prefix

    def reserve(self, key: str, rate: float) -> float:
        interval_us = max(1, round(1_000_000 / rate))
        wait_us = int(self._script(keys=[self._prefix + key], args=[interval_us]))
        return wait_us / 1_000_000


@lru_cache(maxsize=8)
def limiter_for(redis_url: str | None) -> RateLimiter:
    """The process's limiter: Redis-backed for a ``redis://`` URL, else in-process."""
    if redis_url and redis_url.startswith(("redis://", "rediss://")):
        return RedisLimiter(redis.Redis.from_url(redis_url, socket_timeout=5))
    return LocalLimiter()
