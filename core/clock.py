"""Time in one place: stored in UTC, injectable in tests through ``now=`` parameters."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Read a stored datetime as UTC (SQLite hands naive values back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def from_millis(ms: int) -> datetime:
    """A LINE webhook timestamp (milliseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
