"""A 1:1 text from staff to one friend, sent through the outbox like every other message.

The dispatcher answers with the friend's reply token when one is fresh and unused (free of the
month's quota), else pushes (counted). A double click or a resent form plans nothing twice:
the delivery's idempotency key holds the form's own key. A friend who blocked the channel (or
was erased) is refused before anything is planned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.errors import Conflict
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus
from messaging.outbox import service
from messaging.outbox.models import Delivery, ReplyToken

TEXT_MAX = 5000


class FriendNotReachable(Conflict):
    """The friend blocked the channel (or was erased): LINE would not deliver the message."""


class DirectMessageIn(BaseModel):
    """A text for one friend, with a key the form (or script) makes once per message."""

    text: str = Field(min_length=1, max_length=TEXT_MAX)
    key: str = Field(
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Unique per message: sending again with the same key sends nothing twice.",
    )


class DirectMessageOut(BaseModel):
    delivery_id: int
    state: str
    duplicate: bool = Field(description="The key was used before: this is that message.")
    free: bool = Field(description="A fresh reply token will answer it (no quota counted).")


def reply_is_free(
    session: Session, friend: Friend, *, lifetime: timedelta, now: datetime | None = None
) -> bool:
    """Whether the friend has an unused reply token young enough for the dispatcher to use."""
    if lifetime <= timedelta(0):
        return False
    moment = now or utcnow()
    return bool(
        session.scalar(
            select(
                exists().where(
                    ReplyToken.friend_id == friend.id,
                    ReplyToken.used_at.is_(None),
                    ReplyToken.issued_at > moment - lifetime,
                )
            )
        )
    )


def send_text(
    session: Session,
    *,
    friend: Friend,
    message: DirectMessageIn,
    actor: str,
    lifetime: timedelta,
    ip: str | None = None,
) -> DirectMessageOut:
    """Plan ``message.text`` for the friend now (quiet hours do not apply: staff answer live)."""
    if friend.status != FriendStatus.FOLLOWED:
        raise FriendNotReachable(
            "this friend blocked the channel: LINE would not deliver a message to them"
        )
    key = f"direct:{friend.shop_id}:{friend.id}:{message.key}"
    free = reply_is_free(session, friend, lifetime=lifetime)
    result = service.plan(
        session,
        channel=session.get_one(Channel, friend.channel_id),
        recipients=[friend.id],
        messages=[{"type": "text", "text": message.text}],
        idempotency_key_for=lambda _friend_id: key,
        due_at=utcnow(),
        source=actor[:100],
        respect_quiet_hours=False,
    )
    delivery = session.scalars(select(Delivery).where(Delivery.idempotency_key == key)).one()
    if result.created:
        audit.record(
            session,
            shop_id=friend.shop_id,
            actor=actor,
            action="friend.message_sent",
            subject_type="friend",
            subject_id=friend.id,
            delivery_id=delivery.id,
            free=free,
            ip=ip,
        )
    return DirectMessageOut(
        delivery_id=delivery.id, state=delivery.state, duplicate=not result.created, free=free
    )
