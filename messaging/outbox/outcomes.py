"""Recording what LINE answered: one ``DeliveryAttempt`` per HTTP try, and its consequences.

200 and 409 (already accepted under the retry key) are sent; 429/5xx/timeouts wait for a retry
of the same batch with the same key, after an exponential backoff with jitter; other 4xx fail
with LINE's reason; 401/403 pause the channel and raise an alert; a monthly-quota refusal holds
the messages (LINE accepted none of them).

A reply carries no retry key, so its tries are on record *before* they leave (:func:`launch`): a
try whose answer never got recorded (its worker died) stays ``unanswered``, and when LINE later
refuses the reply's token, ``reply_outcomes.reply_refused`` decides from those rows whether that
try used it (sent), nothing reached LINE (push it now), or LINE's answers cannot tell
(uncertain).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from connectors.line.sending import Accepted, FailureKind, SendFailure
from core import audit
from core.clock import utcnow
from core.tenancy import Channel, ChannelStatus
from messaging.outbox.batch_jobs import BatchJob
from messaging.outbox.batch_rows import SentBatch, TryRow, insert_tries, mark_sent
from messaging.outbox.claims import DispatchConfig
from messaging.outbox.delivery_rows import settle, update_deliveries
from messaging.outbox.models import (
    AudienceSend,
    AudienceState,
    BatchState,
    DeliveryAttempt,
    DeliveryBatch,
    DeliveryState,
    Endpoint,
)
from messaging.outbox.reply_outcomes import UNANSWERED, reply_refused, reply_token_refused
from messaging.outbox.sql import any_text_of

log = logging.getLogger(__name__)

SENT = BatchState.SENT
_random = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class Try:
    """One HTTP try of a batch and LINE's answer, to be recorded.

    ``attempt_id``: the try's row written by :func:`launch` before it left (replies), updated
    with the answer instead of a new row.
    """

    job: BatchJob
    answer: Accepted | SendFailure
    started_at: datetime
    duration_ms: int
    attempt_id: int | None = None


def launch(session: Session, job: BatchJob, *, started_at: datetime) -> int:
    """Put a reply's try on record before it leaves (its caller commits at once); its id."""
    return session.execute(
        insert(DeliveryAttempt.__table__).returning(DeliveryAttempt.__table__.c.id),
        {
            "batch_id": job.batch_id,
            "retry_key": job.batch_id,
            "endpoint": job.endpoint,
            "outcome": UNANSWERED,
            "duration_ms": 0,
            "started_at": started_at,
        },
    ).scalar_one()


def _attempt_values(t: Try) -> dict[str, Any]:
    """A try's answer as the columns of its ``DeliveryAttempt``."""
    failure = t.answer if isinstance(t.answer, SendFailure) else None
    return {
        "status_code": t.answer.status,
        "request_id": t.answer.request_id,
        "outcome": str(failure.kind) if failure else "accepted",
        "error": failure.reason if failure else None,
        "duration_ms": t.duration_ms,
    }


_ATTEMPT_ANSWERED = (
    update(DeliveryAttempt.__table__)
    .where(DeliveryAttempt.__table__.c.id == bindparam("answered_id"))
    .values(
        status_code=bindparam("answered_status"),
        request_id=bindparam("answered_request_id"),
        outcome=bindparam("answered_outcome"),
        error=bindparam("answered_error"),
        duration_ms=bindparam("answered_ms"),
    )
)


def _answered_row(t: Try) -> dict[str, Any]:
    values = _attempt_values(t)
    return {
        "answered_id": t.attempt_id,
        "answered_status": values["status_code"],
        "answered_request_id": values["request_id"],
        "answered_outcome": values["outcome"],
        "answered_error": values["error"],
        "answered_ms": values["duration_ms"],
    }


def record(
    session: Session,
    job: BatchJob,
    answer: Accepted | SendFailure,
    *,
    config: DispatchConfig,
    started_at: datetime,
    duration_ms: int,
    now: datetime | None = None,
) -> str:
    """Store one HTTP try and apply its outcome to the batch and its deliveries."""
    (outcome,) = record_all(
        session, [Try(job, answer, started_at, duration_ms)], config=config, now=now
    )
    return outcome


def record_all(
    session: Session, tries: Sequence[Try], *, config: DispatchConfig, now: datetime | None = None
) -> list[str]:
    """Store several HTTP tries (of different batches) and apply their outcomes, in bulk.

    Accepted batches, nearly all of them, are updated with one statement per table; a batch
    LINE did not accept is loaded as an object and goes through :func:`_not_accepted`.
    """
    now = now or utcnow()
    insert_tries(
        session,
        [
            TryRow(t.job.batch_id, t.job.endpoint, t.started_at, **_attempt_values(t))
            for t in tries
            if t.attempt_id is None
        ],
    )
    launched = [_answered_row(t) for t in tries if t.attempt_id is not None]
    if launched:
        session.connection().execute(_ATTEMPT_ANSWERED, launched)
    locked = {
        row.id: row
        for row in session.execute(
            select(
                DeliveryBatch.id,
                DeliveryBatch.state,
                DeliveryBatch.attempts,
                DeliveryBatch.audience_send_id,
            )
            .where(any_text_of(session, DeliveryBatch.id, {t.job.batch_id for t in tries}))
            .with_for_update()
        )
    }
    attempts = {batch_id: row.attempts for batch_id, row in locked.items()}
    outcomes = []
    accepted: list[SentBatch] = []
    refused: list[tuple[str, SendFailure, int]] = []
    for t in tries:
        row = locked[t.job.batch_id]
        attempts[row.id] += 1
        per_friend = row.audience_send_id is None
        if row.state == SENT:
            # Another worker took over this batch after its lease and already recorded it sent.
            accepted.append(SentBatch(row.id, attempts[row.id], per_friend, recorded=True))
            outcomes.append("sent")
        elif isinstance(t.answer, Accepted):
            answer = t.answer
            accepted.append(
                SentBatch(row.id, attempts[row.id], per_friend, answer.request_id, answer.duplicate)
            )
            outcomes.append("sent")
        else:
            refused.append((row.id, t.answer, len(outcomes)))
            outcomes.append("")
    mark_sent(session, accepted, now=now)
    for batch_id, failure, index in refused:
        batch = session.get_one(DeliveryBatch, batch_id)
        batch.attempts = attempts[batch_id]
        batch.updated_at = now
        outcomes[index] = _not_accepted(session, batch, tries[index], failure, config, now)
    return outcomes


def _not_accepted(
    session: Session,
    batch: DeliveryBatch,
    refused: Try,
    answer: SendFailure,
    config: DispatchConfig,
    now: datetime,
) -> str:
    if batch.endpoint == Endpoint.REPLY and reply_token_refused(answer):
        return reply_refused(
            session,
            batch,
            attempt_id=refused.attempt_id,
            started_at=refused.started_at,
            config=config,
            now=now,
        )
    if answer.kind == FailureKind.CHANNEL:
        return _pause_channel(session, batch, answer, now)
    if answer.kind == FailureKind.QUOTA:
        return _hold_for_quota(session, batch, answer, now)
    if answer.kind == FailureKind.RETRIABLE and batch.attempts < config.max_attempts:
        return _retry_later(session, batch, answer, config, now)
    reason = answer.reason
    if answer.kind == FailureKind.RETRIABLE:
        reason = f"gave up after {batch.attempts} tries: {answer.reason}"
    return _failed(session, batch, reason, now)


def backoff_seconds(attempts: int, config: DispatchConfig) -> float:
    """Exponential backoff with full jitter: uniform in [base, base·2^(n-1)], capped."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** (attempts - 1))
    return _random.uniform(config.backoff_base_seconds, max(config.backoff_base_seconds, ceiling))


def _retry_later(
    session: Session,
    batch: DeliveryBatch,
    answer: SendFailure,
    config: DispatchConfig,
    now: datetime,
) -> str:
    next_at = now + timedelta(seconds=backoff_seconds(batch.attempts, config))
    batch.state, batch.next_attempt_at, batch.last_error = (
        BatchState.RETRYING,
        next_at,
        answer.reason,
    )
    update_deliveries(
        session,
        batch,
        state=DeliveryState.PENDING,
        reason=f"retrying after {answer.reason}",
        next_attempt_at=next_at,
        attempts=batch.attempts,
        updated_at=now,
    )
    return "retried"


def _failed(session: Session, batch: DeliveryBatch, reason: str, now: datetime) -> str:
    settle(session, batch, BatchState.FAILED, DeliveryState.FAILED, reason, now)
    return "failed"


def _pause_channel(
    session: Session, batch: DeliveryBatch, answer: SendFailure, now: datetime
) -> str:
    """The token was refused: stop the channel's sends and tell the shop (audit alert)."""
    channel = session.get_one(Channel, batch.channel_id, with_for_update=True)
    reason = f"channel paused: LINE refused the access token ({answer.reason})"
    if channel.status == ChannelStatus.ACTIVE:
        channel.status = ChannelStatus.PAUSED
        audit.record(
            session,
            shop_id=channel.shop_id,
            actor="dispatcher",
            action="channel.paused",
            subject_type="channel",
            subject_id=channel.id,
            now=now,
            reason=reason,
            fix="replace the channel's access token, then resume the channel",
        )
        log.error("channel %s paused: %s", channel.line_channel_id, answer.reason)
    # The request was refused, not accepted: the same batch waits for the channel to resume.
    batch.attempts -= 1
    batch.state, batch.next_attempt_at, batch.last_error = BatchState.RETRYING, now, reason
    update_deliveries(session, batch, state=DeliveryState.PENDING, reason=reason, updated_at=now)
    return "retried"


def _hold_for_quota(
    session: Session, batch: DeliveryBatch, answer: SendFailure, now: datetime
) -> str:
    """LINE refused the batch for the monthly limit (nothing accepted): hold its messages."""
    if batch.audience_send_id is not None:
        # The recipients live on the batch: it waits, whole, for ``service.release_held``.
        batch.state, batch.last_error = BatchState.HELD, f"monthly quota reached: {answer.reason}"
        session.execute(
            update(AudienceSend)
            .where(AudienceSend.id == batch.audience_send_id)
            .values(state=AudienceState.HELD, reason=batch.last_error, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return "held"
    batch.state, batch.last_error = BatchState.ABANDONED, answer.reason
    update_deliveries(
        session,
        batch,
        state=DeliveryState.HELD,
        reason=f"monthly quota reached: {answer.reason}",
        batch_id=None,
        updated_at=now,
    )
    return "held"
