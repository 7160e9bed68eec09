"""Inbound events: every webhook event is stored here, committed, then processed from the row.

The unique ``(source, dedup_key)`` makes a redelivered event, or the same request sent twice,
store nothing new. Processing is retried with backoff and never loses the row; an event that
keeps failing stops at ``failed`` with its last error, for staff to see.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import utcnow
from core.db import Base

log = logging.getLogger(__name__)


class EventStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"


class InboundEvent(Base):
    __tablename__ = "inbound_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id"))
    source: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("source", "dedup_key"),
        Index("ix_inbound_events_due", "status", "next_attempt_at"),
    )


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One event of a verified webhook, ready to store."""

    dedup_key: str
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime | None = None


def store_events(
    session: Session,
    *,
    source: str,
    shop_id: int,
    channel_id: int | None = None,
    connection_id: int | None = None,
    events: Sequence[IncomingEvent],
    now: datetime | None = None,
) -> list[int]:
    """Insert the events not stored before; return the ids of the new rows.

    One statement with ``ON CONFLICT DO NOTHING``: concurrent deliveries of the same event race
    safely, and a duplicate is neither an error nor a second row.
    """
    if not events:
        return []
    rows = _rows(source, shop_id, channel_id, connection_id, events, now or utcnow())
    postgres = session.get_bind().dialect.name == "postgresql"
    statement = _INSERT_NEW_POSTGRESQL if postgres else _INSERT_NEW_SQLITE
    return list(session.scalars(statement, rows))


async def store_events_now(
    connection: psycopg.AsyncConnection[Any],
    *,
    source: str,
    shop_id: int,
    channel_id: int | None = None,
    connection_id: int | None = None,
    events: Sequence[IncomingEvent],
    now: datetime | None = None,
) -> list[int]:
    """:func:`store_events` on an autocommit driver connection (PostgreSQL), on the event loop.

    Returns once the rows are committed: a single event is one self-committing INSERT, one
    round trip; several share one transaction. The webhook hot path, where a session and a
    thread hop cost more than the request's own work (README, Performance).
    """
    if not events:
        return []
    rows = _rows(source, shop_id, channel_id, connection_id, events, now or utcnow())
    inserted = []
    async with connection.transaction() if len(rows) > 1 else nullcontext():
        for row in rows:
            cursor = await connection.execute(
                _INSERT_NEW_SQL, row | {"payload": Json(row["payload"])}
            )
            inserted.append(await cursor.fetchone())
    return [row[0] for row in inserted if row is not None]


def _rows(
    source: str,
    shop_id: int,
    channel_id: int | None,
    connection_id: int | None,
    events: Sequence[IncomingEvent],
    now: datetime,
) -> list[dict[str, Any]]:
    return [
        {
            "shop_id": shop_id,
            "channel_id": channel_id,
            "connection_id": connection_id,
            "source": source,
            "dedup_key": e.dedup_key,
            "event_type": e.event_type,
            "payload": e.payload,
            "occurred_at": e.occurred_at,
            "received_at": now,
            "status": EventStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for e in events
    ]


def _insert_new(dialect: Any) -> Any:
    # Built once, with the rows passed as parameters: SQLAlchemy compiles it once and sends all
    # rows in one multi-row INSERT, instead of compiling a statement with the values inlined.
    return (
        dialect.insert(InboundEvent.__table__)
        .on_conflict_do_nothing(index_elements=["source", "dedup_key"])
        .returning(InboundEvent.id)
    )


_INSERT_NEW_POSTGRESQL = _insert_new(postgresql)
_INSERT_NEW_SQLITE = _insert_new(sqlite)
# The same statement as psycopg SQL for store_events_now, compiled from the table so it
# follows the model; the columns are those _rows fills.
_INSERT_NEW_SQL = str(
    _INSERT_NEW_POSTGRESQL.compile(
        dialect=PGDialect_psycopg(),
        column_keys=[
            *("shop_id", "channel_id", "connection_id", "source", "dedup_key", "event_type"),
            *("payload", "occurred_at", "received_at", "status", "attempts", "next_attempt_at"),
        ],
    )
)


Handler = Callable[[Session, InboundEvent], None]


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter: ~2 s, 4 s, 8 s … capped at one hour."""
    base = min(2**attempts, 3600)
    return timedelta(seconds=base * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto


def process_event(
    session: Session,
    event_id: int,
    handler: Handler,
    *,
    max_attempts: int,
    now: datetime | None = None,
) -> str | None:
    """Process one stored event if it is due; record success or the error on its row.

    Returns the event's new status, or None when there was nothing to do (already processed,
    not yet due, or being processed by another worker right now).
    """
    now = now or utcnow()
    event = session.get(InboundEvent, event_id, with_for_update={"skip_locked": True})
    if event is None or event.status != EventStatus.PENDING or event.next_attempt_at > now:
        return None
    try:
        with session.begin_nested():
            handler(session, event)
    except Exception as exc:
        event.attempts += 1
        event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if event.attempts >= max_attempts:
            event.status = EventStatus.FAILED
            log.error(
                "inbound event %s (%s) failed %d times; left for staff",
                event.id,
                event.event_type,
                event.attempts,
                exc_info=True,
            )
        else:
            event.next_attempt_at = now + backoff(event.attempts)
            log.warning(
                "inbound event %s (%s) failed; retrying at %s",
                event.id,
                event.event_type,
                event.next_attempt_at.isoformat(),
                exc_info=True,
            )
    else:
        event.status = EventStatus.PROCESSED
        event.processed_at = now
        event.last_error = None
    return event.status


def due_event_ids(session: Session, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of pending events whose next attempt is due, oldest first."""
    now = now or utcnow()
    query = (
        select(InboundEvent.id)
        .where(InboundEvent.status == EventStatus.PENDING, InboundEvent.next_attempt_at <= now)
        .order_by(InboundEvent.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def pending_lag_seconds(session: Session, *, now: datetime | None = None) -> float:
    """Age of the oldest pending event: how far processing is behind intake."""
    now = now or utcnow()
    oldest = session.scalar(
        select(InboundEvent.received_at)
        .where(InboundEvent.status == EventStatus.PENDING)
        .order_by(InboundEvent.id)
        .limit(1)
    )
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def count_by_status(session: Session) -> dict[str, int]:
    """How many stored events are in each status."""
    query = select(InboundEvent.status, func.count()).group_by(InboundEvent.status)
    return {status: n for status, n in session.execute(query)}
