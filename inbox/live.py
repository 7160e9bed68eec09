"""Live updates: each change to a conversation writes an ``InboxSignal`` in its transaction, so
a signal exists exactly when the change was committed, and wakes the hub processes' readers
when it commits (``core.wakeup``: ``NOTIFY`` on PostgreSQL). They read the signals after the
last one they saw and push them to their open consoles."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import wakeup
from core.clock import utcnow
from core.db import rows_matched
from inbox.models import Conversation, InboxSignal

KEEP = timedelta(hours=1)
# The channel a committed signal wakes its readers on.
CHANNEL = "inbox_signals"
# A reader looks this far back behind the newest id it saw: ids are taken when rows are
# inserted but seen when committed, so a slow transaction's lower id can appear late.
LOOK_BACK = 200


class Signal(BaseModel):
    id: int
    shop_id: int
    channel_id: int
    conversation_id: int
    kind: str


def signal(session: Session, conversation: Conversation, kind: str) -> None:
    """Record that ``conversation`` changed (a message, status, assignee, mark, reply, note)."""
    session.add(
        InboxSignal(
            shop_id=conversation.shop_id,
            channel_id=conversation.channel_id,
            conversation_id=conversation.id,
            kind=kind,
            at=utcnow(),
        )
    )
    wakeup.notify(session, CHANNEL)


def newest_id(session: Session) -> int:
    """Where a new reader starts: only what happens from now on."""
    return session.scalar(select(InboxSignal.id).order_by(InboxSignal.id.desc()).limit(1)) or 0


def signals_after(session: Session, after: int, *, limit: int = 500) -> list[Signal]:
    """The signals from a little before ``after`` on, oldest first (the caller drops those it
    has seen)."""
    rows = session.scalars(
        select(InboxSignal)
        .where(InboxSignal.id > after - LOOK_BACK)
        .order_by(InboxSignal.id)
        .limit(limit)
    )
    return [
        Signal(
            id=r.id,
            shop_id=r.shop_id,
            channel_id=r.channel_id,
            conversation_id=r.conversation_id,
            kind=r.kind,
        )
        for r in rows
    ]


def forget_old(session: Session, *, now: datetime | None = None) -> int:
    """Delete the signals older than an hour; how many."""
    cutoff = (now or utcnow()) - KEEP
    return rows_matched(session.execute(delete(InboxSignal).where(InboxSignal.at < cutoff)))
