"""Batch and try rows written in bulk: a claim's new batches, a group's tries, its sent batches.

A claim of personalised pushes inserts up to 2,000 batches, and recording a group of answers
writes up to 200 tries and marks as many batches and deliveries sent. On PostgreSQL each of
these is one statement whatever the number of rows: the per-row values go as array literals
that the server unpacks (``unnest``), so the driver neither runs one statement per row nor
adapts every value. SQLite (the embedded runtime) runs the same changes row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, text, update
from sqlalchemy.orm import Session

from messaging.outbox.models import (
    BatchState,
    Delivery,
    DeliveryAttempt,
    DeliveryBatch,
    DeliveryState,
)
from messaging.outbox.sql import int_array, is_postgres, text_array

DUPLICATE_REASON = "already accepted under this retry key"


@dataclass(frozen=True, slots=True)
class NewBatch:
    """A batch formed by a claim from per-friend deliveries, claimed at once."""

    id: str
    channel_id: int
    endpoint: str
    content_hash: str
    recipients: int
    reply_token: str | None = None


@dataclass(frozen=True, slots=True)
class TryRow:
    """One HTTP try of a batch and what LINE answered (its retry key is the batch id)."""

    batch_id: str
    endpoint: str
    started_at: datetime
    status_code: int | None
    request_id: str | None
    outcome: str
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class SentBatch:
    """An accepted try's batch; ``request_id`` and ``duplicate`` are LINE's answer.

    ``recorded`` is True when another worker had already recorded the batch sent (it took the
    batch over after its lease): only the try is counted.
    """

    batch_id: str
    attempts: int
    per_friend: bool
    request_id: str | None = None
    duplicate: bool = False
    recorded: bool = False


def insert_claimed(
    session: Session, batches: Sequence[NewBatch], *, lease_until: datetime, now: datetime
) -> None:
    """Insert a claim's new batches, ``sending`` under the claim's lease."""
    if not batches:
        return
    if is_postgres(session):
        session.execute(
            _INSERT_CLAIMED,
            {
                "ids": text_array(b.id for b in batches),
                "channels": int_array(b.channel_id for b in batches),
                "endpoints": text_array(b.endpoint for b in batches),
                "tokens": text_array(b.reply_token for b in batches),
                "hashes": text_array(b.content_hash for b in batches),
                "recipients": int_array(b.recipients for b in batches),
                "state": BatchState.SENDING.value,
                "lease_until": lease_until,
                "now": now,
            },
        )
        return
    session.execute(
        insert(DeliveryBatch.__table__),
        [
            {
                "id": b.id,
                "channel_id": b.channel_id,
                "endpoint": b.endpoint,
                "reply_token": b.reply_token,
                "content_hash": b.content_hash,
                "recipients": b.recipients,
                "state": BatchState.SENDING,
                "attempts": 0,
                "lease_until": lease_until,
                "created_at": now,
                "updated_at": now,
            }
            for b in batches
        ],
    )


def insert_tries(session: Session, tries: Sequence[TryRow]) -> None:
    """Insert one ``DeliveryAttempt`` per try."""
    if not tries:
        return
    if is_postgres(session):
        session.execute(
            _INSERT_TRIES,
            {
                "batches": text_array(t.batch_id for t in tries),
                "endpoints": text_array(t.endpoint for t in tries),
                "statuses": _optional_ints(t.status_code for t in tries),
                "request_ids": text_array(t.request_id for t in tries),
                "outcomes": text_array(t.outcome for t in tries),
                "errors": text_array(t.error for t in tries),
                "durations": int_array(t.duration_ms for t in tries),
                "started": text_array(t.started_at.isoformat() for t in tries),
            },
        )
        return
    session.execute(
        insert(DeliveryAttempt.__table__),
        [
            {
                "batch_id": t.batch_id,
                "retry_key": t.batch_id,
                "endpoint": t.endpoint,
                "started_at": t.started_at,
                "status_code": t.status_code,
                "request_id": t.request_id,
                "outcome": t.outcome,
                "error": t.error,
                "duration_ms": t.duration_ms,
            }
            for t in tries
        ],
    )


def mark_sent(session: Session, batches: Sequence[SentBatch], *, now: datetime) -> None:
    """Mark accepted batches sent, with LINE's request id, and their per-friend deliveries."""
    answered = [b for b in batches if not b.recorded]
    recorded = [
        {"sent_batch": b.batch_id, "sent_attempts": b.attempts, "sent_now": now}
        for b in batches
        if b.recorded
    ]
    if recorded:
        session.connection().execute(_BATCHES_SENT_AGAIN, recorded)
    if not answered:
        return
    per_friend = [b for b in answered if b.per_friend]
    if is_postgres(session):
        arrays = _sent_arrays(answered)
        del arrays["reasons"]
        session.execute(_BATCHES_SENT_IN_SERVER, {**arrays, "now": now})
        if per_friend:
            session.execute(_DELIVERIES_SENT_IN_SERVER, {**_sent_arrays(per_friend), "now": now})
        return
    session.connection().execute(_BATCHES_SENT, [_sent_row(b, now) for b in answered])
    if per_friend:
        session.connection().execute(_DELIVERIES_SENT, [_sent_row(b, now) for b in per_friend])


def _optional_ints(values: Any) -> str:
    return text_array(None if v is None else str(v) for v in values)


def _sent_arrays(batches: Sequence[SentBatch]) -> dict[str, str]:
    return {
        "ids": text_array(b.batch_id for b in batches),
        "request_ids": text_array(b.request_id for b in batches),
        "attempts": int_array(b.attempts for b in batches),
        "reasons": text_array(DUPLICATE_REASON if b.duplicate else None for b in batches),
    }


def _sent_row(batch: SentBatch, now: datetime) -> dict[str, Any]:
    return {
        "sent_batch": batch.batch_id,
        "sent_reason": DUPLICATE_REASON if batch.duplicate else None,
        "sent_request_id": batch.request_id,
        "sent_attempts": batch.attempts,
        "sent_now": now,
    }


_INSERT_CLAIMED = text(
    """
    INSERT INTO delivery_batches (
        id, channel_id, endpoint, reply_token, content_hash, recipients, state, attempts,
        lease_until, created_at, updated_at
    )
    SELECT i, c, e, r, h, n, :state, 0, :lease_until, :now, :now
    FROM unnest(
        CAST(:ids AS text[]), CAST(:channels AS bigint[]), CAST(:endpoints AS text[]),
        CAST(:tokens AS text[]), CAST(:hashes AS text[]), CAST(:recipients AS int[])
    ) AS v(i, c, e, r, h, n)
    """
)

_INSERT_TRIES = text(
    """
    INSERT INTO delivery_attempts (
        batch_id, retry_key, endpoint, status_code, request_id, outcome, error, duration_ms,
        started_at
    )
    SELECT b, b, e, s, r, o, x, d, t
    FROM unnest(
        CAST(:batches AS text[]), CAST(:endpoints AS text[]), CAST(:statuses AS int[]),
        CAST(:request_ids AS text[]), CAST(:outcomes AS text[]), CAST(:errors AS text[]),
        CAST(:durations AS int[]), CAST(:started AS timestamptz[])
    ) AS v(b, e, s, r, o, x, d, t)
    """
)

_BATCHES_SENT_IN_SERVER = text(
    """
    UPDATE delivery_batches AS b
    SET state = 'sent', request_id = v.request_id, last_error = NULL, sent_at = :now,
        attempts = v.attempts, updated_at = :now
    FROM unnest(CAST(:ids AS text[]), CAST(:request_ids AS text[]), CAST(:attempts AS int[]))
        AS v(id, request_id, attempts)
    WHERE b.id = v.id
    """
)

# Only deliveries still on their way: one a sweep has already settled keeps its state.
_DELIVERIES_SENT_IN_SERVER = text(
    """
    UPDATE deliveries AS d
    SET state = 'sent', reason = v.reason, request_id = v.request_id, sent_at = :now,
        attempts = v.attempts, updated_at = :now
    FROM unnest(
        CAST(:ids AS text[]), CAST(:reasons AS text[]), CAST(:request_ids AS text[]),
        CAST(:attempts AS int[])
    ) AS v(batch_id, reason, request_id, attempts)
    WHERE d.batch_id = v.batch_id AND d.state IN ('sending', 'pending')
    """
)

_BATCHES_SENT = (
    update(DeliveryBatch.__table__)
    .where(DeliveryBatch.id == bindparam("sent_batch"))
    .values(
        state=BatchState.SENT,
        request_id=bindparam("sent_request_id"),
        last_error=None,
        sent_at=bindparam("sent_now"),
        attempts=bindparam("sent_attempts"),
        updated_at=bindparam("sent_now"),
    )
)
# Batches another worker had already recorded sent: the try counts, nothing else changes.
_BATCHES_SENT_AGAIN = (
    update(DeliveryBatch.__table__)
    .where(DeliveryBatch.id == bindparam("sent_batch"))
    .values(attempts=bindparam("sent_attempts"), updated_at=bindparam("sent_now"))
)
_DELIVERIES_SENT = (
    update(Delivery.__table__)
    .where(
        Delivery.batch_id == bindparam("sent_batch"),
        or_(Delivery.state == DeliveryState.SENDING, Delivery.state == DeliveryState.PENDING),
    )
    .values(
        state=DeliveryState.SENT,
        reason=bindparam("sent_reason"),
        request_id=bindparam("sent_request_id"),
        sent_at=bindparam("sent_now"),
        attempts=bindparam("sent_attempts"),
        updated_at=bindparam("sent_now"),
    )
)
