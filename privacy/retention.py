"""Retention: how long raw data is kept, purged by the ``privacy.retention`` beat job.

- Processed inbound events are deleted once their review window has passed, failed ones after
  a longer one; pending events are never touched. The window is what a raw body is for (staff
  reviewing an error, a replay), and every sender stops redelivering well within it, so the
  row's dedup key has done its job too.
- The content of media friends sent (images, videos, audio, files) is deleted once older than
  its window, or with their message; the medium's row stays, marked purged.
- Conversation messages older than their window are deleted.
- A staff session's address and browser are cleared once the session has ended.
- Rendered messages of per-friend sends (the ones a name can be rendered into) lose their
  payload once every send of them has finished and the last one is older than the window;
  message sets sent to whole audiences are the shop's own campaign content, and stay.

A setting of 0 days keeps that kind of data until the person is erased. Each run does a
bounded amount of work per kind; a backlog is worked off over the next runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, exists, select, update
from sqlalchemy.orm import Session

from config import Settings
from core.clock import utcnow
from core.db import rows_matched
from core.inbox import EventStatus, InboundEvent
from idlink.media import lifecycle as media_lifecycle
from idlink.models import ConversationMessage
from messaging.outbox.models import (
    AudienceSend,
    BatchState,
    Delivery,
    DeliveryBatch,
    DeliveryContent,
    DeliveryState,
    ReplyToken,
)
from staff.models import StaffSession

log = logging.getLogger(__name__)

PURGED_MESSAGES = [{"type": "text", "text": "(purged after its retention period)"}]
_UNFINISHED_DELIVERIES = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.HELD)
_UNFINISHED_BATCHES = (
    BatchState.QUEUED,
    BatchState.SENDING,
    BatchState.RETRYING,
    BatchState.HELD,
)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each kind of data is kept (0: until the person is erased)."""

    raw_events_days: float = 7.0
    failed_events_days: float = 30.0
    messages_days: float = 365.0
    delivery_payloads_days: float = 90.0
    # A staff session ends when revoked or idle this long; then its address and browser go.
    staff_idle_minutes: float = 480.0
    media_days: float = 180.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            raw_events_days=settings.retain_raw_events_days,
            failed_events_days=settings.retain_failed_events_days,
            messages_days=settings.retain_messages_days,
            media_days=settings.retain_media_days,
            delivery_payloads_days=settings.retain_delivery_payloads_days,
            staff_idle_minutes=settings.staff_idle_minutes,
        )


def _cutoff(now: datetime, days: float) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


def purge(
    session: Session,
    *,
    policy: RetentionPolicy,
    now: datetime | None = None,
    limit: int = 50_000,
) -> dict[str, int]:
    """Remove what has outlived its retention; return how many rows of each kind went."""
    now = now or utcnow()
    counts = {
        "inbound_events": 0,
        "media": 0,
        "conversation_messages": 0,
        "delivery_contents": 0,
        "reply_tokens": _delete_old_reply_tokens(session, now),
        "staff_session_addresses": _clear_ended_sessions(
            session, now - timedelta(minutes=policy.staff_idle_minutes)
        ),
    }
    for status, days, finished in (
        (EventStatus.PROCESSED, policy.raw_events_days, InboundEvent.processed_at),
        (EventStatus.FAILED, policy.failed_events_days, InboundEvent.received_at),
    ):
        if (cutoff := _cutoff(now, days)) is not None:
            old = select(InboundEvent.id).where(InboundEvent.status == status, finished < cutoff)
            counts["inbound_events"] += _delete(session, InboundEvent, old, limit)
    media_cutoffs = [_cutoff(now, d) for d in (policy.media_days, policy.messages_days)]
    if kept_until := [c for c in media_cutoffs if c is not None]:
        # Before the messages go: a medium's file goes with its message at the latest.
        counts["media"] = media_lifecycle.purge_older_than(
            session, max(kept_until), now=now, limit=min(limit, 1000)
        )
    if (cutoff := _cutoff(now, policy.messages_days)) is not None:
        old = select(ConversationMessage.id).where(ConversationMessage.occurred_at < cutoff)
        counts["conversation_messages"] = _delete(session, ConversationMessage, old, limit)
    if (cutoff := _cutoff(now, policy.delivery_payloads_days)) is not None:
        counts["delivery_contents"] = _purge_contents(session, cutoff, now, limit)
    if any(counts.values()):
        log.info("retention purge: %s", counts)
    return counts


# LINE honours a reply token for about a minute; the hub keeps it a day (a retry's decision may
# read when it was issued), whatever the retention settings, which are about personal data.
REPLY_TOKENS_KEPT = timedelta(days=1)


def _delete_old_reply_tokens(session: Session, now: datetime) -> int:
    statement = delete(ReplyToken).where(ReplyToken.issued_at < now - REPLY_TOKENS_KEPT)
    return rows_matched(session.execute(statement))


def _clear_ended_sessions(session: Session, idle_since: datetime) -> int:
    """A staff session's address and browser are for spotting a stranger while it is open;
    once it has ended (revoked, or idle past the limit) they go."""
    statement = (
        update(StaffSession)
        .where(
            (StaffSession.ip.is_not(None)) | (StaffSession.user_agent.is_not(None)),
            (StaffSession.revoked_at.is_not(None)) | (StaffSession.last_seen_at < idle_since),
        )
        .values(ip=None, user_agent=None)
    )
    return rows_matched(session.execute(statement))


def _delete(
    session: Session,
    model: type[InboundEvent] | type[ConversationMessage],
    ids: Select[int],
    limit: int,
) -> int:
    found = list(session.scalars(ids.order_by(model.id).limit(limit)))
    for start in range(0, len(found), 1000):
        chunk = found[start : start + 1000]
        session.execute(delete(model).where(model.id.in_(chunk)))
    return len(found)


def _purge_contents(session: Session, cutoff: datetime, now: datetime, limit: int) -> int:
    content = DeliveryContent.content_hash
    stale = (
        select(content)
        .where(
            DeliveryContent.purged_at.is_(None),
            DeliveryContent.created_at < cutoff,
            exists().where(Delivery.content_hash == content),
            ~exists().where(AudienceSend.content_hash == content),
            ~exists().where(
                Delivery.content_hash == content,
                (Delivery.state.in_(_UNFINISHED_DELIVERIES)) | (Delivery.updated_at >= cutoff),
            ),
            ~exists().where(
                DeliveryBatch.content_hash == content,
                DeliveryBatch.state.in_(_UNFINISHED_BATCHES),
            ),
        )
        .limit(min(limit, 1000))
    )
    hashes = list(session.scalars(stale))
    if hashes:
        session.execute(
            update(DeliveryContent)
            .where(content.in_(hashes))
            .values(payload=PURGED_MESSAGES, purged_at=now)
        )
    return len(hashes)
