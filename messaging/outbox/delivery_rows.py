"""Per-friend delivery rows: inserted in bulk (one statement per chunk, duplicates skipped),
and updated with their batch's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from messaging.outbox.models import BatchState, Delivery, DeliveryBatch, DeliveryState
from messaging.outbox.sql import int_array, is_postgres, text_array


@dataclass(slots=True)
class Columns:
    """A chunk's new rows, column by column (what varies per row)."""

    friend_ids: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)

    def append(self, friend_id: int, key: str, digest: str, state: str, reason: str | None) -> None:
        self.friend_ids.append(friend_id)
        self.keys.append(key)
        self.hashes.append(digest)
        self.states.append(state)
        self.reasons.append(reason)


def insert_new(
    session: Session, columns: Columns, *, shared: Mapping[str, Any], now: datetime
) -> list[tuple[str, str | None]]:
    """Insert new rows, skipping existing idempotency keys; return (state, reason) of each new.

    ``shared`` holds the values every row of the chunk has in common (shop, channel, source,
    due times, quiet-hours flag).
    """
    if not columns.friend_ids:
        return []
    if is_postgres(session):
        params = {
            **shared,
            "now": now,
            "friend_ids": int_array(columns.friend_ids),
            "keys": text_array(columns.keys),
            "hashes": text_array(columns.hashes),
            "states": text_array(columns.states),
            "reasons": text_array(columns.reasons),
        }
        return [(state, reason) for state, reason in session.execute(_UNNEST_INSERT, params)]
    rows = [
        {
            **shared,
            "friend_id": friend_id,
            "idempotency_key": key,
            "content_hash": digest,
            "state": state,
            "reason": reason,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for friend_id, key, digest, state, reason in zip(
            columns.friend_ids,
            columns.keys,
            columns.hashes,
            columns.states,
            columns.reasons,
            strict=True,
        )
    ]
    statement = (
        sqlite_insert(Delivery)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Delivery.state, Delivery.reason)
    )
    return [(state, reason) for state, reason in session.execute(statement, rows)]


# One statement per chunk on PostgreSQL, the per-row values as array literals: no per-row SQL
# to build or parse, and the server unpacks the arrays itself.
_UNNEST_INSERT = text(
    """
    INSERT INTO deliveries (
        shop_id, channel_id, friend_id, idempotency_key, source, content_hash, state, reason,
        due_at, next_attempt_at, respect_quiet_hours, attempts, created_at, updated_at
    )
    SELECT :shop_id, :channel_id, f, k, :source, h, s, r,
           :due_at, :next_attempt_at, :respect_quiet_hours, 0, :now, :now
    FROM unnest(
        CAST(:friend_ids AS bigint[]), CAST(:keys AS text[]), CAST(:hashes AS text[]),
        CAST(:states AS text[]), CAST(:reasons AS text[])
    ) AS t(f, k, h, s, r)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING state, reason
    """
)


def update_deliveries(session: Session, batch: DeliveryBatch, **values: Any) -> None:
    """Apply a batch's outcome to its per-friend rows (an audience batch has none)."""
    if batch.audience_send_id is not None:
        return
    session.execute(
        update(Delivery)
        .where(
            Delivery.batch_id == batch.id,
            Delivery.state.in_([DeliveryState.SENDING, DeliveryState.PENDING]),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def settle(
    session: Session,
    batch: DeliveryBatch,
    state: BatchState,
    delivery_state: DeliveryState,
    reason: str,
    now: datetime,
) -> None:
    """End a batch and its deliveries in a state that is final, with the reason why."""
    batch.state, batch.last_error = state, reason
    update_deliveries(
        session,
        batch,
        state=delivery_state,
        reason=reason,
        attempts=batch.attempts,
        updated_at=now,
    )
