"""A reply LINE refused: whether an earlier try used its token, nothing reached LINE, or no one
can tell.

A reply carries no retry key, so its tries are on record before they leave; a try whose answer
never got recorded (its worker died) stays ``unanswered``. When LINE later refuses the reply's
token, those rows decide: sent, pushed now, or uncertain.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.line.sending import SendFailure
from messaging.outbox.claims import DispatchConfig
from messaging.outbox.delivery_rows import settle, update_deliveries
from messaging.outbox.models import (
    BatchState,
    DeliveryAttempt,
    DeliveryBatch,
    DeliveryState,
    Endpoint,
    ReplyToken,
)

log = logging.getLogger(__name__)

# The outcome of a reply's try from the moment it leaves until its answer is recorded: one that
# stays so after its worker died may have reached LINE.
UNANSWERED = "unanswered"

REPLY_USED_REASON = (
    "counted as sent: LINE refused the reply token while it was still young, after an earlier "
    "try got no answer, so that try is what used it; not resent as a push, which would send it "
    "twice"
)
REPLY_UNCERTAIN_REASON = (
    "uncertain: an earlier try of this reply got no answer (its worker stopped) and LINE now "
    "refuses the token, which by then could also have expired; LINE may or may not have "
    "delivered it. Not resent, which could send it twice: check with the friend if it matters"
)


def reply_token_refused(answer: SendFailure) -> bool:
    """Whether LINE refused the request for its reply token (used, or expired)."""
    return answer.status == 400 and "reply token" in answer.reason.lower()


def _may_have_reached_line(outcome: str, status_code: int | None) -> bool:
    """Whether a recorded try could have been accepted: no answer, a timeout or a 5xx.

    Any other answer (429, other 4xx) is LINE refusing the request: nothing of it was taken.
    """
    return outcome == UNANSWERED or status_code is None or status_code >= 500


def reply_refused(
    session: Session,
    batch: DeliveryBatch,
    *,
    attempt_id: int | None,
    started_at: datetime,
    config: DispatchConfig,
    now: datetime,
) -> str:
    """LINE refused the reply token: decide from the batch's recorded tries, never a counter.

    - No earlier try could have reached LINE: the token expired unused, so the message goes as
      a push at once (same batch, same retry key).
    - One could have, and the token was refused while younger than the hub trusts a token to
      live (``TSUNAGU_REPLY_TOKEN_SECONDS``): that try used it, so it was delivered.
    - One could have, but the token could also have expired: LINE's answers cannot tell, and
      the delivery says ``uncertain`` rather than sent or failed.
    """
    earlier = session.execute(
        select(DeliveryAttempt.outcome, DeliveryAttempt.status_code).where(
            DeliveryAttempt.batch_id == batch.id, DeliveryAttempt.id != attempt_id
        )
    ).all()
    if not any(_may_have_reached_line(o, s) for o, s in earlier):
        return _reply_as_push(session, batch, now)
    issued_at = session.scalar(
        select(ReplyToken.issued_at).where(ReplyToken.token == batch.reply_token)
    )
    trusted_until = issued_at + timedelta(seconds=config.reply_token_seconds) if issued_at else None
    if trusted_until is not None and started_at < trusted_until:
        return _reply_used(session, batch, now)
    return _reply_uncertain(session, batch, now)


def _reply_used(session: Session, batch: DeliveryBatch, now: datetime) -> str:
    batch.state, batch.sent_at, batch.last_error = BatchState.SENT, now, REPLY_USED_REASON
    update_deliveries(
        session,
        batch,
        state=DeliveryState.SENT,
        reason=REPLY_USED_REASON,
        sent_at=now,
        attempts=batch.attempts,
        updated_at=now,
    )
    return "sent"


def _reply_uncertain(session: Session, batch: DeliveryBatch, now: datetime) -> str:
    settle(
        session, batch, BatchState.UNCERTAIN, DeliveryState.UNCERTAIN, REPLY_UNCERTAIN_REASON, now
    )
    log.warning("reply batch %s: delivery uncertain (%s)", batch.id, REPLY_UNCERTAIN_REASON)
    return "uncertain"


def _reply_as_push(session: Session, batch: DeliveryBatch, now: datetime) -> str:
    batch.endpoint, batch.reply_token = Endpoint.PUSH, None
    batch.state, batch.next_attempt_at = BatchState.RETRYING, now
    batch.last_error = "reply token no longer valid: sent as a push"
    update_deliveries(
        session,
        batch,
        state=DeliveryState.PENDING,
        reason=batch.last_error,
        next_attempt_at=now,
        attempts=batch.attempts,
        updated_at=now,
    )
    return "retried"
