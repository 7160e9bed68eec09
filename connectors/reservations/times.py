"""Reading the times reservation systems send: ISO-8601, with or without a zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.errors import SkippableRecord


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; a record naming an unknown zone cannot be placed in time."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SkippableRecord(f"unknown time zone {name!r}") from exc


def parse_time(value: object, *, default_zone: str, field: str) -> datetime:
    """An aware UTC datetime. Zone-less local times (common in Japanese systems) are read in
    ``default_zone``; unix seconds are accepted too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if not isinstance(value, str) or not value.strip():
        raise SkippableRecord(f"{field}: expected an ISO-8601 time, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SkippableRecord(f"{field}: {value!r} is not an ISO-8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(default_zone))
    return parsed.astimezone(UTC)


def optional_time(value: object, *, default_zone: str, field: str) -> datetime | None:
    """Like :func:`parse_time`, but None for a missing value."""
    if value is None or value == "":
        return None
    return parse_time(value, default_zone=default_zone, field=field)
