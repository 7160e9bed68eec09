"""Recording what LINE answered: one ``DeliveryAttempt`` per HTTP try, and its consequences.

200 and 409 (already accepted under the retry key) are sent; 429/5xx/timeouts wait for a retry
of the same batch with the same key, after an exponential backoff with jitter; other 4xx fail
with LINE's reason; 401/403 pause the channel and raise an alert; a monthly-quota refusal holds
the messages (LINE accepted none of them).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from connectors.line.sending import Accepted, FailureKind, SendFailure
from core import audit
from core.clock import utcnow
from core.tenancy import Channel
from messaging.claims import CHANNEL_ACTIVE, BatchJob, DispatchConfig
from messaging.models import (
    AudienceSend,
    AudienceState,
    BatchState,
    Delivery,
    DeliveryAttempt,
    DeliveryBatch,
    DeliveryState,
)

log = logging.getLogger(__name__)

CHANNEL_PAUSED = "paused"
_random = secrets.SystemRandom()


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
    now = now or utcnow()
    attempt = DeliveryAttempt(
        batch_id=job.batch_id,
        retry_key=job.batch_id,
        endpoint=job.endpoint,
        status_code=answer.status,
        request_id=answer.request_id,
        outcome="accepted" if isinstance(answer, Accepted) else str(answer.kind),
        error=None if isinstance(answer, Accepted) else answer.reason,
        duration_ms=duration_ms,
        started_at=started_at,
    )
    session.add(attempt)
    batch = session.get_one(DeliveryBatch, job.batch_id, with_for_update=True)
    batch.attempts += 1
    batch.updated_at = now
    if batch.state == BatchState.SENT:
        # Another worker took over this batch after its lease and already recorded it sent.
        return "sent"
    if isinstance(answer, Accepted):
        return _sent(session, batch, answer, now)
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


def _update_deliveries(session: Session, batch: DeliveryBatch, **values: Any) -> None:
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


def _sent(session: Session, batch: DeliveryBatch, answer: Accepted, now: datetime) -> str:
    batch.state, batch.request_id, batch.last_error = BatchState.SENT, answer.request_id, None
    batch.sent_at = now
    _update_deliveries(
        session,
        batch,
        state=DeliveryState.SENT,
        reason="already accepted under this retry key" if answer.duplicate else None,
        request_id=answer.request_id,
        sent_at=now,
        attempts=batch.attempts,
        updated_at=now,
    )
    return "sent"


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
    _update_deliveries(
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
    batch.state, batch.last_error = BatchState.FAILED, reason
    _update_deliveries(
        session,
        batch,
        state=DeliveryState.FAILED,
        reason=reason,
        attempts=batch.attempts,
        updated_at=now,
    )
    return "failed"


def _pause_channel(
    session: Session, batch: DeliveryBatch, answer: SendFailure, now: datetime
) -> str:
    """The token was refused: stop the channel's sends and tell the shop (audit alert)."""
    channel = session.get_one(Channel, batch.channel_id, with_for_update=True)
    reason = f"channel paused: LINE refused the access token ({answer.reason})"
    if channel.status == CHANNEL_ACTIVE:
        channel.status = CHANNEL_PAUSED
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
    _update_deliveries(session, batch, state=DeliveryState.PENDING, reason=reason, updated_at=now)
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
    _update_deliveries(
        session,
        batch,
        state=DeliveryState.HELD,
        reason=f"monthly quota reached: {answer.reason}",
        batch_id=None,
        updated_at=now,
    )
    return "held"
