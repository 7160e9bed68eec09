"""Platform limits kept per channel: rate limits, retry keys, and injected failures."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sandbox.line.errors import LineApiError

RETRY_KEY_TTL_SECONDS = 24 * 3600

# LINE's documented limits, per channel and endpoint (operationId): (requests, window seconds).
DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {
    "multicast": (200, 1.0),
    "narrowcast": (60, 3600.0),
    "broadcast": (60, 3600.0),
    "createRichMenu": (100, 3600.0),
    "deleteRichMenu": (100, 3600.0),
    "richMenuBatch": (3, 3600.0),
}
DEFAULT_RATE_LIMIT: tuple[int, float] = (2000, 1.0)

_FAILURE_MESSAGES = {
    429: "Too Many Requests",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class RateLimiter:
    """Sliding-window request counter per (channel, endpoint); not thread-safe on its own."""

    def __init__(self) -> None:
        self._limits: dict[str, tuple[int, float]] = dict(DEFAULT_RATE_LIMITS)
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def set_limit(self, endpoint: str, limit: int, per_seconds: float) -> None:
        """Override the limit of one endpoint (an operationId such as ``pushMessage``)."""
        self._limits[endpoint] = (limit, per_seconds)
        self._hits.clear()

    def hit(self, channel_id: str, endpoint: str, now: float) -> None:
        """Count one request, raising LINE's 429 when the window is already full."""
        limit, window = self._limits.get(endpoint, DEFAULT_RATE_LIMIT)
        hits = self._hits[(channel_id, endpoint)]
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            raise LineApiError(429, "Too Many Requests")
        hits.append(now)


@dataclass(frozen=True, slots=True)
class Admission:
    """How an admitted API call is answered: this many seconds late, or lost (500)."""

    delay: float
    lose_answer: bool


class FailureInjector:
    """Queued failures per endpoint: statuses the next calls answer, delays before answering,
    or answers lost after the call was carried out."""

    def __init__(self) -> None:
        self._queued: dict[str, deque[int]] = defaultdict(deque)
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._lost: dict[str, int] = defaultdict(int)
        self._down_until: dict[str, float] = {}

    def inject(self, endpoint: str, statuses: list[int]) -> None:
        """Make the next ``len(statuses)`` calls of ``endpoint`` answer these statuses."""
        self._queued[endpoint].extend(statuses)

    def delay(self, endpoint: str, seconds: float, times: int) -> None:
        """Make the next ``times`` calls of ``endpoint`` succeed but answer ``seconds`` late."""
        self._delays[endpoint].extend([seconds] * times)

    def take_delay(self, endpoint: str) -> float:
        """Return how long to hold the answer of this call (0 when nothing is queued)."""
        delays = self._delays.get(endpoint)
        return delays.popleft() if delays else 0.0

    def lose(self, endpoint: str, times: int) -> None:
        """Make the next ``times`` calls of ``endpoint`` take effect but answer 500."""
        self._lost[endpoint] += times

    def take_lost(self, endpoint: str) -> bool:
        """Whether this call's answer is to be lost (one queued loss is used up)."""
        if self._lost.get(endpoint, 0) <= 0:
            return False
        self._lost[endpoint] -= 1
        return True

    def outage(self, endpoint: str, until: float) -> None:
        """Make every call of ``endpoint`` answer 503 until the clock reaches ``until``."""
        self._down_until[endpoint] = until

    def check_outage(self, endpoint: str, now: float) -> None:
        """Raise LINE's 503 while ``endpoint`` is in an outage."""
        if now < self._down_until.get(endpoint, 0.0):
            raise LineApiError(503, _FAILURE_MESSAGES[503])

    def take(self, endpoint: str) -> None:
        """Raise the next injected failure for ``endpoint``, if one is queued."""
        queued = self._queued.get(endpoint)
        if queued:
            status = queued.popleft()
            raise LineApiError(status, _FAILURE_MESSAGES.get(status, "Injected failure"))


@dataclass
class AcceptedRequest:
    """A request accepted under a retry key: what a repeat of it is answered with."""

    request_id: str
    accepted_at: float
    sent_messages: list[dict[str, Any]] = field(default_factory=list)


class RetryKeyStore:
    """Retry keys accepted per channel within the last 24 hours."""

    def __init__(self) -> None:
        self._accepted: dict[tuple[str, str], AcceptedRequest] = {}

    def check(self, channel_id: str, retry_key: str, now: float) -> None:
        """Raise LINE's 409 when ``retry_key`` was accepted for this channel within 24 hours."""
        accepted = self._accepted.get((channel_id, retry_key.lower()))
        if accepted is None or accepted.accepted_at <= now - RETRY_KEY_TTL_SECONDS:
            return
        extra = {"sentMessages": accepted.sent_messages} if accepted.sent_messages else {}
        raise LineApiError(
            409,
            "The retry key is already accepted",
            headers={"x-line-accepted-request-id": accepted.request_id},
            extra=extra,
        )

    def accept(
        self,
        channel_id: str,
        retry_key: str,
        request_id: str,
        now: float,
        sent_messages: list[dict[str, Any]],
    ) -> None:
        """Remember a successful request so a repeat of its key gets 409."""
        self._accepted[(channel_id, retry_key.lower())] = AcceptedRequest(
            request_id=request_id, accepted_at=now, sent_messages=sent_messages
        )
