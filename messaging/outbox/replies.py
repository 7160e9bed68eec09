"""Reply tokens: kept from a friend's webhook events so the dispatcher can answer for free.

LINE gives a reply token with a friend's message, postback, follow (and other) events; a reply
with it costs no quota but works once and only for a short time. ``on_line_event`` keeps the
token of every processed event; ``fresh_tokens`` finds, for friends about to be sent a single
message, the newest token still young enough to use.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import from_millis
from core.db import insert
from core.inbox import InboundEvent
from idlink.models import Friend
from messaging.outbox.models import ReplyToken
from messaging.outbox.sql import any_of


def on_line_event(session: Session, event: InboundEvent) -> bool:
    """Keep the event's reply token (an event in standby mode has none); True when kept."""
    payload = event.payload
    token = payload.get("replyToken")
    user_id = (payload.get("source") or {}).get("userId")
    if not token or not user_id or event.channel_id is None or "timestamp" not in payload:
        return False
    friend_id = session.scalar(
        select(Friend.id).where(
            Friend.channel_id == event.channel_id, Friend.line_user_id == user_id
        )
    )
    if friend_id is None:
        return False
    statement = insert(session, ReplyToken).values(
        token=str(token)[:64],
        channel_id=event.channel_id,
        friend_id=friend_id,
        issued_at=from_millis(payload["timestamp"]),
    )
    session.execute(statement.on_conflict_do_nothing())
    return True


def fresh_tokens(
    session: Session, *, friend_ids: Collection[int], now: datetime, lifetime: timedelta
) -> dict[int, ReplyToken]:
    """friend id → their newest unused token issued within ``lifetime``, locked for the claim.

    Nothing is returned for a friend whose token another worker's claim holds (skipped, not
    waited for): that friend simply gets a push.
    """
    if not friend_ids:
        return {}
    newest = (
        select(ReplyToken.friend_id, func.max(ReplyToken.issued_at).label("issued_at"))
        .where(
            any_of(session, ReplyToken.friend_id, friend_ids),
            ReplyToken.used_at.is_(None),
            ReplyToken.issued_at > now - lifetime,
        )
        .group_by(ReplyToken.friend_id)
        .subquery()
    )
    rows = session.scalars(
        select(ReplyToken)
        .join(
            newest,
            (newest.c.friend_id == ReplyToken.friend_id)
            & (newest.c.issued_at == ReplyToken.issued_at),
        )
        .where(ReplyToken.used_at.is_(None))
        .with_for_update(of=ReplyToken, skip_locked=True)
    )
    return {token.friend_id: token for token in rows}
