"""Claiming audience batches: the guardrails once more before a batch's first try.

A frozen audience may be minutes or hours old when its batch is claimed. Before the first try
(no request has carried the batch's key yet) the claim drops the friends who blocked the account
or opted out since, and counts them on the batch; at night it defers the batch to the end of the
quiet hours. A batch that was tried already is resent unchanged: a key never covers two
different requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.tenancy import Channel
from idlink.models import Friend, FriendStatus
from messaging import guardrails
from messaging.models import AudienceSend, BatchState, DeliveryBatch
from messaging.sql import any_of

NOBODY_LEFT = "every recipient blocked the account or opted out after the audience was frozen"
UNKNOWN_REASON = "friend no longer known"


@dataclass(frozen=True, slots=True)
class AudienceFriends:
    """The claimed audience batches' friends: LINE user ids, and who may no longer be sent to."""

    user_ids: dict[int, str]
    left: dict[int, str]

    def recipients(self, batch: DeliveryBatch) -> list[str]:
        """The batch's LINE user ids, in its frozen order."""
        return [self.user_ids[f] for f in batch.friend_ids or () if f in self.user_ids]


def look_up(session: Session, batches: Sequence[DeliveryBatch]) -> AudienceFriends:
    """One query for every friend of the claimed audience batches (and one for consents)."""
    friend_ids = {f for b in batches for f in b.friend_ids or ()}
    if not friend_ids:
        return AudienceFriends(user_ids={}, left={})
    user_ids: dict[int, str] = {}
    left: dict[int, str] = {}
    for friend_id, user_id, status in session.execute(
        select(Friend.id, Friend.line_user_id, Friend.status).where(
            any_of(session, Friend.id, friend_ids)
        )
    ):
        user_ids[friend_id] = user_id
        if status != FriendStatus.FOLLOWED:
            left[friend_id] = guardrails.BLOCKED_REASON
    for friend_id in friend_ids.difference(user_ids):
        left[friend_id] = UNKNOWN_REASON
    if any(b.state == BatchState.QUEUED for b in batches):
        reachable = [f for f in friend_ids if f not in left]
        for friend_id in guardrails.opted_out(session, reachable):
            left[friend_id] = guardrails.OPTED_OUT_REASON
    return AudienceFriends(user_ids=user_ids, left=left)


def recheck(
    session: Session,
    batches: Sequence[DeliveryBatch],
    friends: AudienceFriends,
    *,
    now: datetime,
) -> list[DeliveryBatch]:
    """Apply the guardrails to never-tried batches; return those to send now."""
    sends = {
        send.id: send
        for send in session.scalars(
            select(AudienceSend).where(AudienceSend.id.in_({b.audience_send_id for b in batches}))
        )
    }
    timezones = dict(
        session.execute(
            select(Channel.id, Channel.timezone).where(
                Channel.id.in_({s.channel_id for s in sends.values()})
            )
        ).all()
    )
    books: dict[int, guardrails.PolicyBook] = {}
    ready = []
    for batch in batches:
        send = sends[batch.audience_send_id]
        if send.respect_quiet_hours:
            book = books.get(send.shop_id) or books.setdefault(
                send.shop_id, guardrails.PolicyBook(session, send.shop_id)
            )
            timezone = timezones[send.channel_id]
            resume_at = guardrails.quiet_hours_end(now, book.for_source(send.source), timezone)
            if resume_at is not None:
                batch.next_attempt_at, batch.updated_at = resume_at, now
                batch.last_error = guardrails.quiet_reason(resume_at, timezone)
                continue
        if _drop_left(batch, friends, now):
            ready.append(batch)
    return ready


def _drop_left(batch: DeliveryBatch, friends: AudienceFriends, now: datetime) -> bool:
    """Take out who left since the freeze; False when nobody is left to send to."""
    members = list(batch.friend_ids or ())
    gone = Counter(friends.left[f] for f in members if f in friends.left)
    if not gone:
        return True
    kept = [f for f in members if f not in friends.left]
    batch.friend_ids, batch.recipients, batch.dropped = kept, len(kept), dict(gone)
    batch.updated_at = now
    if not kept:
        batch.state, batch.last_error = BatchState.CANCELLED, NOBODY_LEFT
        return False
    return True
